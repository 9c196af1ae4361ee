#include "cli/run_command.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>

#include "board/machine.h"
#include "cli/args.h"
#include "cli/default_guest.h"
#include "cli/ft_control.h"
#include "cli/ft_metrics.h"
#include "cli/host_options.h"
#include "cli/monitor.h"
#include "cli/replication_control.h"
#include "cli/replication_metrics.h"
#include "cli/shutdown_signals.h"
#include "cli/status_publisher.h"
#include "cli/status_server.h"
#include "dev/virtio_blk.h"
#include "net/backend_spec.h"
#include "ft/lockstep_primary.h"
#include "replication/arbiter.h"

namespace tandem::cli {

const char kRunUsage[] =
    "usage: tandem run [options]\n"
    "  -m SIZE                 guest RAM (default 256M; K, M, G suffixes)\n"
    "  -smp N, --smp N         harts (1 to 8, default 1), each on a host thread of its own\n"
    "                          (under --icount they take turns on one thread)\n"
    "  -accel tcg,thread=single|multi   single: the harts take turns on one host thread\n"
    "                          (QEMU's spelling; multi, a thread per hart, is the default)\n"
    "  --bios FILE|none        firmware (default: Debian's OpenSBI fw_jump.bin);\n"
    "                          none starts --kernel (an ELF) in M-mode\n"
    "  --kernel FILE           kernel Image or ELF (default: the built-in guest)\n"
    "  --initrd FILE           initial ramdisk\n"
    "  --append STRING         kernel command line\n"
    "  --drive file=PATH[,readonly=on][,format=raw][,if=virtio][,snapshot=on]\n"
    "                          raw disk image on virtio-blk; qcow2, vmdk, vdi, vhdx and vhd\n"
    "                          images are refused (qemu-img convert -O raw), format=raw\n"
    "                          attaches the file as it is; snapshot=on: as --snapshot\n"
    "  --snapshot              disk writes go to a private copy of each image (a reflink,\n"
    "                          else a copy-on-write overlay: a file with no name in the\n"
    "                          image's directory, gone at exit); the images never change,\n"
    "                          as with QEMU's -snapshot (the copy is kept over a guest reboot)\n"
    "  --net user[,hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]... | tap,ifname=NAME\n"
    "                          an empty HOSTADDR listens on all addresses, as QEMU does\n"
    "                          (write 127.0.0.1 to keep the port to this host)\n"
    "  --no-rng                no virtio-rng device\n"
    "  --icount                guest time from instructions executed (deterministic)\n"
    "  --engine interp|jit     how the CPU runs: with hot blocks translated to x86-64\n"
    "                          (jit, faster), or the interpreter alone (interp);\n"
    "                          default: $TANDEM_ENGINE, else jit\n"
    "  --stats                 print instructions, seconds, MIPS and block and translator\n"
    "                          counters (one JSON line) to stderr at exit\n"
    "  --guest-profile FILE    write where the guest spent its instructions to FILE at exit:\n"
    "                          by function and by PC, per hart (a sample every slice)\n"
    "  --guest-symbols FILE    kernel symbols for it (a System.map); default: the\n"
    "                          System.map beside the kernel, if there is one\n"
    "  --monitor unix:PATH[,server][,nowait]   QMP monitor socket (QEMU's server,\n"
    "                          nowait and wait=off are accepted; tandem never waits)\n"
    "  --qmp unix:PATH[,...]   the same as --monitor\n"
    "  --name NAME             the VM's name: query-name, and the process title\n"
    "  --pidfile FILE          write tandem's pid to FILE once the VM is up (removed at exit)\n"
    "  --daemonize             run in the background: the command returns once the VM\n"
    "                          is up (and the pidfile written); stdio on /dev/null\n"
    "  --status HOST:PORT      serve a status page (http://HOST:PORT/), /status.json and\n"
    "                          Prometheus metrics (/metrics) of the VM and its protection\n"
    "                          (port 0: any; the address is printed)\n"
    "  -nographic, -serial mon:stdio   accepted: the console is always stdio\n"
    "  --replicate to=HOST:PORT[,epoch=MS][,heartbeat=MS][,history=on|off][,cold=N][,early=on|off]\n"
    "              [,diff=on|off][,diff-after=N][,diff-words=N][,diff-mib=N]\n"
    "                          protect the VM with a backup (tandem backup): a\n"
    "                          checkpoint every epoch (default 20 ms), output held\n"
    "                          until the backup has it; heartbeat default 100 ms;\n"
    "                          history: pages written in at most cold (2) of the\n"
    "                          last 16 epochs are copied after the stun (default on);\n"
    "                          early: end an epoch as soon as output waits and the\n"
    "                          guest idles, 1 ms after the last at the soonest (on)\n"
    "                          diff: a page the backup saw change at most diff-words\n"
    "                          (64) 8-byte words in each of its last diff-after (2)\n"
    "                          versions is sent as a diff against the copy last sent\n"
    "                          (on); at most diff-mib (128) MiB of such copies\n"
    "  --ft peer=HOST:PORT[,heartbeat=MS][,unmatched=MS][,period=MS]\n"
    "                          quasi-lockstep fault tolerance with a secondary (tandem\n"
    "                          secondary): both VMs run and get the same input; a frame\n"
    "                          leaves once the secondary's guest sent the same (per flow:\n"
    "                          TCP by payload stream). A mismatch, output unmatched for\n"
    "                          unmatched ms (100) or period ms (10000) without one\n"
    "                          resyncs the secondary by a checkpoint\n"
    "  --arbiter etcd=http://HOST:PORT[,name=NAME][,ttl=S]\n"
    "                          hold the pair NAME (default: the --replicate to= or --ft\n"
    "                          peer= address)\n"
    "                          in etcd under a lease of S seconds (default 1; etcd may raise\n"
    "                          it): output leaves only while the lease is renewed, and the\n"
    "                          backup (started with the same --arbiter) goes live only once it\n"
    "                          takes the pair. Without it a backup that loses the primary's\n"
    "                          heartbeat goes live even if the primary still runs\n"
    "QEMU's single-dash spellings (-name, -pidfile, -daemonize, -qmp) work too.\n"
    "On a terminal, Ctrl-A x quits; SIGTERM and SIGINT end tandem cleanly (status 0).\n";

void set_drive_snapshot(board::MachineConfig& c, bool on) {
  for (std::string& spec : c.drives) {
    auto options = dev::VirtioBlk::parse_spec(spec);
    if (!options.ok()) continue;  // Machine::create reports it
    options->snapshot = on;
    spec = dev::VirtioBlk::format_spec(*options);
  }
}

namespace {
// QEMU's own spellings of the options tandem shares with it.
std::string long_form(const std::string& f) {
  for (const char* q : {"-nographic", "-serial", "-qmp", "-name", "-pidfile", "-daemonize", "-smp", "-accel"})
    if (f == q) return "-" + f;
  return f;
}
}  // namespace

Result<board::MachineConfig> parse_run_options(int argc, char** argv, int first, HostOptions* host) {
  board::MachineConfig c;
  HostOptions unused;
  if (!host) host = &unused;
  bool snapshot = false;
  Args args(argc, argv, first);
  while (!args.done()) {
    std::string f = long_form(args.next_flag());
    auto need = [&]() { return args.value(f); };
    if (f == "-m" || f == "--memory") {
      auto v = need();
      if (!v.ok()) return v.error();
      auto size = board::parse_size(*v);
      if (!size.ok()) return size.error().context("option " + f);
      if (*size < (16ull << 20) || *size > (64ull << 30) || *size % 4096)
        return Error("option " + f + ": guest RAM must be between 16M and 64G, in whole pages");
      c.ram_size = *size;
    } else if (f == "--bios" || f == "--kernel" || f == "--initrd" || f == "--append" ||
               f == "--monitor" || f == "--qmp") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (f == "--bios") c.bios = *v;
      if (f == "--kernel") c.kernel = *v;
      if (f == "--initrd") c.initrd = *v;
      if (f == "--append") c.append = *v;
      if (f == "--monitor" || f == "--qmp") {
        if (Status st = check_monitor_spec(*v); !st.ok()) return st.error().context("option " + f);
        if (!c.monitor.empty()) return Error("option " + f + ": one monitor only (--monitor and --qmp are one)");
        c.monitor = *v;
      }
    } else if (f == "--smp") {
      auto v = need();
      if (!v.ok()) return v.error();
      unsigned n = 0;
      const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > board::kMaxHarts)
        return Error("option -smp: expected a number of harts from 1 to " + std::to_string(board::kMaxHarts) +
                     ", not '" + *v + "'");
      c.harts = n;
    } else if (f == "--accel") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (*v == "tcg" || *v == "tcg,thread=multi") {
        c.hart_threads = true;
      } else if (*v == "tcg,thread=single") {
        c.hart_threads = false;
      } else {
        return Error("option -accel: expected tcg, tcg,thread=multi or tcg,thread=single, not '" + *v + "'");
      }
    } else if (f == "--name") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (v->empty() || v->find(',') != std::string::npos)
        return Error("option --name: expected a name without commas, not '" + *v + "'");
      host->name = *v;
    } else if (f == "--pidfile") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (v->empty()) return Error("option --pidfile needs a file name");
      host->pidfile = *v;
    } else if (f == "--status") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (auto hp = replication::parse_host_port(*v); !hp.ok()) return hp.error().context("option --status");
      host->status = *v;
    } else if (f == "--daemonize") {
      host->daemonize = true;
    } else if (f == "--nographic") {
      // No display exists; the console is stdio already.
    } else if (f == "--serial") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (*v != "mon:stdio" && *v != "stdio")
        return Error("option --serial: only 'mon:stdio' or 'stdio' (the console is always stdio), not '" + *v + "'");
    } else if (f == "--drive") {
      auto v = need();
      if (!v.ok()) return v.error();
      auto d = dev::VirtioBlk::parse_spec(*v);
      if (!d.ok()) return d.error().context("option --drive");
      c.drives.push_back(*v);
    } else if (f == "--net") {
      auto v = need();
      if (!v.ok()) return v.error();
      auto spec = net::parse_backend_spec(*v);
      if (!spec.ok()) return spec.error().context("option --net");
      c.nets.push_back(*v);
    } else if (f == "--replicate") {
      auto v = need();
      if (!v.ok()) return v.error();
      auto o = replication::parse_replicate_spec(*v);
      if (!o.ok()) return o.error().context("option --replicate");
      c.replicate = *v;
    } else if (f == "--ft") {
      auto v = need();
      if (!v.ok()) return v.error();
      auto o = ft::parse_ft_spec(*v);
      if (!o.ok()) return o.error().context("option --ft");
      c.ft = *v;
    } else if (f == "--arbiter") {
      auto v = need();
      if (!v.ok()) return v.error();
      auto o = replication::parse_arbiter_spec(*v);
      if (!o.ok()) return o.error().context("option --arbiter");
      c.arbiter = *v;
    } else if (f == "--snapshot") {
      snapshot = true;
    } else if (f == "--no-rng") {
      c.rng = false;
    } else if (f == "--icount") {
      c.icount = true;
    } else if (f == "--engine") {
      auto v = need();
      if (!v.ok()) return v.error();
      if (*v != "interp" && *v != "jit") return Error("option --engine: '" + *v + "' is not interp or jit");
      c.engine = *v;
    } else if (f == "--stats") {
      c.stats = true;
    } else if (f == "--guest-profile") {
      auto v = need();
      if (!v.ok()) return v.error();
      c.guest_profile = *v;
    } else if (f == "--guest-symbols") {
      auto v = need();
      if (!v.ok()) return v.error();
      c.guest_symbols = *v;
    } else {
      return Error("unknown option '" + f + "' for 'tandem run' (see 'tandem run --help')");
    }
  }
  if (snapshot) set_drive_snapshot(c, true);
  if (!c.ft.empty() && !c.replicate.empty())
    return Error("--ft and --replicate cannot be used together: a VM has either a secondary or a backup");
  if (!c.arbiter.empty() && c.replicate.empty() && c.ft.empty() &&
      replication::parse_arbiter_spec(c.arbiter)->name.empty())
    return Error("option --arbiter: name=NAME is needed without --replicate or --ft (the pair is named after the "
                 "backup or secondary)");
  if (c.bios == "none" && c.kernel.empty())
    return Error("--bios none needs --kernel FILE (an ELF to start in M-mode)");
  if (c.kernel.empty()) {
    auto g = default_guest();
    if (!g.ok()) return g.error();
    c.kernel = g->kernel;
    if (c.initrd.empty()) c.initrd = g->initrd;
    if (c.append.empty()) c.append = g->append;
  }
  if (c.bios != "none" && c.append.empty()) c.append = "console=ttyS0";
  return c;
}

void publish_status(StatusPublisher& publisher, board::Machine& m, std::chrono::steady_clock::time_point started,
                    const std::string& name, ReplicationControl& replication) {
  publisher.add([&m, started, name] { return vm_section(m, started, name); });
  publisher.add([&replication] { return replication_section(replication.status()); });
  publisher.publish();
}

Result<int> run_machine(board::Machine& m, const std::string& monitor_spec, ReplicationControl* replication,
                        StatusServer* status) {
  std::optional<StatusPublisher> publisher;
  if (status && replication) {
    publisher.emplace(m, *status);
    publish_status(*publisher, m, std::chrono::steady_clock::now(), "", *replication);
  }
  if (monitor_spec.empty()) return m.run();
  auto monitor = Monitor::create(monitor_spec, m);
  if (!monitor.ok()) return monitor.error();
  (*monitor)->set_replication(replication);
  return (*monitor)->run();
}

int run_command(int argc, char** argv, int first) {
  for (int i = first; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kRunUsage, stdout);
      return 0;
    }
  }
  HostOptions host;
  auto config = parse_run_options(argc, argv, first, &host);
  if (!config.ok()) {
    std::fprintf(stderr, "tandem: %s\n", config.error().message().c_str());
    return 2;
  }
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "tandem: %s\n", e.message().c_str());
    return 1;
  };
  // Before any thread starts: the daemon is a fork, and every thread must
  // inherit the blocked SIGTERM/SIGINT.
  if (host.daemonize)
    if (Status st = daemonize(); !st.ok()) return fail(st.error());
  if (!host.name.empty()) set_process_name(host.name);
  auto signals = ShutdownSignals::install();
  if (!signals.ok()) return fail(signals.error());
  // After the signals are blocked: its thread inherits that. It stays
  // across guest reboots, as the monitor does.
  std::unique_ptr<StatusServer> status_server;
  if (!host.status.empty()) {
    auto s = start_status_page(host.status);
    if (!s.ok()) return fail(s.error());
    status_server = std::move(s).value();
  }
  const auto started = std::chrono::steady_clock::now();

  // The arbiter holds the pair for the VM's whole life, reboots included.
  std::unique_ptr<replication::Arbiter> arbiter;
  if (!config->arbiter.empty()) {
    auto o = replication::parse_arbiter_spec(config->arbiter);
    std::string pair = o->name;
    if (pair.empty())
      pair = replication::pair_name(*o, !config->ft.empty() ? ft::parse_ft_spec(config->ft)->peer
                                                            : replication::parse_replicate_spec(config->replicate)->to);
    auto a = replication::Arbiter::own(*o, pair);
    if (!a.ok()) return fail(a.error());
    arbiter = std::move(a).value();
  }
  // A guest reset (reboot, system_reset) builds the machine afresh, as a
  // power cycle, but for --snapshot's private copies: they hold the disk's
  // only copy. The monitor and its clients stay across it. Declared in
  // this order so that they go before the machine they serve.
  std::unique_ptr<board::Machine> machine;
  std::unique_ptr<Monitor> monitor;
  std::unique_ptr<ShutdownSignals> shutdown = std::move(signals).value();
  std::unique_ptr<PidFile> pidfile;
  std::deque<uint8_t> carried_input;
  std::vector<std::shared_ptr<dev::BlockBackend>> kept_drives;
  for (;;) {
    machine.reset();  // its ports and files are free before the next one opens them
    auto created = board::Machine::create(*config, std::move(kept_drives));
    if (!created.ok()) return fail(created.error());
    machine = std::move(created).value();
    machine->pending_console_input() = std::move(carried_input);
    ReplicationControl replication(*machine, arbiter.get());
    if (!config->replicate.empty())
      if (Status st = replication.start(config->replicate); !st.ok()) return fail(st.error());
    FtControl ft(*machine, arbiter.get());
    if (!config->ft.empty())
      if (Status st = ft.start(config->ft); !st.ok()) return fail(st.error());
    // Goes before the replication, fault tolerance and the machine it reads.
    std::optional<StatusPublisher> publisher;
    if (status_server) {
      publisher.emplace(*machine, *status_server);
      publish_status(*publisher, *machine, started, host.name, replication);
      publisher->add([&ft] {
        ft::FtStatus s = ft.status();
        s.arbiter.reset();  // the replication section has it
        return ft_section(s);
      });
    }
    if (!config->monitor.empty()) {
      if (!monitor) {
        auto m = Monitor::create(config->monitor, *machine);
        if (!m.ok()) return fail(m.error());
        monitor = std::move(m).value();
        monitor->set_name(host.name);
      } else {
        monitor->attach(*machine);
      }
      monitor->set_replication(&replication);
      monitor->set_ft(&ft);
    }
    shutdown->attach(*machine, [&monitor] {
      if (monitor) monitor->set_shutdown_reason("host-signal");
    });
    if (!pidfile && !host.pidfile.empty()) {
      auto p = PidFile::write(host.pidfile);
      if (!p.ok()) return fail(p.error());
      pidfile = std::move(p).value();
    }
    daemon_ready();
    Result<int> status = monitor ? monitor->run() : machine->run();
    if (monitor) {
      monitor->set_replication(nullptr);
      monitor->set_ft(nullptr);
    }
    if (!status.ok()) return fail(status.error());
    if (!machine->reset_requested()) return *status;
    carried_input = std::move(machine->pending_console_input());
    kept_drives = machine->kept_drives();
  }
}

}  // namespace tandem::cli
