#include "ft/divergence.h"

namespace tandem::ft {

const char* kind_name(DivergenceKind k) {
  switch (k) {
    case DivergenceKind::content: return "content";
    case DivergenceKind::flags: return "flags";
    case DivergenceKind::sequence: return "sequence";
    case DivergenceKind::memory: return "memory";
  }
  return "?";
}

std::string group_digits(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace tandem::ft
