// The QMP side of tandem's monitors (cli/monitor.h, cli/standby_monitor.h):
// greeting, capability negotiation, request checks, events, as QEMU's QMP
// does them (checked against QEMU 7.2 by tests/system, test qmp_shapes).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/json_stream.h"

namespace tandem::cli {

// A command and the argument names it takes; any other is refused.
struct QmpCommand {
  std::string name;
  std::vector<std::string> args;
};

// One client: its unparsed input, and whether it sent qmp_capabilities
// (until then only that command is served, and no events are sent).
struct QmpSession {
  JsonStream in;
  bool negotiated = false;
};

// {"QMP": {"version": {"qemu": {...}, "package": "tandem ..."}, "capabilities": []}}
nlohmann::json qmp_greeting();
// query-version's answer: tandem's version in QEMU's shape.
nlohmann::json qmp_version();
nlohmann::json qmp_error(const std::string& cls, const std::string& desc);
// {"event": NAME, "data": DATA, "timestamp": {"seconds": S, "microseconds": US}}
// (wall-clock time, as QEMU); no "data" when `data` is null.
nlohmann::json qmp_event(const std::string& name, const nlohmann::json& data = nullptr);
// query-commands' answer for `table` (qmp_capabilities and query-commands
// included by the caller).
nlohmann::json qmp_command_list(const std::vector<QmpCommand>& table);
// One message as the line sent to a client. A malformed request is echoed
// (its first 80 bytes), which need not be valid UTF-8: invalid bytes become
// U+FFFD rather than let dump() throw, which ended tandem and its guest.
std::string qmp_line(const nlohmann::json& msg);
// "0x" and 16 hex digits: a hash in a reply (JSON numbers lose bits past
// 2^53 in many clients).
std::string hex64(uint64_t v);

// Serves one JSON text from a client: refuses malformed input, anything
// before negotiation, unknown commands and unexpected arguments as QEMU
// does, handles qmp_capabilities itself and calls `handle` for the rest;
// returns the reply, with the request's "id" echoed.
using QmpHandler = std::function<nlohmann::json(const std::string& command, const nlohmann::json& args)>;
nlohmann::json qmp_serve(const std::string& text, QmpSession& session, const std::vector<QmpCommand>& table,
                         const QmpHandler& handle);

}  // namespace tandem::cli
