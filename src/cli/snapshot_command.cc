#include "cli/snapshot_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/monitor_client.h"
#include "cli/monitor.h"
#include "cli/snapshot_info.h"

namespace tandem::cli {

using nlohmann::json;

namespace {

const char kUsage[] =
    "usage: tandem snapshot suspend|save --monitor [unix:]PATH FILE\n"
    "       tandem snapshot info [--check] [--json] FILE\n"
    "  suspend: writes the running VM's state to FILE while the guest keeps\n"
    "           running, then stops it (that tandem process exits)\n"
    "  save:    writes the state of this instant to FILE (copy-on-write); the\n"
    "           VM goes on running; a writable drive's content of that instant\n"
    "           goes to FILE.driveN next to FILE; a restore writes a private\n"
    "           copy of it, so FILE restores the same every time\n"
    "           (restore --drive-in-place runs on FILE.driveN itself)\n"
    "  Resume either with 'tandem restore FILE'.\n"
    "  info:    what FILE holds (tandem snapshot info --help); --check also\n"
    "           verifies every checksum\n";

}  // namespace

int snapshot_command(int argc, char** argv, int first) {
  if (first >= argc || std::string(argv[first]) == "--help" || std::string(argv[first]) == "-h") {
    std::fputs(kUsage, first >= argc ? stderr : stdout);
    return first >= argc ? 2 : 0;
  }
  std::string verb = argv[first];
  if (verb == "info") return snapshot_info_command(argc, argv, first + 1);
  if (verb != "suspend" && verb != "save") {
    std::fprintf(stderr, "tandem: unknown snapshot action '%s' (expected suspend, save or info)\n%s", verb.c_str(),
                 kUsage);
    return 2;
  }
  const char* command = verb == "suspend" ? "suspend" : "snapshot-save";
  std::string monitor, file;
  Args args(argc, argv, first + 1);
  while (!args.done()) {
    std::string f = args.next_flag();
    if (f == "--monitor") {
      auto v = args.value(f);
      if (!v.ok()) {
        std::fprintf(stderr, "tandem: %s\n", v.error().message().c_str());
        return 2;
      }
      monitor = *v;
    } else if (!args.is_flag(f) && file.empty()) {
      file = f;
    } else {
      std::fprintf(stderr, "tandem: unexpected argument '%s'\n%s", f.c_str(), kUsage);
      return 2;
    }
  }
  if (monitor.empty() || file.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  LineClient c;
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "tandem: %s\n", e.message().c_str());
    return 1;
  };
  if (auto st = c.connect(monitor); !st.ok()) return fail(st.error());
  char abs[4096];
  std::string path = file[0] == '/' || !getcwd(abs, sizeof abs) ? file : std::string(abs) + "/" + file;
  if (auto st = c.send({{"execute", command}, {"arguments", {{"file", path}}}}); !st.ok()) return fail(st.error());
  bool tty = isatty(STDERR_FILENO);
  for (;;) {
    auto msg = c.next();
    if (!msg.ok()) return fail(msg.error());
    const json& m = *msg;
    if (m.contains("error")) return fail(Error(m["error"].value("desc", "suspend failed")));
    std::string ev = m.value("event", "");
    if (ev == "SNAPSHOT_PROGRESS" && tty) {
      const json& d = m["data"];
      double pct = 100.0 * d.value("pages_done", 0.0) / std::max(1.0, d.value("pages_total", 1.0));
      std::string disk;
      if (d.contains("disk_bytes_total"))
        disk = ", " + std::to_string(static_cast<int>(100.0 * d.value("disk_bytes_done", 0.0) /
                                                      std::max(1.0, d.value("disk_bytes_total", 1.0)))) +
               "% of disk copied";
      std::fprintf(stderr, "\r%s: round %d, %.0f%% of RAM written%s, %.0f ms", verb.c_str(), d.value("round", 0),
                   pct > 100 ? 100 : pct, disk.c_str(), d.value("elapsed_ms", 0.0));
    } else if (ev == "SNAPSHOT_COMPLETED") {
      if (tty) std::fprintf(stderr, "\n");
      std::printf("%s\n", m["data"]["report"].dump().c_str());
      return 0;
    } else if (ev == "SNAPSHOT_FAILED") {
      if (tty) std::fprintf(stderr, "\n");
      return fail(Error(m["data"].value("error", "suspend failed")));
    }
  }
}

}  // namespace tandem::cli
