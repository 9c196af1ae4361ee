// One client's view of the guest's dirty pages: its own log, epochs and
// modification history. Replication, a live save, a working-set recording
// and fault tolerance each open one, so none takes another's dirty pages.
//
// The CPU marks a written page in GuestMemory's one shared bitmap (its
// write TLB entry exists only while that bit is set: the cheap path stays
// one bit). Whenever any client ends an epoch, the shared bits are
// harvested: the ending client gets them with those it had been handed
// before, every other open log keeps them until its own end_epoch().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/zeroed_array.h"
#include "mem/page_bitmap.h"

namespace tandem::mem {

class GuestMemory;

class DirtyLog {
 public:
  ~DirtyLog();  // closes the log (on the vCPU thread or with it stopped)
  DirtyLog(const DirtyLog&) = delete;
  DirtyLog& operator=(const DirtyLog&) = delete;

  // Ends this client's epoch: returns, ascending, the pages written (by
  // the CPU or a device) since the previous end_epoch() or since the log
  // was opened, and re-arms the CPU. On the vCPU thread or with it stopped.
  std::vector<uint32_t> end_epoch();
  // Epochs this log has ended.
  uint64_t epoch() const { return epoch_; }
  // Bit i set: the page was dirty in the epoch of this log that ended
  // i+1 epochs ago (16 epochs are kept).
  uint16_t history(size_t page) const;
  // Pages handed to this log and not yet taken by its end_epoch().
  const PageBitmap& pending() const { return pending_; }
  const std::string& owner() const { return owner_; }

  static constexpr uint32_t kHistoryEpochs = 16;

 private:
  friend class GuestMemory;
  DirtyLog(GuestMemory& mem, std::string owner, size_t pages);
  void note_epoch(const std::vector<uint32_t>& pages);

  GuestMemory& mem_;
  std::string owner_;
  PageBitmap pending_;
  // Per page, its history as of the epoch it was last dirty in (bit 0:
  // dirty in `last`), brought up to date when read: ending an epoch then
  // costs the pages dirtied in it, not the guest's size.
  struct History {
    uint32_t last;
    uint16_t bits;
  };
  ZeroedArray<History> history_;
  uint64_t epoch_ = 0;
  size_t last_count_ = 0;  // pages the last end_epoch() returned
};

}  // namespace tandem::mem
