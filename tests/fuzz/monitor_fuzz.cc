// Harness: the QMP monitor's request handling (cli/monitor.h): the JSON
// text splitter (cli/json_stream.h), the parser, QMP's checks and the
// command dispatch, through Monitor::answer_next, against a bare machine
// (no firmware, a tiny kernel ELF) that never runs. Each input is a new
// client that has negotiated capabilities; every request gets exactly one
// reply, a JSON object.
//
// suspend and snapshot-save would write wherever the input says: the
// harness splits the input into requests as the monitor does and points
// their "file" into a directory that does not exist, so they run up to
// the failed open and answer with an error.
#include <elf.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "../unit/elf_writer.h"
#include "board/machine.h"
#include "cli/json_stream.h"
#include "cli/monitor.h"
#include "fuzz_util.h"

namespace {

using namespace tandem;
using nlohmann::json;

// The machine and monitor, built once in a private directory that is
// removed as soon as they stand (the kernel is loaded, the socket listens):
// libFuzzer may end the process without running destructors.
struct Fixture {
  std::unique_ptr<board::Machine> machine;
  std::unique_ptr<cli::Monitor> monitor;
  Fixture() {
    std::string dir = std::filesystem::temp_directory_path().string() + "/tandem-fuzz-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) abort();
    constexpr uint64_t kBase = 0x80000000;
    const std::vector<uint8_t> loop = {0x6f, 0x00, 0x00, 0x00};  // j .
    std::string kernel = dir + "/loop.elf";
    test::write_elf_file(kernel, EM_RISCV, kBase, kBase, loop, loop.size());
    board::MachineConfig c;
    c.ram_size = 1 << 20;
    c.bios = "none";
    c.kernel = kernel;
    c.rng = false;
    c.icount = true;
    machine = std::move(board::Machine::create(c)).value();
    monitor = std::move(cli::Monitor::create("unix:" + dir + "/monitor.sock", *machine)).value();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Points a save's file where nothing can be written.
std::string sandboxed(const std::string& text) {
  json req = json::parse(text, nullptr, false);
  if (!req.is_object() || !req.contains("execute") || !req["execute"].is_string()) return text;
  std::string cmd = req["execute"];
  if (cmd != "suspend" && cmd != "snapshot-save") return text;
  if (req.contains("arguments") && req["arguments"].is_object() && req["arguments"].contains("file"))
    req["arguments"]["file"] = "/nonexistent-tandem-fuzz/x.snap";
  return req.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::string> answers(cli::Monitor& m, cli::QmpSession& session, const std::string& bytes) {
  session.in.feed(bytes);
  std::vector<std::string> replies;
  while (auto r = m.answer_next(session)) replies.push_back(*r);
  return replies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  cli::QmpSession session;
  std::vector<std::string> hello = answers(*f.monitor, session, "{\"execute\": \"qmp_capabilities\"}\n");
  TANDEM_FUZZ_CHECK(hello.size() == 1 && hello[0] == "{\"return\":{}}\n");
  // The requests, split as the monitor splits them; an unfinished one at
  // the end would never be answered and is left out.
  cli::JsonStream split;
  split.feed({reinterpret_cast<const char*>(data), size});
  std::string in;
  size_t requests = 0;
  while (auto text = split.next()) {
    in += sandboxed(*text) + "\n";
    requests++;
  }
  std::vector<std::string> replies = answers(*f.monitor, session, in);
  TANDEM_FUZZ_CHECK(replies.size() == requests);
  for (const std::string& r : replies) {
    json j = json::parse(r, nullptr, false);
    TANDEM_FUZZ_CHECK(j.is_object() && (j.contains("return") || j.contains("error")));
  }
  // quit and stop leave marks on the machine; the next input starts afresh.
  f.machine->resume();
  return 0;
}
