#include "cli/secondary_command.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/ft_control.h"
#include "cli/ft_metrics.h"
#include "cli/status_publisher.h"
#include "cli/status_server.h"
#include "cli/monitor.h"
#include "cli/monitor_spec.h"
#include "cli/replication_control.h"
#include "cli/run_command.h"
#include "cli/standby_flags.h"
#include "ft/lockstep_secondary.h"
#include "net/backend_spec.h"

namespace tandem::cli {

namespace {
const char kUsage[] =
    "usage: tandem secondary --listen HOST:PORT [options]\n"
    "The secondary of a quasi-lockstep pair: waits for a primary (tandem run\n"
    "--ft peer=HOST:PORT), takes its state, then runs the same VM on the\n"
    "frames and random bytes the primary's guest gets. Its guest's output goes\n"
    "to the primary to be compared, never to the world, until the primary is\n"
    "lost (connection closed, or nothing from it for 3 --heartbeat intervals):\n"
    "then it goes live. A primary that ends the pair on purpose (its guest\n"
    "powered off, tandem stopped) ends the secondary with status 0.\n"
    "  --listen HOST:PORT      where the primary connects (port 0: any; printed)\n"
    "  --net SPEC              a network backend for the VM once it goes live, one\n"
    "                          per NIC of the primary (default: the primary's);\n"
    "                          e.g. tap,ifname=NAME. Until then what it receives is\n"
    "                          dropped\n"
    "  --drive-dir DIR         where the copies of the primary's writable drives\n"
    "                          are kept (DIR/driveN.img); required when it has any.\n"
    "                          The secondary's guest writes them; each resync makes\n"
    "                          them the primary's again\n"
    "  --heartbeat MS          how often the secondary sends a heartbeat and the\n"
    "                          unit of its loss timeout (default 100)\n"
    "  --arbiter etcd=http://HOST:PORT[,name=NAME][,ttl=S]\n"
    "                          go live only after taking the pair NAME (default: the\n"
    "                          --listen address) in etcd, as the primary's --arbiter\n"
    "                          names it. Without it the secondary goes live on a lost\n"
    "                          heartbeat even if the primary still runs (cut off)\n"
    "  --status HOST:PORT      serve a status page (http://HOST:PORT/), /status.json and\n"
    "                          /metrics (Prometheus) of the secondary\n"
    "  --monitor unix:PATH     QMP monitor of the secondary's VM once it runs\n"
    "                          (query-ft, query-status, quit, ...); once live, ft\n"
    "                          {\"peer\": \"HOST:PORT\"} protects it with a new secondary\n";
}  // namespace

int secondary_command(int argc, char** argv, int first) {
  StandbyFlags flags;
  if (auto exit = parse_standby_flags(argc, argv, first, "secondary", kUsage, flags)) return *exit;
  ft::SecondaryOptions o;
  flags.fill(o);
  const std::string& monitor = flags.monitor;
  const std::string& status_at = flags.status_at;
  auto secondary = ft::LockstepSecondary::listen(o);
  if (!secondary.ok()) {
    std::fprintf(stderr, "tandem: %s\n", secondary.error().message().c_str());
    return 1;
  }
  std::unique_ptr<StatusServer> status_server;
  if (!status_at.empty()) {
    auto s = StatusServer::start(status_at);
    if (!s.ok()) {
      std::fprintf(stderr, "tandem: %s\n", s.error().message().c_str());
      return 1;
    }
    status_server = std::move(s).value();
    std::fprintf(stderr, "tandem: status page at %s\n", status_server->url().c_str());
    // LockstepSecondary::status() is thread-safe: the server's thread asks it.
    status_server->set_source([s = secondary->get()] {
      return StatusSnapshot{standby_vm_section(), ft_section(s->status())};
    });
  }
  auto machine = (*secondary)->wait_for_machine();
  if (status_server) status_server->set_source(nullptr);
  if (!machine.ok()) {
    std::fprintf(stderr, "tandem: %s\n", machine.error().message().c_str());
    return 1;
  }
  if (!*machine) return 0;
  // Once live, the VM's output leaves only while the lease it took is valid.
  std::optional<ReplicationControl> gates;
  if ((*secondary)->arbiter()) gates.emplace(**machine, (*secondary)->arbiter());
  // Once live, the monitor's `ft` protects the VM with a new secondary.
  FtControl ft(**machine, (*secondary)->arbiter());
  ft.set_secondary(secondary->get());
  std::optional<StatusPublisher> publisher;
  if (status_server) {
    publisher.emplace(**machine, *status_server);
    publisher->add([m = *machine, started = std::chrono::steady_clock::now()] { return vm_section(*m, started, ""); });
    publisher->add([&ft] { return ft_section(ft.status()); });
    publisher->publish();
  }
  Result<int> status = 0;
  if (monitor.empty()) {
    status = (*machine)->run();
  } else {
    auto mon = Monitor::create(monitor, **machine);
    if (!mon.ok()) {
      std::fprintf(stderr, "tandem: %s\n", mon.error().message().c_str());
      return 1;
    }
    (*mon)->set_ft(&ft);
    status = (*mon)->run();
  }
  if (!status.ok()) {
    std::fprintf(stderr, "tandem: %s\n", status.error().message().c_str());
    return 1;
  }
  return *status;
}

}  // namespace tandem::cli
