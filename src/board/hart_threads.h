// A host thread for each hart but hart 0, which runs on the vCPU thread
// (Machine::run_threads, docs/architecture.md "SMP"). Released, a hart
// runs slice after slice on its thread, and in a WFI waits there for an
// interrupt, until the vCPU thread holds it: it then parks at the end of
// its slice (having run at least one since its release), or at once if
// it waits in a WFI. Machine::stop_harts() ends a slice early. While
// every hart is parked the vCPU thread has the machine to itself, as with
// one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread.h"
#include "board/guest_profile.h"
#include "cpu/hart.h"

namespace tandem::board {

class HartThreads {
 public:
  // Threads for harts[1..]; harts[0] stays the caller's. A hart's runs
  // end at multiples of `slice` of its instret.
  // `profile` gets each run's end (GuestProfile::sample).
  HartThreads(std::vector<cpu::Hart*> harts, uint64_t slice, GuestProfile* profile);
  ~HartThreads();  // ends and joins the threads (every hart parked)
  HartThreads(const HartThreads&) = delete;
  HartThreads& operator=(const HartThreads&) = delete;

  // Hart i (1 <= i < count) runs on its thread until held; `waiting`: it
  // stands past a WFI and first waits for wfi_should_wake().
  void release(size_t i, bool waiting);
  // Asks hart i to park; does not wait.
  void hold(size_t i);
  // Waits until hart i is parked; whether it stands past a WFI then.
  bool parked(size_t i);
  // Whether released hart i waits in a WFI now (it may wake at any time).
  bool in_wfi(size_t i) const { return workers_[i - 1]->in_wfi.load(std::memory_order_seq_cst); }
  // Bumped by every hart's set_irq, every run's end and hold(): sleep on
  // it with std::atomic wait until something may have changed.
  std::atomic<uint32_t>& events() { return events_; }
  void bump();

 private:
  enum State : uint32_t { kParked, kGo, kQuit };
  struct Worker {
    cpu::Hart* hart = nullptr;
    size_t index = 0;
    std::atomic<uint32_t> state{kParked};
    std::atomic<bool> held{false};
    std::atomic<bool> in_wfi{false};
    Thread thread;
  };
  void body(Worker& w);
  void run_until_held(Worker& w);
  std::vector<std::unique_ptr<Worker>> workers_;  // index i - 1 for hart i
  const uint64_t slice_;
  GuestProfile* const profile_;
  std::atomic<uint32_t> events_{0};
};

}  // namespace tandem::board
