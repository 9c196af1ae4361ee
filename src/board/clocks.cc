#include "board/clocks.h"

namespace tandem::board {

namespace {
constexpr uint64_t kNsPerTick = 1'000'000'000 / kTimebaseHz;
}

HostClock::HostClock() : origin_(Steady::now()) {}

uint64_t HostClock::now() const {
  if (paused_) return paused_at_;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - origin_).count();
  return static_cast<uint64_t>(ns) / kNsPerTick;
}

void HostClock::pause() {
  if (paused_) return;
  paused_at_ = now();
  paused_ = true;
}

void HostClock::resume() {
  if (!paused_) return;
  paused_ = false;
  set(paused_at_);
}

void HostClock::set(uint64_t ticks) {
  origin_ = Steady::now() - std::chrono::nanoseconds(ticks * kNsPerTick);
  if (paused_) paused_at_ = ticks;
}

}  // namespace tandem::board
