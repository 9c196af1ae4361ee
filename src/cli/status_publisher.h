// Publishes a running VM's figures to a StatusServer (cli/status_server.h)
// from the machine's run loop, where the sources may read what only the
// vCPU thread may touch: every 250 ms, by a timerfd in the loop's poll (so
// an idle or paused guest's loop publishes too).
//
// A status source is a function returning its StatusSection (cli/metrics.h):
//
//   StatusPublisher publisher(machine, server);
//   publisher.add([&] { return replication_section(control.status()); });
//
// Sources are called in the order added; the page shows their sections so.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "board/machine.h"
#include "cli/metrics.h"
#include "cli/status_server.h"

namespace tandem::cli {

class StatusPublisher {
 public:
  // On the vCPU thread (as the destructor); `m` and `server` outlive it.
  StatusPublisher(board::Machine& m, StatusServer& server);
  ~StatusPublisher();
  StatusPublisher(const StatusPublisher&) = delete;
  StatusPublisher& operator=(const StatusPublisher&) = delete;

  // A source, called on the vCPU thread at each publication; returns an
  // id for remove().
  int add(std::function<StatusSection()> source);
  void remove(int id);
  // Calls every source and publishes now (also done every 250 ms).
  void publish();

 private:
  board::Machine& m_;
  StatusServer& server_;
  int timer_fd_ = -1;
  int next_id_ = 0;
  std::vector<std::pair<int, std::function<StatusSection()>>> sources_;
};

// The VM's own figures: state (running, paused), uptime since `started`,
// instructions run; `name` (--name) when not empty.
StatusSection vm_section(board::Machine& m, std::chrono::steady_clock::time_point started,
                         const std::string& name);
// A backup's before it takes over: no VM runs yet (state "standby").
StatusSection standby_vm_section();

}  // namespace tandem::cli
