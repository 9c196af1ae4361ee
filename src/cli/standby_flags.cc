#include "cli/standby_flags.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/args.h"
#include "cli/monitor_spec.h"
#include "net/backend_spec.h"

namespace tandem::cli {

namespace {
Status parse_one(const std::string& f, const std::string& v, const char* command, StandbyFlags& o) {
  if (f == "--listen") {
    auto hp = replication::parse_host_port(v);
    if (!hp.ok()) return hp.error().context("option --listen");
    o.listen = *hp;
  } else if (f == "--net") {
    auto spec = net::parse_backend_spec(v);
    if (!spec.ok()) return spec.error().context("option --net");
    o.nets.push_back(v);
  } else if (f == "--drive-dir") {
    if (::access(v.c_str(), W_OK) != 0) return sys_error("option --drive-dir '" + v + "'");
    o.drive_dir = v;
  } else if (f == "--heartbeat") {
    char* end = nullptr;
    unsigned long ms = std::strtoul(v.c_str(), &end, 10);
    if (v.empty() || *end || ms < 10 || ms > 60000) return Error("option --heartbeat: expected 10 to 60000 ms");
    o.heartbeat_ms = static_cast<unsigned>(ms);
  } else if (f == "--arbiter") {
    auto a = replication::parse_arbiter_spec(v);
    if (!a.ok()) return a.error().context("option --arbiter");
    o.arbiter = *a;
  } else if (f == "--status") {
    auto hp = replication::parse_host_port(v);
    if (!hp.ok()) return hp.error().context("option --status");
    o.status_at = v;
  } else if (f == "--monitor" || f == "--qmp") {
    TANDEM_TRY(check_monitor_spec(v));
    o.monitor = v;
  } else {
    return Error("unknown option '" + f + "' for 'tandem " + command + "' (see 'tandem " + command + " --help')");
  }
  return Ok();
}
}  // namespace

std::optional<int> parse_standby_flags(int argc, char** argv, int first, const char* command, const char* usage,
                        StandbyFlags& out) {
  Args args(argc, argv, first);
  while (!args.done()) {
    std::string f = args.next_flag();
    if (f == "--help" || f == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    auto v = args.value(f);
    Status st = v.ok() ? parse_one(f, *v, command, out) : Status(v.error());
    if (!st.ok()) {
      std::fprintf(stderr, "tandem: %s\n", st.error().message().c_str());
      return 2;
    }
  }
  if (!out.listen) {
    std::fprintf(stderr, "tandem: %s needs --listen HOST:PORT (see 'tandem %s --help')\n", command, command);
    return 2;
  }
  return std::nullopt;
}

}  // namespace tandem::cli
