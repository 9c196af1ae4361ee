// SIGTERM and SIGINT end tandem cleanly, as they end QEMU: the run loop
// sees them through a signalfd (blocked signals, so no handler runs in the
// middle of the guest) and requests the machine's exit with status 0, the
// path a guest poweroff takes (monitor socket removed, a replicating
// primary telling its backup it stops on purpose).
#pragma once

#include <functional>
#include <memory>

#include "base/result.h"
#include "board/machine.h"

namespace tandem::cli {

class ShutdownSignals {
 public:
  // Blocks SIGTERM and SIGINT in this thread (call it before any other
  // thread starts, so they all inherit the mask) and opens the signalfd.
  static Result<std::unique_ptr<ShutdownSignals>> install();
  ~ShutdownSignals();  // call no machine's run() after this

  // Serves `m` (again after a reset rebuilds the machine): a signal calls
  // `on_signal` (the monitor's SHUTDOWN reason) and ends the machine.
  void attach(board::Machine& m, std::function<void()> on_signal = {});

 private:
  explicit ShutdownSignals(int fd) : fd_(fd) {}
  int fd_;
  board::Machine* m_ = nullptr;
};

}  // namespace tandem::cli
