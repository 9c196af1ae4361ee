#include "replication/diff_sender.h"

#include <algorithm>
#include <cstring>

#include "mem/guest_memory.h"
#include "replication/page_diff.h"

namespace tandem::replication {

namespace {
// A diff larger than this goes as the whole page: it would save too
// little to be worth the backup's work.
constexpr size_t kMaxUsefulDiff = mem::kPageSize / 2;
}  // namespace

DiffSender::DiffSender(size_t pages, uint64_t budget_bytes)
    : max_slots_(static_cast<size_t>(budget_bytes / mem::kPageSize)), wanted_(pages), has_copy_(pages) {}

void DiffSender::on_feedback(const Feedback& f) {
  for (uint32_t p : f.added)
    if (!wanted_.set(p)) candidates_++;
  for (uint32_t p : f.removed)
    if (wanted_.clear(p)) candidates_--;
  if (f.removed.empty() && f.refused.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  removed_.insert(removed_.end(), f.removed.begin(), f.removed.end());
  refused_.insert(f.refused.begin(), f.refused.end());
  refused_count_ += f.refused.size();
  if (!refused_.empty()) any_refused_ = true;
}

std::vector<uint32_t> DiffSender::refused_pages() const {
  if (!any_refused_) return {};
  std::vector<uint32_t> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out.assign(refused_.begin(), refused_.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void DiffSender::begin(uint64_t epoch) {
  epoch_ = epoch;
  swept_ = false;
  resend_.clear();
  resent_.clear();
  std::vector<uint32_t> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    removed.swap(removed_);
    resend_ = refused_;
  }
  for (uint32_t p : removed)
    if (!wanted_.test(p)) free_slot(p);
}

void DiffSender::end() {
  if (resent_.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t p : resent_) refused_.erase(p);
  any_refused_ = !refused_.empty();
}

void DiffSender::free_slot(uint32_t page) {
  if (!has_copy_.clear(page)) return;
  auto it = kept_.find(page);
  if (it == kept_.end()) return;
  free_.push_back(it->second);
  kept_.erase(it);
  kept_pages_--;
}

int64_t DiffSender::take_slot() {
  if (free_.empty() && slots_.size() < max_slots_) {
    // Another chunk of copies, within the budget.
    const size_t n = std::min<size_t>(kSlotsPerChunk, max_slots_ - slots_.size());
    chunks_.push_back(std::make_unique<uint8_t[]>(n * mem::kPageSize));
    kept_bytes_ += n * mem::kPageSize;
    for (size_t i = 0; i < n; i++) free_.push_back(static_cast<uint32_t>(slots_.size() + n - 1 - i));
    slots_.resize(slots_.size() + n);
  }
  if (free_.empty() && !swept_ && !kept_.empty()) {
    // The budget is spent: drop the least useful sixteenth of the copies.
    swept_ = true;
    std::vector<std::pair<double, uint32_t>> use;
    use.reserve(kept_.size());
    for (const auto& [page, slot] : kept_) {
      const Slot& s = slots_[slot];
      const uint64_t since = epoch_ - s.last;
      use.push_back({static_cast<double>(s.saved) / static_cast<double>(std::max<uint64_t>(s.gap, since)), page});
    }
    const size_t n = std::max<size_t>(1, use.size() / 16);
    std::nth_element(use.begin(), use.begin() + static_cast<long>(n - 1), use.end());
    for (size_t i = 0; i < n; i++) free_slot(use[i].second);
    evicted_ += n;
  }
  if (free_.empty()) return -1;
  const uint32_t slot = free_.back();
  free_.pop_back();
  return slot;
}

bool DiffSender::add(uint32_t page, const uint8_t* src) {
  if (!wanted_.test(page)) {
    if (has_copy_.test(page)) free_slot(page);
    return false;
  }
  const bool resend = resend_.count(page) != 0;
  if (resend) resent_.push_back(page);
  auto it = has_copy_.test(page) ? kept_.find(page) : kept_.end();
  bool diffed = false;
  if (it != kept_.end()) {
    Slot& s = slots_[it->second];
    uint8_t* copy = slot_data(it->second);
    if (!resend) {
      const size_t at = batch_.size();
      const size_t n = encode_page_diff(copy, src, batch_);
      if (n <= kMaxUsefulDiff) {
        batch_pages_.push_back(page);
        batch_hashes_.push_back(s.hash);
        batch_sizes_.push_back(static_cast<uint16_t>(n));
        diff_pages_++;
        diff_bytes_ += n;
        s.saved = static_cast<uint32_t>(mem::kPageSize - n);
        diffed = true;
      } else {
        batch_.resize(at);
        whole_++;
        s.saved = 0;
      }
    }
    s.gap = static_cast<uint32_t>(std::max<uint64_t>(1, epoch_ - s.last));
    s.last = epoch_;
    std::memcpy(copy, src, mem::kPageSize);
    s.hash = page_hash(copy);
    return diffed;
  }
  const int64_t slot = take_slot();
  if (slot < 0) return false;
  Slot& s = slots_[static_cast<size_t>(slot)];
  s = Slot{page, 0, epoch_, 1, static_cast<uint32_t>(mem::kPageSize / 2)};
  uint8_t* copy = slot_data(static_cast<uint32_t>(slot));
  std::memcpy(copy, src, mem::kPageSize);
  s.hash = page_hash(copy);
  kept_[page] = static_cast<uint32_t>(slot);
  has_copy_.set(page);
  kept_pages_++;
  return false;
}

std::vector<uint8_t> DiffSender::take_batch(state::BlockEncoder& encoder) {
  std::vector<uint8_t> payload =
      encode_diffs(batch_pages_, bases_hash(batch_hashes_), batch_sizes_, batch_, encoder);
  batch_pages_.clear();
  batch_hashes_.clear();
  batch_sizes_.clear();
  batch_.clear();
  return payload;
}

DiffStats DiffSender::stats() const {
  DiffStats s;
  s.on = true;
  s.candidates = candidates_;
  s.diff_pages = diff_pages_;
  s.diff_bytes = diff_bytes_;
  s.whole = whole_;
  s.evicted = evicted_;
  s.kept_pages = kept_pages_;
  s.kept_bytes = kept_bytes_;
  s.budget_bytes = max_slots_ * mem::kPageSize;
  std::lock_guard<std::mutex> lock(mu_);
  s.refused = refused_count_;
  return s;
}

}  // namespace tandem::replication
