// The pages of one checkpoint that its stun write-protected instead of
// copying (issue 13's modification history: a page dirty in few recent
// epochs will probably not be written again soon, so protecting it costs
// less than copying it with the guest stopped). Each is copied once,
// either by the sender in the background or, if the guest writes it
// first, by the write hook before the write lands; so the checkpoint gets
// every page as it was at the stun.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "mem/guest_memory.h"
#include "replication/page_buffer.h"

namespace tandem::replication {

class DeferredCopy {
 public:
  // `pages` ascending; the caller protects them with `hook` right after.
  DeferredCopy(mem::GuestMemory& ram, mem::WriteHook& hook, std::vector<uint32_t> pages);

  // The write hook, on the writer's thread: copies `page` if it is one of
  // these and not copied yet.
  void on_write(size_t page);
  // The sender: copies every page not copied yet, lifting its protection;
  // then the contents, in pages() order.
  const uint8_t* finish();
  const std::vector<uint32_t>& pages() const { return pages_; }
  // Pages the guest's writes copied (copy-on-write faults).
  uint64_t faults() const { return faults_; }

 private:
  void copy(size_t slot);  // with mu_ held

  mem::GuestMemory& ram_;
  mem::WriteHook& hook_;
  std::vector<uint32_t> pages_;
  PageBuffer data_;
  std::mutex mu_;
  std::vector<uint8_t> copied_;
  std::atomic<uint64_t> faults_{0};
};

}  // namespace tandem::replication
