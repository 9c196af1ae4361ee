// Wakes a thread that polls fd() (the vCPU thread's run loop) from other
// threads. Wakes coalesce: until the woken side calls drain(), further
// signal()s write nothing, so a burst of messages costs one write() and
// one wake-up, not one each.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace tandem {

class Wakeup {
 public:
  Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Wakeup() { ::close(fd_); }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  int fd() const { return fd_; }
  // Any thread.
  void signal() {
    if (pending_.exchange(true, std::memory_order_acq_rel)) return;
    uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
  }
  // The woken thread, before it looks at what the signallers left: what
  // they leave after this signals again. The read comes first: clearing
  // first would let it swallow the write of a signal() made in between,
  // and leave pending_ set with nothing to wake the poll.
  void drain() {
    uint64_t v;
    while (::read(fd_, &v, sizeof v) > 0) {
    }
    pending_.store(false, std::memory_order_seq_cst);
  }

 private:
  int fd_;
  std::atomic<bool> pending_{false};
};

}  // namespace tandem
