// One bit per guest page, changed atomically: the vCPU, device backends and
// background savers may touch page states at the same time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tandem::mem {

class PageBitmap {
 public:
  explicit PageBitmap(size_t pages);

  size_t size() const { return pages_; }
  bool test(size_t page) const {
    return (words_[page / 64].load(std::memory_order_acquire) >> (page % 64)) & 1;
  }
  // Both return the bit's previous value.
  bool set(size_t page) {
    uint64_t m = uint64_t{1} << (page % 64);
    return words_[page / 64].fetch_or(m, std::memory_order_acq_rel) & m;
  }
  bool clear(size_t page) {
    uint64_t m = uint64_t{1} << (page % 64);
    return words_[page / 64].fetch_and(~m, std::memory_order_acq_rel) & m;
  }
  void clear_all();
  void set_all();
  size_t count() const;
  bool any() const;
  // Indices of set bits in ascending order.
  std::vector<uint32_t> list() const;
  // Raw word access for serializers.
  size_t word_count() const { return (pages_ + 63) / 64; }
  uint64_t word(size_t i) const { return words_[i].load(std::memory_order_acquire); }
  void set_word(size_t i, uint64_t v) { words_[i].store(v, std::memory_order_release); }
  uint64_t take_word(size_t i) { return words_[i].exchange(0, std::memory_order_acq_rel); }
  void or_word(size_t i, uint64_t v) { words_[i].fetch_or(v, std::memory_order_acq_rel); }

 private:
  size_t pages_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

}  // namespace tandem::mem
