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
    w->thread = Thread([this, raw] { body(*raw); });
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
    take_turn(w);
    w.state.store(kDone, std::memory_order_release);
    w.state.notify_one();
    bump();
    await_change(w.state, kDone);
    if (w.state.load(std::memory_order_acquire) == kQuit) return;
  }
}

void HartThreads::take_turn(Worker& w) {
  if (w.waiting) {
    for (;;) {
      const uint32_t seen = events_.load(std::memory_order_seq_cst);
      if (round_over_.load(std::memory_order_seq_cst)) {
        w.turn = {false, cpu::StopReason::kWfi};
        return;
      }
      if (w.hart->wfi_should_wake()) break;
      events_.wait(seen, std::memory_order_seq_cst);
    }
  }
  w.turn = {true, w.hart->run(w.budget)};
}

void HartThreads::bump() {
  events_.fetch_add(1, std::memory_order_seq_cst);
  events_.notify_all();
}

void HartThreads::start(size_t i, uint64_t budget, bool waiting) {
  Worker& w = *workers_[i - 1];
  round_over_.store(false, std::memory_order_seq_cst);
  w.budget = budget;
  w.waiting = waiting;
  w.state.store(kGo, std::memory_order_release);
  w.state.notify_one();
}

void HartThreads::end_round() {
  round_over_.store(true, std::memory_order_seq_cst);
  bump();
}

HartThreads::Turn HartThreads::wait(size_t i) {
  Worker& w = *workers_[i - 1];
  await_change(w.state, kGo);
  w.state.store(kIdle, std::memory_order_release);
  return w.turn;
}

}  // namespace tandem::board
