#include "cli/backup_command.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/monitor.h"
#include "cli/replication_control.h"
#include "cli/replication_metrics.h"
#include "cli/status_publisher.h"
#include "cli/status_server.h"
#include "cli/run_command.h"
#include "cli/standby_flags.h"
#include "cli/standby_monitor.h"
#include "net/backend_spec.h"
#include "replication/backup.h"

namespace tandem::cli {

namespace {
const char kBackupUsage[] =
    "usage: tandem backup --listen HOST:PORT [options]\n"
    "Waits for a primary (tandem run --replicate to=HOST:PORT), holds its\n"
    "latest committed checkpoint, and runs the VM from it when the primary\n"
    "is lost (connection closed, or nothing from it for 3 --heartbeat\n"
    "intervals). A primary that ends replication on purpose (the\n"
    "guest powered off, the VM was suspended) ends the backup with status 0.\n"
    "  --listen HOST:PORT      where the primary connects (port 0: any; printed)\n"
    "  --net SPEC              a network backend for the VM once it takes over,\n"
    "                          one per NIC of the primary (default: the primary's)\n"
    "  --drive-dir DIR         where the copies of the primary's writable drives\n"
    "                          are kept (DIR/driveN.img, their space reserved at\n"
    "                          once); required when it has any. Read-only drives\n"
    "                          are opened at the primary's path on takeover\n"
    "  --heartbeat MS          how often the backup sends a heartbeat and the\n"
    "                          unit of its loss timeout (default 100)\n"
    "  --arbiter etcd=http://HOST:PORT[,name=NAME][,ttl=S]\n"
    "                          go live only after taking the pair NAME (default: the\n"
    "                          --listen address) in etcd, as the primary's --arbiter\n"
    "                          names it: not while the primary's lease lives, and never\n"
    "                          when the primary recorded that it ran on unprotected.\n"
    "                          Without it the backup goes live on a lost heartbeat even\n"
    "                          if the primary still runs (cut off, not dead)\n"
    "  --monitor unix:PATH     QMP monitor: query-replication, query-status and\n"
    "                          quit while in standby; the VM's monitor once it\n"
    "                          took over\n"
    "  --status HOST:PORT      serve a status page (http://HOST:PORT/), /status.json and\n"
    "                          Prometheus metrics (/metrics) of the backup, and of its VM\n"
    "                          once it took over (port 0: any; the address is printed)\n";
}  // namespace

int backup_command(int argc, char** argv, int first) {
  StandbyFlags flags;
  if (auto exit = parse_standby_flags(argc, argv, first, "backup", kBackupUsage, flags)) return *exit;
  replication::BackupOptions o;
  flags.fill(o);
  const std::string& monitor = flags.monitor;
  const std::string& status_at = flags.status_at;
  auto backup = replication::Backup::listen(o);
  if (!backup.ok()) {
    std::fprintf(stderr, "tandem: %s\n", backup.error().message().c_str());
    return 1;
  }
  std::unique_ptr<StatusServer> status_server;
  if (!status_at.empty()) {
    auto s = start_status_page(status_at);
    if (!s.ok()) {
      std::fprintf(stderr, "tandem: %s\n", s.error().message().c_str());
      return 1;
    }
    status_server = std::move(s).value();
    // Backup::status() is thread-safe: the server's thread asks it.
    status_server->set_source([&b = **backup] {
      return StatusSnapshot{standby_vm_section(), replication_section(b.status())};
    });
  }
  Result<std::unique_ptr<board::Machine>> machine = std::unique_ptr<board::Machine>();
  {
    std::unique_ptr<StandbyMonitor> standby;
    if (!monitor.empty()) {
      auto sm = StandbyMonitor::create(monitor, **backup);
      if (!sm.ok()) {
        std::fprintf(stderr, "tandem: %s\n", sm.error().message().c_str());
        return 1;
      }
      standby = std::move(sm).value();
    }
    machine = (*backup)->serve();
  }
  if (status_server) status_server->set_source(nullptr);
  if (!machine.ok()) {
    std::fprintf(stderr, "tandem: %s\n", machine.error().message().c_str());
    return 1;
  }
  if (!*machine) return 0;
  ReplicationControl replication(**machine, (*backup)->arbiter());
  replication.set_took_over((*backup)->status());
  auto status = run_machine(**machine, monitor, &replication, status_server.get());
  if (!status.ok()) {
    std::fprintf(stderr, "tandem: %s\n", status.error().message().c_str());
    return 1;
  }
  return *status;
}

}  // namespace tandem::cli
