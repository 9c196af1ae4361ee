// A host thread for each hart but hart 0, which runs on the vCPU thread:
// a round starts every hart on its own thread, runs hart 0 meanwhile, and
// ends when all that run have run their slice (Machine's
// run_round_threaded, docs/architecture.md "SMP"). A hart in WFI waits on
// its thread until an interrupt wakes it (an IPI from another hart) and
// then runs its slice in the same round, or until the round ends. Between
// rounds no hart runs, so the vCPU thread has the machine to itself, as
// with one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread.h"
#include "cpu/hart.h"

namespace tandem::board {

class HartThreads {
 public:
  // Threads for harts[1..]; harts[0] stays the caller's.
  explicit HartThreads(std::vector<cpu::Hart*> harts);
  ~HartThreads();  // ends and joins the threads (no hart may be running)
  HartThreads(const HartThreads&) = delete;
  HartThreads& operator=(const HartThreads&) = delete;

  // Hart i (1 <= i < count) runs `budget` instructions on its thread;
  // `waiting`: only once wfi_should_wake(), if before end_round().
  void start(size_t i, uint64_t budget, bool waiting);
  bool done(size_t i) const { return workers_[i - 1]->state.load(std::memory_order_acquire) == kDone; }
  // Waits for hart i's turn started last; whether it ran, and how it ended.
  struct Turn {
    bool ran;
    cpu::StopReason reason;
  };
  Turn wait(size_t i);
  // Releases the harts still waiting for an interrupt this round.
  void end_round();
  // Every hart's set_irq and every turn's end bump it: sleep on it with
  // std::atomic wait until something may have changed.
  std::atomic<uint32_t>& events() { return events_; }

 private:
  enum State : uint32_t { kIdle, kGo, kDone, kQuit };
  struct Worker {
    cpu::Hart* hart = nullptr;
    std::atomic<uint32_t> state{kIdle};
    uint64_t budget = 0;
    bool waiting = false;
    Turn turn{false, cpu::StopReason::kBudget};
    Thread thread;
  };
  void body(Worker& w);
  void take_turn(Worker& w);
  void bump();
  std::vector<std::unique_ptr<Worker>> workers_;  // index i - 1 for hart i
  std::atomic<uint32_t> events_{0};
  std::atomic<bool> round_over_{false};
};

}  // namespace tandem::board
