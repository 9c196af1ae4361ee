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
  replication::BackupOptions o;
  std::string monitor, status_at;
  bool have_listen = false;
  Args args(argc, argv, first);
  while (!args.done()) {
    std::string f = args.next_flag();
    if (f == "--help" || f == "-h") {
      std::fputs(kBackupUsage, stdout);
      return 0;
    }
    auto v = args.value(f);
    if (!v.ok()) {
      std::fprintf(stderr, "tandem: %s\n", v.error().message().c_str());
      return 2;
    }
    Status st = Ok();
    if (f == "--listen") {
      auto hp = replication::parse_host_port(*v);
      if (hp.ok()) o.listen = *hp, have_listen = true;
      else st = hp.error().context("option --listen");
    } else if (f == "--net") {
      auto spec = net::parse_backend_spec(*v);
      if (spec.ok()) o.nets.push_back(*v);
      else st = spec.error().context("option --net");
    } else if (f == "--drive-dir") {
      if (::access(v->c_str(), W_OK) != 0) st = sys_error("option --drive-dir '" + *v + "'");
      else o.drive_dir = *v;
    } else if (f == "--heartbeat") {
      char* end = nullptr;
      unsigned long ms = std::strtoul(v->c_str(), &end, 10);
      if (v->empty() || *end || ms < 10 || ms > 60000) st = Error("option --heartbeat: expected 10 to 60000 ms");
      else o.heartbeat_ms = static_cast<unsigned>(ms);
    } else if (f == "--arbiter") {
      auto a = replication::parse_arbiter_spec(*v);
      if (a.ok()) o.arbiter = *a;
      else st = a.error().context("option --arbiter");
    } else if (f == "--monitor") {
      st = check_monitor_spec(*v);
      monitor = *v;
    } else if (f == "--status") {
      auto hp = replication::parse_host_port(*v);
      if (hp.ok()) status_at = *v;
      else st = hp.error().context("option --status");
    } else {
      st = Error("unknown option '" + f + "' for 'tandem backup' (see 'tandem backup --help')");
    }
    if (!st.ok()) {
      std::fprintf(stderr, "tandem: %s\n", st.error().message().c_str());
      return 2;
    }
  }
  if (!have_listen) {
    std::fprintf(stderr, "tandem: backup needs --listen HOST:PORT (see 'tandem backup --help')\n");
    return 2;
  }
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
    status_server->set_source([&b = **backup] { return StatusSnapshot{standby_vm_section(), replication_section(b.status())}; });
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
