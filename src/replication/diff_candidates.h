// The backup's half of page diffs (issue 13): it compares each version of
// a page it receives with the version it held, and a page whose last
// `after` versions each changed at most `max_words` 8-byte words becomes a
// diff candidate; one version that changed more ends its candidacy. The
// primary learns the changes from feedback messages and keeps, for a
// candidate, the contents it last sent, so as to send diffs against them.
#pragma once

#include <cstdint>
#include <vector>

#include "base/zeroed_array.h"
#include "replication/protocol.h"

namespace tandem::replication {

class DiffCandidates {
 public:
  DiffCandidates(size_t pages, uint32_t after, uint32_t max_words);

  // A new version of `page` arrived that differs from the one before in
  // `changed` words.
  void note(uint32_t page, uint32_t changed);
  bool is_candidate(uint32_t page) const { return state_[page] & kCandidate; }
  size_t count() const { return count_; }
  // Whether take_changes() has anything to say.
  bool changed() const { return !flipped_.empty(); }
  // The pages that became candidates and those that stopped being ones
  // since the last call (a page that went and came back is not listed).
  Feedback take_changes();

 private:
  // Per page: consecutive low-difference versions (saturating), whether it
  // is a candidate, whether the primary was last told so, and whether it
  // is in flipped_ already.
  static constexpr uint8_t kStreak = 0x1f;
  static constexpr uint8_t kCandidate = 0x80;
  static constexpr uint8_t kReported = 0x40;
  static constexpr uint8_t kFlipped = 0x20;
  ZeroedArray<uint8_t> state_;
  uint32_t after_, max_words_;
  size_t count_ = 0;
  std::vector<uint32_t> flipped_;
};

}  // namespace tandem::replication
