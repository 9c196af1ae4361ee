#include "replication/diff_candidates.h"

#include <algorithm>

namespace tandem::replication {

DiffCandidates::DiffCandidates(size_t pages, uint32_t after, uint32_t max_words)
    : state_(pages), after_(std::clamp<uint32_t>(after, 1, kStreak)), max_words_(max_words) {}

void DiffCandidates::note(uint32_t page, uint32_t changed) {
  uint8_t s = state_[page];
  const bool was = s & kCandidate;
  uint8_t streak = s & kStreak;
  if (changed <= max_words_) {
    if (streak < kStreak) streak++;
  } else {
    streak = 0;
  }
  const bool now = streak >= after_;
  s = static_cast<uint8_t>((s & ~(kStreak | kCandidate)) | streak | (now ? kCandidate : 0));
  if (now != was) {
    count_ += now ? 1 : size_t(-1);
    if (!(s & kFlipped)) {
      s |= kFlipped;
      flipped_.push_back(page);
    }
  }
  state_[page] = s;
}

Feedback DiffCandidates::take_changes() {
  Feedback f;
  std::sort(flipped_.begin(), flipped_.end());
  for (uint32_t p : flipped_) {
    uint8_t& s = state_[p];
    const bool now = s & kCandidate, told = s & kReported;
    if (now != told) (now ? f.added : f.removed).push_back(p);
    s = static_cast<uint8_t>((s & ~(kFlipped | kReported)) | (now ? kReported : 0));
  }
  flipped_.clear();
  return f;
}

}  // namespace tandem::replication
