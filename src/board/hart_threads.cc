#include "board/hart_threads.h"

namespace tandem::board {

namespace {
// Rounds are some 100 us long; the other side is usually a few us away.
// Spin that long on the state, then sleep on it.
void await_change(std::atomic<uint32_t>& state, uint32_t from) {
  for (int i = 0; i < 2000 && state.load(std::memory_order_acquire) == from; i++) __builtin_ia32_pause();
  while (state.load(std::memory_order_acquire) == from) state.wait(from, std::memory_order_acquire);
}
}  // namespace

HartThreads::HartThreads(std::vector<cpu::Hart*> harts) {
  for (size_t i = 1; i < harts.size(); i++) {
    auto w = std::make_unique<Worker>();
    w->hart = harts[i];
    Worker* raw = w.get();
    w->thread = Thread([raw] { body(*raw); });
    workers_.push_back(std::move(w));
  }
}

HartThreads::~HartThreads() {
  for (auto& w : workers_) {
    w->state.store(kQuit, std::memory_order_release);
    w->state.notify_one();
  }
  for (auto& w : workers_) w->thread.join();
}

void HartThreads::body(Worker& w) {
  for (;;) {
    await_change(w.state, kIdle);
    if (w.state.load(std::memory_order_acquire) == kQuit) return;
    w.reason = w.hart->run(w.budget);
    w.state.store(kDone, std::memory_order_release);
    w.state.notify_one();
    await_change(w.state, kDone);
    if (w.state.load(std::memory_order_acquire) == kQuit) return;
  }
}

void HartThreads::start(size_t i, uint64_t budget) {
  Worker& w = *workers_[i - 1];
  w.budget = budget;
  w.state.store(kGo, std::memory_order_release);
  w.state.notify_one();
}

cpu::StopReason HartThreads::wait(size_t i) {
  Worker& w = *workers_[i - 1];
  await_change(w.state, kGo);
  w.state.store(kIdle, std::memory_order_release);
  return w.reason;
}

}  // namespace tandem::board
