#include "cli/ft_command.h"

#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/monitor_client.h"
#include "cli/replication_command.h"
#include "cli/replication_control.h"

namespace tandem::cli {

namespace {
const char kUsage[] =
    "usage: tandem ft status --monitor [unix:]PATH [--json]\n"
    "  Shows the quasi-lockstep fault tolerance of the tandem process at PATH:\n"
    "  a primary (run --ft) or a secondary (tandem secondary --monitor).\n";

using nlohmann::json;

void print_status(const json& s) {
  auto num = [&](const char* k) { return s.value(k, json(0.0)).get<double>(); };
  std::printf("role:          %s\n", s.value("role", "?").c_str());
  std::printf("state:         %s%s\n", s.value("state", "?").c_str(),
              s.value("reason", "").empty() ? "" : (" (" + s.value("reason", "") + ")").c_str());
  print_arbiter(s, "arbiter:       ");
  if (s.value("role", "") == "none") return;
  std::printf("peer:          %s\n", s.value("peer", "").c_str());
  std::printf("sync epoch:    %.0f\n", num("sync_epoch"));
  std::string causes;
  for (const auto& [cause, n] : s.value("resyncs", json::object()).items())
    causes += (causes.empty() ? "" : ", ") + std::to_string(n.get<uint64_t>()) + " " + cause;
  std::printf("resyncs:       %s\n", causes.empty() ? "none" : causes.c_str());
  if (num("last_resync_ago_s") >= 0 && num("last_resync_ms") > 0)
    std::printf("last resync:   %.0f pages, %.0f bytes, %.3f ms from stop to ack\n", num("last_resync_pages"),
                num("last_resync_bytes"), num("last_resync_ms"));
  if (!s.value("first_divergence", "").empty())
    std::printf("divergence:    %s\n", s.value("first_divergence", "").c_str());
  if (s.value("role", "") == "primary") {
    std::printf("output:        %.0f frames (%.0f bytes) matched, %.0f released by resyncs, %.0f frames (%.0f bytes) "
                "held now\n",
                num("matched_frames"), num("matched_bytes"), num("released_frames"), num("held_frames"),
                num("held_bytes"));
    std::printf("mirrored:      %.0f frames, %.0f entropy bytes; %.0f bytes sent to the secondary\n",
                num("input_frames"), num("entropy_bytes"), num("bytes_sent"));
  } else {
    std::printf("mirrored:      %.0f frames, %.0f entropy bytes received (%.0f asked for before they came)\n",
                num("input_frames"), num("entropy_bytes"), num("entropy_underruns"));
  }
}
}  // namespace

json to_json(const ft::FtStatus& s) {
  json j = {{"role", s.role},
          {"state", s.state},
          {"peer", s.peer},
          {"reason", s.reason},
          {"sync_epoch", s.sync_epoch},
          {"resyncs", s.resyncs},
          {"matched_frames", s.matched_frames},
          {"matched_bytes", s.matched_bytes},
          {"released_frames", s.released_frames},
          {"held_frames", s.held_frames},
          {"held_bytes", s.held_bytes},
          {"input_frames", s.input_frames},
          {"entropy_bytes", s.entropy_bytes},
          {"entropy_underruns", s.entropy_underruns},
          {"resent_frames", s.resent_frames},
          {"last_resync_bytes", s.last_resync_bytes},
          {"last_resync_pages", s.last_resync_pages},
          {"last_resync_ms", s.last_resync_ms},
          {"last_resync_ago_s", s.last_resync_ago_s},
          {"first_divergence", s.first_divergence},
          {"bytes_sent", s.bytes_sent},
          {"last_heartbeat_ms_ago", s.last_heartbeat_ms_ago}};
  if (s.arbiter) j["arbiter"] = to_json(*s.arbiter);
  return j;
}

int ft_command(int argc, char** argv, int first) {
  if (first >= argc || std::string(argv[first]) == "--help" || std::string(argv[first]) == "-h") {
    std::fputs(kUsage, first >= argc ? stderr : stdout);
    return first >= argc ? 2 : 0;
  }
  if (std::string(argv[first]) != "status") {
    std::fprintf(stderr, "tandem: unknown ft action '%s' (expected status)\n%s", argv[first], kUsage);
    return 2;
  }
  std::string monitor;
  bool as_json = false;
  Args args(argc, argv, first + 1);
  while (!args.done()) {
    std::string f = args.next_flag();
    if (f == "--help" || f == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (f == "--json") {
      as_json = true;
    } else if (f == "--monitor") {
      auto v = args.value(f);
      if (!v.ok()) {
        std::fprintf(stderr, "tandem: %s\n", v.error().message().c_str());
        return 2;
      }
      monitor = *v;
    } else {
      std::fprintf(stderr, "tandem: unexpected argument '%s'\n%s", f.c_str(), kUsage);
      return 2;
    }
  }
  if (monitor.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  LineClient c;
  Status st = c.connect(monitor);
  Result<json> reply = st.ok() ? c.execute("query-ft") : Result<json>(st.error());
  if (!reply.ok()) {
    std::fprintf(stderr, "tandem: %s\n", reply.error().message().c_str());
    return 1;
  }
  if (as_json) std::printf("%s\n", reply->dump(2).c_str());
  else print_status(*reply);
  return 0;
}

}  // namespace tandem::cli
