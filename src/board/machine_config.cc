#include "board/machine_config.h"

#include <cctype>

namespace tandem::board {

Result<uint64_t> parse_size(const std::string& text) {
  auto bad = Error("bad size '" + text + "' (expected a number with an optional K, M or G suffix)");
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return bad;
  size_t pos = 0;
  unsigned long long v;
  try {
    v = std::stoull(text, &pos, 10);
  } catch (...) {
    return bad;
  }
  unsigned shift = 20;  // a bare number is MiB, as in QEMU's -m
  if (pos < text.size()) {
    if (pos + 1 != text.size() && !(pos + 2 == text.size() && (text[pos + 1] == 'B' || text[pos + 1] == 'b')))
      return bad;
    switch (std::toupper(static_cast<unsigned char>(text[pos]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'B': shift = 0; break;
      default: return bad;
    }
  }
  if (v > (~0ull >> shift)) return bad;
  return static_cast<uint64_t>(v) << shift;
}

}  // namespace tandem::board
