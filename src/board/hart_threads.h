// A host thread for each hart but hart 0, which runs on the vCPU thread:
// a round starts every hart that does not wait on its own thread, runs
// hart 0 meanwhile, and ends when all have run their quantum (Machine's
// run_round, docs/architecture.md "SMP"). Between rounds no hart runs, so
// the vCPU thread has the machine to itself, as with one thread.
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

  // Hart i (1 <= i < count) runs `budget` instructions on its thread.
  void start(size_t i, uint64_t budget);
  // Waits for hart i's run started last, and returns how it ended.
  cpu::StopReason wait(size_t i);

 private:
  enum State : uint32_t { kIdle, kGo, kDone, kQuit };
  struct Worker {
    cpu::Hart* hart = nullptr;
    std::atomic<uint32_t> state{kIdle};
    uint64_t budget = 0;
    cpu::StopReason reason = cpu::StopReason::kBudget;
    Thread thread;
  };
  static void body(Worker& w);
  std::vector<std::unique_ptr<Worker>> workers_;  // index i - 1 for hart i
};

}  // namespace tandem::board
