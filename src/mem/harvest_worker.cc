#include "mem/harvest_worker.h"

namespace tandem::mem {

HarvestWorker::HarvestWorker() {
  thread_ = Thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return pending_ || quit_; });
      if (quit_) return;
      lock.unlock();
      job_();
      lock.lock();
      pending_ = false;
      cv_.notify_all();
    }
  });
}

HarvestWorker::~HarvestWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void HarvestWorker::start(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(job);
    pending_ = true;
  }
  cv_.notify_all();
}

void HarvestWorker::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !pending_; });
}

}  // namespace tandem::mem
