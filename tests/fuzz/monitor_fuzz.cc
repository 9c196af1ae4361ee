// Harness: the JSON monitor's request handling (cli/monitor.h): the line
// splitter, the JSON parser and the command dispatch, through
// Monitor::answer_lines, against a bare machine (no firmware, a tiny
// kernel ELF) that never runs. Every reply must be one JSON object.
//
// suspend and snapshot-save would write wherever the input says: the
// harness points their "file" into a directory that does not exist, so
// they run up to the failed open and answer with an error.
#include <elf.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "../unit/elf_writer.h"
#include "board/machine.h"
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
std::string sandboxed(const std::string& line) {
  json req = json::parse(line, nullptr, false);
  if (!req.is_object() || !req.contains("execute") || !req["execute"].is_string()) return line;
  std::string cmd = req["execute"];
  if (cmd != "suspend" && cmd != "snapshot-save") return line;
  if (req.contains("arguments") && req["arguments"].is_object() && req["arguments"].contains("file"))
    req["arguments"]["file"] = "/nonexistent-tandem-fuzz/x.snap";
  return req.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  std::string in;
  std::string input(reinterpret_cast<const char*>(data), size);
  size_t lines = 0;
  for (size_t start = 0; start < input.size();) {
    size_t nl = input.find('\n', start);
    std::string line = input.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    in += sandboxed(line);
    if (nl == std::string::npos) break;  // a partial line stays buffered
    in += '\n';
    lines++;
    start = nl + 1;
  }
  std::vector<std::string> replies = f.monitor->answer_lines(in);
  TANDEM_FUZZ_CHECK(replies.size() <= lines);
  TANDEM_FUZZ_CHECK(in.find('\n') == std::string::npos);
  for (const std::string& r : replies) {
    json j = json::parse(r, nullptr, false);
    TANDEM_FUZZ_CHECK(j.is_object() && (j.contains("return") || j.contains("error")));
  }
  // quit and stop leave marks on the machine; the next input starts afresh.
  f.machine->resume();
  return 0;
}
