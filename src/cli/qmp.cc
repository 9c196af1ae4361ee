#include "cli/qmp.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "cli/version.h"

namespace tandem::cli {

using nlohmann::json;

// tandem's version (cli/version.h) in QEMU's shape: "0.1" is major 0,
// minor 1, micro 0.
json qmp_version() {
  int major = 0, minor = 0, micro = 0;
  std::sscanf(kTandemVersion, "%d.%d.%d", &major, &minor, &micro);
  return {{"qemu", {{"major", major}, {"minor", minor}, {"micro", micro}}},
          {"package", std::string("tandem ") + kTandemVersion}};
}

json qmp_greeting() {
  // No out-of-band execution: capabilities is empty (QEMU offers "oob").
  return {{"QMP", {{"version", qmp_version()}, {"capabilities", json::array()}}}};
}

std::string qmp_line(const json& msg) {
  return msg.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

json qmp_error(const std::string& cls, const std::string& desc) {
  return {{"error", {{"class", cls}, {"desc", desc}}}};
}

json qmp_event(const std::string& name, const json& data) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  json e = {{"event", name}, {"timestamp", {{"seconds", ts.tv_sec}, {"microseconds", ts.tv_nsec / 1000}}}};
  if (!data.is_null()) e["data"] = data;
  return e;
}

json qmp_command_list(const std::vector<QmpCommand>& table) {
  json list = json::array();
  for (const auto& c : table) list.push_back({{"name", c.name}});
  return list;
}

namespace {

json serve_parsed(const json& req, QmpSession& session, const std::vector<QmpCommand>& table,
                  const QmpHandler& handle) {
  if (!req.is_object()) return qmp_error("GenericError", "QMP input must be a JSON object");
  for (const auto& [key, value] : req.items())
    if (key != "execute" && key != "arguments" && key != "id")
      return qmp_error("GenericError", "QMP input member '" + key + "' is unexpected");
  if (!req.contains("execute")) return qmp_error("GenericError", "QMP input lacks member 'execute'");
  if (!req["execute"].is_string()) return qmp_error("GenericError", "QMP input member 'execute' must be a string");
  json args = req.value("arguments", json::object());
  if (!args.is_object()) return qmp_error("GenericError", "QMP input member 'arguments' must be an object");
  const std::string cmd = req["execute"];

  if (cmd == "qmp_capabilities") {
    if (session.negotiated)
      return qmp_error("CommandNotFound", "Capabilities negotiation is already complete, command ignored");
    for (const auto& [key, value] : args.items())
      if (key != "enable") return qmp_error("GenericError", "Parameter '" + key + "' is unexpected");
    if (args.contains("enable")) {
      if (!args["enable"].is_array())
        return qmp_error("GenericError", "Invalid parameter type for 'enable', expected: array");
      for (const auto& cap : args["enable"])
        return qmp_error("GenericError", "Capability '" + (cap.is_string() ? cap.get<std::string>() : cap.dump()) +
                                             "' not available");
    }
    session.negotiated = true;
    return {{"return", json::object()}};
  }
  if (!session.negotiated)
    return qmp_error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
  auto it = std::find_if(table.begin(), table.end(), [&](const QmpCommand& c) { return c.name == cmd; });
  if (it == table.end()) return qmp_error("CommandNotFound", "The command " + cmd + " has not been found");
  for (const auto& [key, value] : args.items())
    if (std::find(it->args.begin(), it->args.end(), key) == it->args.end())
      return qmp_error("GenericError", "Parameter '" + key + "' is unexpected");
  return handle(cmd, args);
}

}  // namespace

json qmp_serve(const std::string& text, QmpSession& session, const std::vector<QmpCommand>& table,
               const QmpHandler& handle) {
  json req = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded()) return qmp_error("GenericError", "JSON parse error: " + text.substr(0, 80));
  json reply = serve_parsed(req, session, table, handle);
  if (req.is_object() && req.contains("id")) reply["id"] = req["id"];
  return reply;
}

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace tandem::cli
