// One owner's write protection (copy-on-write). A `snapshot save` and
// replication's deferred copies may protect pages at the same time; each
// owner protects its own pages and has its own hook, and the first write
// to a page calls the hook of every owner that protected it, before the
// write lands, on the writer's thread.
//
// GuestMemory keeps the union of the owners' bits: the CPU's slow path
// tests one bit. The union is cleared only by a write's slow path (when
// no owner still protects the page), so an owner that lifts its
// protection from another thread never races a protect() on the vCPU
// thread; a stale union bit costs one slow path.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "mem/page_bitmap.h"

namespace tandem::mem {

class GuestMemory;

class WriteHook {
 public:
  ~WriteHook();  // removes the hook; on the vCPU thread or with it stopped
  WriteHook(const WriteHook&) = delete;
  WriteHook& operator=(const WriteHook&) = delete;

  // Protect on the vCPU thread or with it stopped (they re-arm the CPU).
  void protect(std::span<const uint32_t> pages);
  void protect_all();
  // Any thread: the owner copied the page itself and needs no call.
  void unprotect(size_t page) { pages_.clear(page); }
  bool is_protected(size_t page) const { return pages_.test(page); }
  const std::string& owner() const { return owner_; }

 private:
  friend class GuestMemory;
  WriteHook(GuestMemory& mem, std::string owner, std::function<void(size_t)> fn, size_t pages);

  GuestMemory& mem_;
  std::string owner_;
  std::function<void(size_t)> fn_;
  PageBitmap pages_;
};

}  // namespace tandem::mem
