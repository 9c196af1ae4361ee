#include "cpu/smp_sync.h"

#include <thread>

#include "cpu/hart.h"

namespace tandem::cpu {

namespace {
// Per thread: whether it executes a hart now, how deep its exclusive
// sections nest, and whether it executed when the outermost one began.
thread_local bool tl_executing = false;
thread_local int tl_depth = 0;
thread_local bool tl_resume = false;

// Waits are short (a hart reaches a block boundary within some 64
// instructions): spin first, then yield, as the other thread may not be
// on a core (more harts than host cores).
template <typename Done>
void spin_until(Done done) {
  for (int i = 0; !done(); i++) {
    if (i < 4096)
      __builtin_ia32_pause();
    else
      std::this_thread::yield();
  }
}
}  // namespace

void SmpSync::exec_start() {
  for (;;) {
    // Dekker with begin(): either it sees us running and waits for us, or
    // we see its flag and step back.
    running_.fetch_add(1, std::memory_order_seq_cst);
    if (!exclusive_.load(std::memory_order_seq_cst)) break;
    running_.fetch_sub(1, std::memory_order_seq_cst);
    for (int i = 0; i < 4096 && exclusive_.load(std::memory_order_acquire); i++) __builtin_ia32_pause();
    exclusive_.wait(true, std::memory_order_acquire);
  }
  tl_executing = true;
}

void SmpSync::exec_end() {
  tl_executing = false;
  running_.fetch_sub(1, std::memory_order_seq_cst);
}

void SmpSync::begin() {
  if (tl_depth++ > 0) return;
  tl_resume = tl_executing;
  if (tl_resume) exec_end();
  holder_mu_.lock();
  exclusive_.store(true, std::memory_order_seq_cst);
  exclusive_count_.fetch_add(1, std::memory_order_relaxed);
  for (Hart* h : harts_) h->request_pause();
  spin_until([this] { return running_.load(std::memory_order_seq_cst) == 0; });
}

void SmpSync::end() {
  if (--tl_depth > 0) return;
  exclusive_.store(false, std::memory_order_seq_cst);
  exclusive_.notify_all();
  holder_mu_.unlock();
  if (tl_resume) exec_start();
}

}  // namespace tandem::cpu
