#include "base/thread.h"

#include <sched.h>

#include <memory>
#include <system_error>
#include <utility>

namespace tandem {

namespace {
struct Start {
  std::function<void()> body;
  cpu_set_t allowed;  // the creator's affinity, given back before the body runs
  bool narrowed = false;
};

void* run(void* arg) {
  std::unique_ptr<Start> start(static_cast<Start*>(arg));
  if (start->narrowed) sched_setaffinity(0, sizeof start->allowed, &start->allowed);
  start->body();
  return nullptr;
}
}  // namespace

Thread::Thread(std::function<void()> body) {
  auto start = std::make_unique<Start>();
  start->body = std::move(body);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (sched_getaffinity(0, sizeof start->allowed, &start->allowed) == 0) {
    cpu_set_t others = start->allowed;
    const int here = sched_getcpu();
    if (here >= 0 && here < CPU_SETSIZE) CPU_CLR(here, &others);
    // Only where another core is allowed, and only as a placement hint:
    // the thread widens its affinity again before doing anything.
    if (CPU_COUNT(&others) > 0 && pthread_attr_setaffinity_np(&attr, sizeof others, &others) == 0)
      start->narrowed = true;
  }
  int err = pthread_create(&handle_, &attr, run, start.get());
  if (err != 0 && start->narrowed) {  // a cpuset that refuses the mask: anywhere will do
    pthread_attr_destroy(&attr);
    pthread_attr_init(&attr);
    start->narrowed = false;
    err = pthread_create(&handle_, &attr, run, start.get());
  }
  pthread_attr_destroy(&attr);
  if (err != 0) throw std::system_error(err, std::generic_category(), "cannot start a thread");
  start.release();  // run() owns it now
  started_ = true;
}

Thread& Thread::operator=(Thread&& other) noexcept {
  if (this != &other) {
    join();
    handle_ = other.handle_;
    started_ = std::exchange(other.started_, false);
  }
  return *this;
}

void Thread::join() {
  if (!started_) return;
  pthread_join(handle_, nullptr);
  started_ = false;
}

}  // namespace tandem
