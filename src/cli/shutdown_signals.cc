#include "cli/shutdown_signals.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace tandem::cli {

Result<std::unique_ptr<ShutdownSignals>> ShutdownSignals::install() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return sys_error("block SIGTERM and SIGINT");
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return sys_error("signalfd");
  return std::unique_ptr<ShutdownSignals>(new ShutdownSignals(fd));
}

// The machine may be gone already, and is not run again: its io source
// is left as it is.
ShutdownSignals::~ShutdownSignals() { ::close(fd_); }

void ShutdownSignals::attach(board::Machine& m, std::function<void()> on_signal) {
  m_ = &m;
  m.add_io_source(fd_, [this, on_signal = std::move(on_signal)] {
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return;
    if (on_signal) on_signal();
    m_->request_exit(0);
  }, /*can_wake_guest=*/false);
}

}  // namespace tandem::cli
