// The monitor of a backup that has not taken over: no VM runs yet, so it
// has a thread of its own and answers only QMP's negotiation and
// query-version/query-commands, query-replication, query-status
// ({"status": "standby"}) and quit. At takeover it closes
// and the VM's own monitor (cli/monitor.h) opens on the same path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread.h"
#include "replication/backup.h"

namespace tandem::cli {

class StandbyMonitor {
 public:
  static Result<std::unique_ptr<StandbyMonitor>> create(const std::string& spec, replication::Backup& b);
  ~StandbyMonitor();  // closes the socket and removes its file

 private:
  StandbyMonitor(replication::Backup& b, int listen_fd, int stop_fd, std::string path);
  void serve();

  replication::Backup& backup_;
  int listen_fd_;
  int stop_fd_;
  std::string path_;
  Thread thread_;
};

}  // namespace tandem::cli
