#include "mem/page_bitmap.h"

#include <bit>

namespace tandem::mem {

PageBitmap::PageBitmap(size_t pages)
    : pages_(pages), words_(new std::atomic<uint64_t>[(pages + 63) / 64]) {
  clear_all();
}

void PageBitmap::clear_all() {
  for (size_t i = 0; i < word_count(); i++) words_[i].store(0, std::memory_order_release);
}

void PageBitmap::set_all() {
  for (size_t i = 0; i < word_count(); i++) {
    size_t first = i * 64;
    size_t n = pages_ - first < 64 ? pages_ - first : 64;
    words_[i].store(n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1, std::memory_order_release);
  }
}

size_t PageBitmap::count() const {
  size_t n = 0;
  for (size_t i = 0; i < word_count(); i++) n += std::popcount(word(i));
  return n;
}

bool PageBitmap::any() const {
  for (size_t i = 0; i < word_count(); i++)
    if (word(i)) return true;
  return false;
}

namespace {
void append_bits(std::vector<uint32_t>& out, size_t word_index, uint64_t w) {
  while (w) {
    out.push_back(static_cast<uint32_t>(word_index * 64 + std::countr_zero(w)));
    w &= w - 1;
  }
}
}  // namespace

std::vector<uint32_t> PageBitmap::list() const {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < word_count(); i++) append_bits(out, i, word(i));
  return out;
}

}  // namespace tandem::mem
