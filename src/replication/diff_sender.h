// The primary's half of page diffs (issue 13). The backup reports which
// pages change little from version to version (DiffCandidates); for each
// such candidate the sender keeps a copy of the contents it last sent,
// which is what the backup holds once that checkpoint is in, and sends the
// next version as a diff against it (replication/page_diff.h), or whole
// when the diff is larger than half a page. The copies live within a
// budget; when it is spent, the least useful go first: those that saved
// least per epoch (bytes saved by their last diff over the epochs between
// their sends, or since their last send if longer).
//
// A diff the backup refuses (the version it holds is not the one the diff
// was made against) makes it hold that checkpoint and ask for the page
// whole: the next stun copies the page (refused_pages()) and the sender
// sends it whole, which completes the held checkpoints.
//
// Threads: on_feedback() on the receiver thread, refused_pages() at the
// stun, the rest on the sender thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mem/page_bitmap.h"
#include "replication/protocol.h"
#include "replication/stats.h"

namespace tandem::replication {

class DiffSender {
 public:
  DiffSender(size_t pages, uint64_t budget_bytes);

  // Receiver thread: the backup's feedback.
  void on_feedback(const Feedback& f);
  // The stun: pages the backup asked for whole and has not been sent
  // whole since, ascending (empty at once when there are none).
  std::vector<uint32_t> refused_pages() const;

  // Sender thread. A checkpoint's pages go through add() between begin()
  // and end().
  void begin(uint64_t epoch);
  // `page`, with contents `src`, goes into this checkpoint: true when it
  // went into the diff batch, false when it is to be sent whole. Either
  // way the page's copy (a candidate's) becomes `src`.
  bool add(uint32_t page, const uint8_t* src);
  size_t batched() const { return batch_pages_.size(); }
  // The batch as a diffs message's payload; the batch is emptied.
  std::vector<uint8_t> take_batch(state::BlockEncoder& encoder);
  void end();

  DiffStats stats() const;

 private:
  struct Slot {
    uint32_t page = 0;
    uint64_t hash = 0;       // page_hash() of the copy
    uint64_t last = 0;       // epoch of its last send
    uint32_t gap = 1;        // epochs between its last two sends
    uint32_t saved = 0;      // bytes its last diff saved (a guess before one)
  };
  uint8_t* slot_data(uint32_t slot) { return chunks_[slot / kSlotsPerChunk].get() + (slot % kSlotsPerChunk) * 4096; }
  // A free slot for a new copy, if the budget allows (evicting the least
  // useful copies once per checkpoint when it is spent); -1 if none.
  int64_t take_slot();
  void free_slot(uint32_t page);

  static constexpr uint32_t kSlotsPerChunk = 256;  // 1 MiB of copies at a time
  size_t max_slots_;
  mem::PageBitmap wanted_;             // the backup's candidates
  std::atomic<uint64_t> candidates_{0};

  mutable std::mutex mu_;              // what the receiver hands over
  std::unordered_set<uint32_t> refused_;  // pages to send whole
  std::atomic<bool> any_refused_{false};
  std::vector<uint32_t> removed_;      // candidates no longer: their copies go
  uint64_t refused_count_ = 0;         // under mu_

  // The sender thread's own.
  uint64_t epoch_ = 0;
  bool swept_ = false;                 // evicted in this checkpoint already
  std::unordered_set<uint32_t> resend_;  // refused pages at begin(): sent whole
  std::vector<uint32_t> resent_;       // those sent whole in this checkpoint
  std::unordered_map<uint32_t, uint32_t> kept_;  // page -> slot
  mem::PageBitmap has_copy_;           // the pages in kept_, tested without a lookup
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  std::vector<uint32_t> batch_pages_;
  std::vector<uint64_t> batch_hashes_;
  std::vector<uint16_t> batch_sizes_;
  std::vector<uint8_t> batch_;
  // Counts for stats(), read from other threads.
  std::atomic<uint64_t> diff_pages_{0}, diff_bytes_{0}, whole_{0}, evicted_{0}, kept_pages_{0}, kept_bytes_{0};
};

}  // namespace tandem::replication
