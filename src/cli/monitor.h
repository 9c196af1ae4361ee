// The JSON monitor: a unix socket speaking one JSON object per line in the
// style of QEMU's QMP. Served by the machine's run loop (vCPU thread), so
// commands act between slices with the guest stopped.
//
//   -> {"execute": "query-status"}
//   <- {"return": {"status": "running", "instructions": 123}}
//   -> {"execute": "suspend", "arguments": {"file": "vm.snap"}}
//   <- {"return": {}}
//   <- {"event": "SNAPSHOT_PROGRESS", "data": {...}}   (about every 100 ms)
//   <- {"event": "SNAPSHOT_COMPLETED", "data": {"pause_ms": 2.1, ...}}
//
// Commands: stop, cont, query-status, suspend (save, then the VM stops and
// tandem exits), snapshot-save (the state of that instant; the VM goes on),
// query-snapshot, query-restore (how far a lazy or working-set restore has
// loaded memory; {"status": "none"} for a VM that was not restored),
// replicate ({"to": "HOST:PORT", "epoch": MS, "heartbeat": MS, "history":
// BOOL, "cold": N}: protect the VM with a backup), query-replication, quit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "board/machine.h"
#include "cli/replication_control.h"
#include "state/live_save.h"
#include "state/restore.h"

namespace tandem::cli {

class Monitor {
 public:
  // `spec` is "unix:PATH"; an existing socket file at PATH is replaced.
  static Result<std::unique_ptr<Monitor>> create(const std::string& spec, board::Machine& m);
  ~Monitor();

  // Runs the machine (installs itself as the slice hook).
  Result<int> run();
  // The restore this machine came from, for query-restore (it must
  // outlive the monitor).
  void set_restore(state::Restore* r) { restore_ = r; }
  // Replication of this VM, for replicate and query-replication.
  void set_replication(ReplicationControl* r) { replication_ = r; }

  // Answers each complete line of `in` (one JSON request each) and removes
  // it; returns the reply lines to send. The socket's parser, public so
  // that the fuzzer (tests/fuzz/monitor_fuzz.cc) drives it without one.
  std::vector<std::string> answer_lines(std::string& in);

 private:
  struct Client {
    int fd;
    std::string in;
  };
  Monitor(board::Machine& m, int listen_fd, std::string path);
  void accept_client();
  void read_client(int fd);
  void close_client(int fd);
  nlohmann::json handle(const nlohmann::json& request);
  void send(int fd, const nlohmann::json& msg);
  void send_line(int fd, const std::string& line);
  void broadcast(const nlohmann::json& msg);
  void tick();
  nlohmann::json progress_json() const;
  nlohmann::json restore_json() const;

  board::Machine& m_;
  int listen_fd_;
  std::string path_;
  std::vector<Client> clients_;
  std::unique_ptr<state::LiveSave> save_;
  state::Restore* restore_ = nullptr;
  ReplicationControl* replication_ = nullptr;
  std::string save_file_;
  double last_progress_ms_ = -1e9;
};

// Tells whether a monitor spec is well formed ("unix:PATH").
Status check_monitor_spec(const std::string& spec);
// A listening unix socket at the spec's path (a file there is replaced),
// with extra socket() `flags` (SOCK_NONBLOCK).
Result<int> listen_monitor_socket(const std::string& spec, int flags);

}  // namespace tandem::cli
