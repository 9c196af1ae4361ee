#include "replication/deferred_copy.h"

#include <algorithm>
#include <cstring>

namespace tandem::replication {

DeferredCopy::DeferredCopy(mem::GuestMemory& ram, mem::WriteHook& hook, std::vector<uint32_t> pages)
    : ram_(ram), hook_(hook), pages_(std::move(pages)), copied_(pages_.size(), 0) {
  data_.reserve(pages_.size() * mem::kPageSize);
}

void DeferredCopy::copy(size_t slot) {
  std::memcpy(data_.bytes.get() + slot * mem::kPageSize, ram_.page_host(pages_[slot]), mem::kPageSize);
  copied_[slot] = 1;
}

void DeferredCopy::on_write(size_t page) {
  auto it = std::lower_bound(pages_.begin(), pages_.end(), static_cast<uint32_t>(page));
  if (it == pages_.end() || *it != page) return;
  const size_t slot = static_cast<size_t>(it - pages_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  if (copied_[slot]) return;
  copy(slot);
  faults_++;
}

const uint8_t* DeferredCopy::finish() {
  for (size_t slot = 0; slot < pages_.size(); slot++) {
    // While the lock is held no write can land on the page: its hook,
    // which runs first, waits for the lock.
    std::lock_guard<std::mutex> lock(mu_);
    if (!copied_[slot]) copy(slot);
    hook_.unprotect(pages_[slot]);
  }
  return data_.bytes.get();
}

}  // namespace tandem::replication
