// A second thread for the dirty-bit harvest (GuestMemory::harvest, with
// set_harvest_threads(2)): while the vCPU thread takes one half of the
// dirty bitmap's words, this one takes the other. It sleeps between
// harvests; start() wakes it (30-60 us here), which is why only a big
// guest's harvest with few dirty pages takes it (docs/performance.md,
// "Parallel dirty scan").
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "base/thread.h"

namespace tandem::mem {

class HarvestWorker {
 public:
  HarvestWorker();
  ~HarvestWorker();
  HarvestWorker(const HarvestWorker&) = delete;
  HarvestWorker& operator=(const HarvestWorker&) = delete;

  // Runs `job` on the worker; wait() returns once it has.
  void start(std::function<void()> job);
  void wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool pending_ = false, quit_ = false;
  Thread thread_;
};

}  // namespace tandem::mem
