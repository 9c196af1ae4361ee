// The two sources of guest time (docs/architecture.md, "Time").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "base/clock.h"

namespace tandem::board {

// Follows the host's monotonic clock; frozen while the VM is paused.
class HostClock : public Clock {
 public:
  HostClock();
  uint64_t now() const override;
  void pause();
  void resume();
  // Continue from `ticks` (restore).
  void set(uint64_t ticks);

 private:
  using Steady = std::chrono::steady_clock;
  Steady::time_point origin_;
  bool paused_ = false;
  uint64_t paused_at_ = 0;
};

// --icount: time is a pure function of instructions retired plus the time
// skipped while the hart idled in WFI, so a run depends only on its inputs.
class InstructionClock : public Clock {
 public:
  // One tick (100 ns at 10 MHz) per this many instructions: a virtual
  // 160 MIPS guest.
  static constexpr uint64_t kInstructionsPerTick = 16;

  explicit InstructionClock(std::function<uint64_t()> instret) : instret_(std::move(instret)) {}
  uint64_t now() const override { return instret_() / kInstructionsPerTick + skipped_; }
  // WFI with nothing pending: jump to the next deadline instead of waiting.
  void skip_to(uint64_t tick) {
    uint64_t n = now();
    if (tick > n) skipped_ += tick - n;
  }
  uint64_t skipped() const { return skipped_; }
  void set_skipped(uint64_t s) { skipped_ = s; }

 private:
  std::function<uint64_t()> instret_;
  uint64_t skipped_ = 0;
};

}  // namespace tandem::board
