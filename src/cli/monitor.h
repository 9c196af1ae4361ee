// The monitor: a unix socket speaking QMP (QEMU's machine protocol), served
// by the machine's run loop (vCPU thread), so commands act between slices
// with the guest stopped.
//
//   <- {"QMP": {"version": {...}, "capabilities": []}}
//   -> {"execute": "qmp_capabilities"}
//   <- {"return": {}}
//   -> {"execute": "query-status"}
//   <- {"return": {"status": "running", "running": true, ...}}
//   -> {"execute": "suspend", "arguments": {"file": "vm.snap"}}
//   <- {"return": {}}
//   <- {"event": "SNAPSHOT_PROGRESS", "data": {...}, "timestamp": {...}}
//   <- {"event": "SNAPSHOT_COMPLETED", "data": {"report": {...}, ...}, ...}
//
// QEMU's commands: qmp_capabilities, query-status, query-version,
// query-commands, query-name, stop, cont, system_reset, system_powerdown,
// quit; and events STOP, RESUME, RESET, POWERDOWN, SHUTDOWN. tandem's own:
// suspend (save, then the VM stops and tandem exits), snapshot-save (the
// state of that instant; the VM goes on), query-snapshot, query-restore
// (how far a lazy or working-set restore has loaded memory), replicate
// ({"to": "HOST:PORT", "epoch": MS, "heartbeat": MS, "history": BOOL,
// "cold": N, "early": BOOL, "diff": BOOL, "diff-after": N, "diff-words": N,
// "diff-mib": N}), query-replication, query-memory-hash (XXH3 of guest
// RAM, to compare with a backup's committed memory);
// events SNAPSHOT_PROGRESS/COMPLETED/FAILED, RESTORE_COMPLETED (memory all
// loaded) and REPLICATION_STATE (protected, lost, ...).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "board/machine.h"
#include "cli/monitor_spec.h"
#include "cli/qmp.h"
#include "cli/replication_control.h"
#include "cli/ft_control.h"
#include "state/live_save.h"
#include "state/restore.h"

namespace tandem::cli {

class Monitor {
 public:
  // `spec` as cli/monitor_spec.h; an existing socket file is replaced.
  static Result<std::unique_ptr<Monitor>> create(const std::string& spec, board::Machine& m);
  ~Monitor();  // closes the socket and removes its file

  // Serves `m` from now on: the machine built after a reset (the clients
  // stay connected across it, as with QEMU). The previous machine is gone
  // (its fds are not removed from it).
  void attach(board::Machine& m);
  // Runs the machine (installs itself as the slice hook), then tells the
  // clients why it ended (SHUTDOWN, or RESET when it is rebuilt).
  Result<int> run();
  // The restore this machine came from, for query-restore (it must
  // outlive the monitor).
  void set_restore(state::Restore* r) { restore_ = r; }
  // Replication of this VM, for replicate and query-replication.
  void set_replication(ReplicationControl* r) { replication_ = r; }
  // Quasi-lockstep fault tolerance of this VM (either side), for ft and
  // query-ft.
  void set_ft(FtControl* f) { ft_ = f; }
  // The VM's name (--name), for query-name.
  void set_name(const std::string& name) { name_ = name; }
  // Why the machine is about to end, for the SHUTDOWN event ("host-signal").
  void set_shutdown_reason(const std::string& reason) { shutdown_reason_ = reason; }

  // Answers the next complete request held in `session` (bytes go in with
  // session.in.feed) and returns the reply line to send, or nothing until
  // more bytes come. The socket's parser and dispatch, public so that the
  // fuzzer (tests/fuzz/monitor_fuzz.cc) drives them without one.
  std::optional<std::string> answer_next(QmpSession& session);

 private:
  struct Client {
    int fd;
    QmpSession session;
  };
  Monitor(board::Machine& m, int listen_fd, std::string path);
  void accept_client();
  void read_client(int fd);
  void close_client(int fd);
  nlohmann::json handle(const std::string& cmd, const nlohmann::json& args);
  nlohmann::json guest_profile(const nlohmann::json& args);
  void send(int fd, const nlohmann::json& msg);
  void send_line(int fd, const std::string& line);
  void broadcast(const nlohmann::json& event);
  void tick();
  bool tick_due() const;
  void watch_restore_and_replication();
  nlohmann::json progress_json() const;
  nlohmann::json restore_json() const;

  board::Machine* m_;
  int listen_fd_;
  std::string path_;
  std::vector<Client> clients_;
  std::unique_ptr<state::LiveSave> save_;
  bool save_is_suspend_ = false;
  state::Restore* restore_ = nullptr;
  bool restore_reported_ = false;
  ReplicationControl* replication_ = nullptr;
  FtControl* ft_ = nullptr;
  std::string replication_state_;
  double last_watch_ms_ = -1e9;
  std::string save_file_;
  std::string name_;
  std::string shutdown_reason_;
  bool end_announced_ = false;  // quit or system_reset sent SHUTDOWN or RESET
  double last_progress_ms_ = -1e9;
};

// The commands the VM's monitor serves, with their arguments.
const std::vector<QmpCommand>& monitor_commands();

}  // namespace tandem::cli
