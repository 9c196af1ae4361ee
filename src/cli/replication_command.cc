#include "cli/replication_command.h"

#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/monitor_client.h"

namespace tandem::cli {

namespace {
const char kUsage[] =
    "usage: tandem replication status --monitor [unix:]PATH [--json]\n"
    "  Shows the replication of the tandem process at PATH: a primary (run\n"
    "  --replicate) or a backup (tandem backup --monitor).\n";

using nlohmann::json;

double num(const json& j, const char* a, const char* b = nullptr) {
  const json& v = b ? j.value(a, json::object()).value(b, json(0.0)) : j.value(a, json(0.0));
  return v.is_number() ? v.get<double>() : 0.0;
}

}  // namespace

void print_arbiter(const json& s, const char* label) {
  const json a = s.value("arbiter", json());
  if (!a.is_object()) return;
  std::printf("%s%s, pair '%s' at %s as %s", label, a.value("state", "?").c_str(), a.value("pair", "").c_str(),
              a.value("url", "").c_str(), a.value("id", "").c_str());
  if (!a.value("holder", "").empty()) std::printf(" (taken by %s)", a.value("holder", "").c_str());
  std::printf("; lease TTL %.0f s, valid %.0f ms more; %.0f renewals, %.0f failed%s\n", num(a, "ttl_s"),
              num(a, "valid_ms"), num(a, "renewals"), num(a, "failures"),
              a.value("last_error", "").empty() ? "" : (" (last: " + a.value("last_error", "") + ")").c_str());
}

namespace {

void print_status(const json& s) {
  std::printf("role:         %s\n", s.value("role", "?").c_str());
  std::printf("state:        %s%s\n", s.value("state", "?").c_str(),
              s.value("reason", "").empty() ? "" : (" (" + s.value("reason", "") + ")").c_str());
  if (!s.value("peer", "").empty()) std::printf("peer:         %s\n", s.value("peer", "").c_str());
  print_arbiter(s, "arbiter:      ");
  if (s.value("role", "") == "none") return;
  std::printf("epoch:        %.0f (every %.0f ms)\n", num(s, "epoch"), num(s, "epoch_ms"));
  std::printf("checkpoints:  %.0f taken (%.0f early: output waiting), %.0f committed, %.1f/s; backup lag %.0f\n",
              num(s, "checkpoints"), num(s, "early_checkpoints"), num(s, "committed"), num(s, "checkpoints_per_s"),
              num(s, "backup_lag"));
  std::printf("stun:         p50 %.3f ms, p99 %.3f ms\n", num(s, "stun_ms", "p50"), num(s, "stun_ms", "p99"));
  std::printf("send:         p50 %.3f ms, p99 %.3f ms\n", num(s, "send_ms", "p50"), num(s, "send_ms", "p99"));
  std::printf("output delay: p50 %.3f ms, p99 %.3f ms (stun to ack)\n", num(s, "ack_ms", "p50"),
              num(s, "ack_ms", "p99"));
  std::printf("dirty pages:  p50 %.0f, p99 %.0f per checkpoint; %.0f bytes sent per checkpoint (p50)\n",
              num(s, "dirty_pages", "p50"), num(s, "dirty_pages", "p99"), num(s, "bytes_per_checkpoint_p50"));
  if (s.value("history", json::object()).value("on", false))
    std::printf("history:      p50 %.0f, p99 %.0f pages per checkpoint protected instead of copied; %.0f copied "
                "by guest writes\n",
                s["history"]["deferred_pages"].value("p50", 0.0), s["history"]["deferred_pages"].value("p99", 0.0),
                s["history"].value("cow_faults", 0.0));
  if (s.value("diff", json::object()).value("on", false)) {
    const json& d = s["diff"];
    if (s.value("role", "") == "primary")
      std::printf("diffs:        %.0f candidates, %.0f pages sent as diffs (%.0f bytes before compression), %.0f "
                  "whole for a large diff; %.0f refused by the backup\n"
                  "              copies kept: %.0f pages, %.1f of %.0f MiB, %.0f dropped for the budget\n",
                  d.value("candidates", 0.0), d.value("diff_pages", 0.0), d.value("diff_bytes", 0.0),
                  d.value("whole", 0.0), d.value("refused", 0.0), d.value("kept_pages", 0.0),
                  d.value("kept_mib", 0.0), d.value("budget_mib", 0.0), d.value("evicted", 0.0));
    else
      std::printf("diffs:        %.0f candidates, %.0f pages received as diffs, %.0f refused (base mismatch), %.0f "
                  "checkpoints held for them\n",
                  d.value("candidates", 0.0), d.value("diff_pages", 0.0), d.value("refused", 0.0),
                  d.value("held", 0.0));
  }
  if (s.value("role", "") == "primary")
    std::printf(
        "memory sent:  %.0f bytes per checkpoint (p50); sender CPU %.3f ms per checkpoint (p50), %.2f s in all\n",
        num(s, "page_bytes_per_checkpoint_p50"), num(s, "sender_cpu_ms", "p50"), num(s, "sender_cpu_ms", "total_s"));
  std::printf("output held:  %.0f bytes\n", num(s, "output_held_bytes"));
  std::printf("last heard:   %.0f ms ago\n", num(s, "last_heartbeat_ms_ago"));
  if (s.value("role", "") == "primary")
    std::printf("initial sync: %.0f pages while the guest ran, %.0f rounds, then a %.3f ms stun\n",
                num(s, "sync", "pages"), num(s, "sync", "rounds"), num(s, "sync", "stun_ms"));
}
}  // namespace

int replication_command(int argc, char** argv, int first) {
  if (first >= argc || std::string(argv[first]) == "--help" || std::string(argv[first]) == "-h") {
    std::fputs(kUsage, first >= argc ? stderr : stdout);
    return first >= argc ? 2 : 0;
  }
  if (std::string(argv[first]) != "status") {
    std::fprintf(stderr, "tandem: unknown replication action '%s' (expected status)\n%s", argv[first], kUsage);
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
  Result<json> reply = st.ok() ? c.execute("query-replication") : Result<json>(st.error());
  if (!reply.ok()) {
    std::fprintf(stderr, "tandem: %s\n", reply.error().message().c_str());
    return 1;
  }
  if (as_json) std::printf("%s\n", reply->dump(2).c_str());
  else print_status(*reply);
  return 0;
}

}  // namespace tandem::cli
