#include "board/hart_threads.h"

#include <sched.h>

namespace tandem::board {

namespace {
// The other side is usually a few microseconds away: spin that long on
// the state, then sleep on it.
void await_change(std::atomic<uint32_t>& state, uint32_t from) {
  for (int i = 0; i < 2000 && state.load(std::memory_order_acquire) == from; i++) __builtin_ia32_pause();
  while (state.load(std::memory_order_acquire) == from) state.wait(from, std::memory_order_acquire);
}
}  // namespace

HartThreads::HartThreads(std::vector<cpu::Hart*> harts, uint64_t slice, GuestProfile* profile)
    : slice_(slice), profile_(profile) {
  for (size_t i = 1; i < harts.size(); i++) {
    auto w = std::make_unique<Worker>();
    w->hart = harts[i];
    w->index = i;
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
    await_change(w.state, kParked);
    if (w.state.load(std::memory_order_acquire) == kQuit) return;
    run_until_held(w);
    w.state.store(kParked, std::memory_order_release);
    w.state.notify_one();
    bump();
  }
}

// A released hart that can run runs at least one slice before it parks:
// with the harts held at every slice of hart 0 (a slice hook due each
// time), one whose thread is slow to wake would otherwise never run.
void HartThreads::run_until_held(Worker& w) {
  cpu::Hart& h = *w.hart;
  for (bool ran = false;;) {
    if (w.in_wfi.load(std::memory_order_relaxed)) {
      const uint32_t seen = events_.load(std::memory_order_seq_cst);
      if (w.held.load(std::memory_order_seq_cst)) return;
      if (!h.wfi_should_wake()) {
        events_.wait(seen, std::memory_order_seq_cst);
        continue;
      }
      w.in_wfi.store(false, std::memory_order_seq_cst);
    } else if (ran && w.held.load(std::memory_order_seq_cst)) {
      return;
    }
    const uint64_t before = h.instret();
    const cpu::StopReason why = h.run(slice_ - before % slice_);
    profile_->sample(w.index, h.pc(), h.priv(), h.reg(1), before, h.instret());
    const bool wfi = why == cpu::StopReason::kWfi;
    if (why == cpu::StopReason::kPause) sched_yield();  // the lock's holder may want this CPU
    ran = true;
    w.in_wfi.store(wfi, std::memory_order_seq_cst);
    bump();
  }
}

void HartThreads::bump() {
  events_.fetch_add(1, std::memory_order_seq_cst);
  events_.notify_all();
}

void HartThreads::release(size_t i, bool waiting) {
  Worker& w = *workers_[i - 1];
  w.held.store(false, std::memory_order_seq_cst);
  w.in_wfi.store(waiting, std::memory_order_seq_cst);
  w.state.store(kGo, std::memory_order_release);
  w.state.notify_one();
}

void HartThreads::hold(size_t i) {
  Worker& w = *workers_[i - 1];
  w.held.store(true, std::memory_order_seq_cst);
  bump();  // a hart waiting in a WFI looks again
}

bool HartThreads::parked(size_t i) {
  Worker& w = *workers_[i - 1];
  await_change(w.state, kGo);
  return w.in_wfi.load(std::memory_order_seq_cst);
}

}  // namespace tandem::board
