#include "replication/page_diff.h"

#include <cstring>
#include <string>

#include "base/bytes.h"

namespace tandem::replication {

namespace {
uint64_t word(const uint8_t* p, size_t i) {
  uint64_t w;
  std::memcpy(&w, p + i * 8, 8);
  return w;
}
}  // namespace

size_t encode_page_diff(const uint8_t* base, const uint8_t* page, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  size_t i = 0, last_end = 0;
  while (i < kPageWords) {
    if (word(base, i) == word(page, i)) {
      i++;
      continue;
    }
    size_t end = i + 1;
    while (end < kPageWords && word(base, end) != word(page, end)) end++;
    const size_t at = out.size();
    out.resize(at + 4 + (end - i) * 8);
    store_le<uint16_t>(&out[at], static_cast<uint16_t>(i - last_end));
    store_le<uint16_t>(&out[at + 2], static_cast<uint16_t>(end - i));
    for (size_t k = i; k < end; k++) {
      const uint64_t x = word(base, k) ^ word(page, k);
      std::memcpy(&out[at + 4 + (k - i) * 8], &x, 8);
    }
    last_end = i = end;
  }
  return out.size() - start;
}

Result<uint32_t> apply_page_diff(std::span<const uint8_t> diff, uint8_t* page) {
  // Check every run first, so that a malformed diff changes nothing.
  size_t off = 0, pos = 0;
  uint32_t changed = 0;
  while (off < diff.size()) {
    if (diff.size() - off < 4) return Error("page diff: a run header is cut short at byte " + std::to_string(off));
    const size_t skip = load_le<uint16_t>(&diff[off]), count = load_le<uint16_t>(&diff[off + 2]);
    if (count == 0) return Error("page diff: an empty run at byte " + std::to_string(off));
    if (pos + skip + count > kPageWords)
      return Error("page diff: a run ends at word " + std::to_string(pos + skip + count) + ", past the page's " +
                   std::to_string(kPageWords));
    if (diff.size() - off - 4 < count * 8)
      return Error("page diff: a run of " + std::to_string(count) + " words is cut short");
    off += 4 + count * 8;
    pos += skip + count;
    changed += static_cast<uint32_t>(count);
  }
  off = pos = 0;
  while (off < diff.size()) {
    const size_t skip = load_le<uint16_t>(&diff[off]), count = load_le<uint16_t>(&diff[off + 2]);
    pos += skip;
    for (size_t k = 0; k < count; k++) {
      uint64_t w = word(page, pos + k), x;
      std::memcpy(&x, &diff[off + 4 + k * 8], 8);
      w ^= x;
      std::memcpy(page + (pos + k) * 8, &w, 8);
    }
    off += 4 + count * 8;
    pos += count;
  }
  return changed;
}

uint32_t changed_words(const uint8_t* a, const uint8_t* b) {
  uint32_t n = 0;
  for (size_t i = 0; i < kPageWords; i++) n += word(a, i) != word(b, i);
  return n;
}

}  // namespace tandem::replication
