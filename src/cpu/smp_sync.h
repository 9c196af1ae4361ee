// What the harts of a machine share when each runs on a host thread of
// its own (docs/architecture.md, "SMP"):
//
//  - the I/O lock: one hart at a time in a device (MMIO), as devices are
//    written for one thread;
//  - exclusive sections: a hart (or a device writing guest memory) that
//    changes another hart's caches (its decoded code, its store shortcuts)
//    first stops every other hart between two blocks, as QEMU's
//    start_exclusive does.
//
// A hart *executes* (counts in running_) from the start of run() to its
// end, except while it waits: for the I/O lock, for an exclusive section
// of its own to begin, or for another's to end. An exclusive section
// begins once no other hart executes; each one sees a pause request
// (Hart::request_pause) at its next block boundary and waits there. A
// thread that is no hart's (the vCPU thread serving devices between hart
// 0's slices) may begin one too.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "mem/guest_memory.h"

namespace tandem::cpu {

class Hart;

class SmpSync : public mem::ExclusiveSection {
 public:
  SmpSync() = default;
  SmpSync(const SmpSync&) = delete;
  SmpSync& operator=(const SmpSync&) = delete;

  // The harts to pause; before any of them runs.
  void set_harts(std::vector<Hart*> harts) { harts_ = std::move(harts); }

  // Around a hart's execution (Hart::run), on its thread.
  void exec_start();
  void exec_end();
  // A hart's pause point between blocks: waits out an exclusive section.
  void pause_point() {
    exec_end();
    exec_start();
  }

  // Exclusive sections nest on one thread; the outermost one pauses.
  void begin() override;
  void end() override;

  // Taken by a hart around each device access (Hart::bus_load/bus_store).
  std::mutex& io_mutex() { return io_mu_; }

  // Exclusive sections begun, for tests and --stats.
  uint64_t exclusive_count() const { return exclusive_count_.load(std::memory_order_relaxed); }

 private:
  std::vector<Hart*> harts_;
  std::atomic<int> running_{0};
  std::atomic<bool> exclusive_{false};
  std::atomic<uint64_t> exclusive_count_{0};
  std::mutex holder_mu_;  // one exclusive section at a time
  std::mutex io_mu_;
};

}  // namespace tandem::cpu
