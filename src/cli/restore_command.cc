#include "cli/restore_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/monitor.h"
#include "cli/run_command.h"
#include "cli/shutdown_signals.h"
#include "state/restore.h"

namespace tandem::cli {

namespace {

const char kUsage[] =
    "usage: tandem restore FILE [options]\n"
    "  --mode eager|lazy|working-set   how memory is loaded (default working-set):\n"
    "        eager: all of it, then run; lazy: run at once, load pages on first touch;\n"
    "        working-set: load the pages the guest was using first, run, stream the rest\n"
    "  --record-working-set[=MS]  trace what the guest touches in its first MS ms (default 100)\n"
    "        and rewrite FILE with that working set first, for the restores after this one\n"
    "  --drive-in-place        run on the snapshot's drive copies (FILE.driveN) themselves:\n"
    "        the guest's writes change the snapshot, which then cannot be restored again.\n"
    "        By default the restored VM writes a private copy (a reflink where the\n"
    "        filesystem can, else a copy-on-write overlay, with no name, in the copy's\n"
    "        directory) that goes when tandem exits, and FILE restores the same every time\n"
    "  --stats                 print restore timings, instructions and MIPS to stderr\n"
    "  --guest-profile FILE    write where the guest spent its instructions to FILE at exit\n"
    "  --guest-symbols FILE    kernel symbols for it (default: System.map beside the kernel)\n"
    "  --monitor unix:PATH[,server][,nowait]   QMP monitor socket (--qmp: the same)\n";

// A restored guest answers its first request within milliseconds; 100 ms
// takes in that request and the ones right after it. (A longer window
// lists more, but in order of first touch, so what comes first stays
// first: in 200 ms an HTTP guest touched 710 pages against 370.)
constexpr long kDefaultRecordMs = 100;
constexpr long kMaxRecordMs = 600'000;

}  // namespace

int restore_command(int argc, char** argv, int first) {
  std::string file, monitor, profile, symbols;
  state::RestoreMode mode = state::RestoreMode::kWorkingSet;
  bool stats = false;
  bool drive_in_place = false;
  double record_ms = 0;
  Args args(argc, argv, first);
  auto usage_error = [](const std::string& msg) {
    std::fprintf(stderr, "tandem: %s\n%s", msg.c_str(), kUsage);
    return 2;
  };
  while (!args.done()) {
    std::string f = args.next_flag();
    if (f == "--help" || f == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (f == "--mode") {
      auto v = args.value(f);
      if (!v.ok()) return usage_error(v.error().message());
      auto m = state::parse_restore_mode(*v);
      if (!m.ok()) return usage_error(m.error().message());
      mode = *m;
    } else if (f == "--monitor" || f == "--qmp") {
      auto v = args.value(f);
      if (!v.ok()) return usage_error(v.error().message());
      if (auto st = check_monitor_spec(*v); !st.ok()) return usage_error(st.error().message());
      monitor = *v;
    } else if (f == "--record-working-set") {
      record_ms = kDefaultRecordMs;
      if (args.has_inline_value()) {
        std::string v = *args.value(f);
        char* end = nullptr;
        long ms = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || ms < 1 || ms > kMaxRecordMs)
          return usage_error("--record-working-set=MS needs a whole number of milliseconds from 1 to " +
                             std::to_string(kMaxRecordMs) + ", not '" + v + "'");
        record_ms = static_cast<double>(ms);
      }
    } else if (f == "--stats") {
      stats = true;
    } else if (f == "--guest-profile" || f == "--guest-symbols") {
      auto v = args.value(f);
      if (!v.ok()) return usage_error(v.error().message());
      (f == "--guest-profile" ? profile : symbols) = *v;
    } else if (f == "--drive-in-place") {
      drive_in_place = true;
    } else if (!args.is_flag(f) && file.empty()) {
      file = f;
    } else {
      return usage_error("unexpected argument '" + f + "' for 'tandem restore'");
    }
  }
  if (file.empty()) return usage_error("restore needs a snapshot FILE");
  // Before the restore's threads start, so that they inherit the mask.
  auto signals = ShutdownSignals::install();
  if (!signals.ok()) {
    std::fprintf(stderr, "tandem: %s\n", signals.error().message().c_str());
    return 1;
  }

  // On a terminal, an eager load that takes a while shows how far it is
  // (the guest has not started, so the line is erased before its output).
  bool tty = isatty(STDERR_FILENO);
  auto t0 = std::chrono::steady_clock::now();
  double shown_ms = -1;
  auto progress = [&](uint64_t done, uint64_t total) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms < 300 || (ms - shown_ms < 100 && done < total)) return;
    shown_ms = ms;
    std::fprintf(stderr, "\rtandem: restoring '%s': %3.0f%% of memory checked and loaded", file.c_str(),
                 100.0 * static_cast<double>(done) / static_cast<double>(total));
  };
  auto r = state::Restore::open(
      file, mode,
      [&](board::MachineConfig& c) {
        c.stats = stats;
        c.monitor = monitor;
        c.guest_profile = profile;
        c.guest_symbols = symbols;
        if (drive_in_place) set_drive_snapshot(c, false);
      },
      tty ? state::SnapshotReader::Progress(progress) : state::SnapshotReader::Progress());
  if (shown_ms >= 0) std::fprintf(stderr, "\r\033[K");
  if (!r.ok()) {
    std::fprintf(stderr, "tandem: %s\n", r.error().message().c_str());
    return 1;
  }
  board::Machine& m = (*r)->machine();
  std::unique_ptr<Monitor> mon;
  if (!monitor.empty()) {
    auto created = Monitor::create(monitor, m);
    if (!created.ok()) {
      std::fprintf(stderr, "tandem: %s\n", created.error().message().c_str());
      return 1;
    }
    mon = std::move(created).value();
    mon->set_restore(r->get());
  }
  (*signals)->attach(m, [&mon] {
    if (mon) mon->set_shutdown_reason("host-signal");
  });
  if (record_ms > 0) (*r)->record_working_set(record_ms);
  if (Status started = (*r)->start(); !started.ok()) {
    std::fprintf(stderr, "tandem: restore '%s': %s\n", file.c_str(), started.error().message().c_str());
    return 1;
  }
  Result<int> status = mon ? mon->run() : m.run();
  // A guest that ended inside the window leaves a shorter recording; the
  // file is rewritten before the process goes.
  Status recorded = (*r)->finish_recording();
  std::string load_error = (*r)->load_error();
  if (!load_error.empty()) {
    std::fprintf(stderr, "tandem: restore: %s\n", load_error.c_str());
    return 1;
  }
  if (stats) {
    auto rep = (*r)->report();
    std::fprintf(stderr,
                 "tandem-restore: {\"mode\": \"%s\", \"first_instruction_ms\": %.3f, \"working_set_ms\": %.3f, "
                 "\"resident_ms\": %.3f, \"active_pages\": %llu, \"pages_prefetched\": %llu, "
                 "\"pages_on_demand\": %llu, \"pages_streamed\": %llu, \"blocks_offered\": %llu, "
                 "\"blocks_adopted\": %llu, \"record\": \"%s\", \"recorded_pages\": %llu, "
                 "\"recorded_code_blocks\": %llu}\n",
                 state::restore_mode_name(mode), rep.first_instruction_ms, rep.working_set_ms, rep.resident_ms,
                 static_cast<unsigned long long>(rep.active_pages),
                 static_cast<unsigned long long>(rep.pages_prefetched),
                 static_cast<unsigned long long>(rep.pages_on_demand),
                 static_cast<unsigned long long>(rep.pages_streamed),
                 static_cast<unsigned long long>(rep.blocks_offered),
                 static_cast<unsigned long long>(m.blocks_adopted()), rep.record_status.c_str(),
                 static_cast<unsigned long long>(rep.recorded_pages),
                 static_cast<unsigned long long>(rep.recorded_code_blocks));
  }
  if (!status.ok()) {
    std::fprintf(stderr, "tandem: %s\n", status.error().message().c_str());
    return 1;
  }
  if (!recorded.ok()) {
    std::fprintf(stderr, "tandem: restore: recording the working set failed: %s\n",
                 recorded.error().message().c_str());
    return 1;
  }
  return *status;
}

}  // namespace tandem::cli
