// What the output comparator reports when the two guests' outputs part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem::ft {

enum class DivergenceKind : uint8_t {
  content,   // different bytes: TCP payload, a datagram, an ARP message, a frame
  flags,     // SYN, FIN or RST by one guest and not the other, or elsewhere
  sequence,  // a TCP stream that cannot be lined up (a gap, a different start)
  memory,    // the secondary's unmatched output outgrew the comparator's cap
};
inline constexpr size_t kDivergenceKinds = 4;

const char* kind_name(DivergenceKind k);

struct Divergence {
  DivergenceKind kind = DivergenceKind::content;
  std::string flow;         // "tcp 10.0.2.15:80 -> 10.0.2.2:41234"
  std::string description;  // the flow, then what differs
};

// 1234567 -> "1,234,567", for positions in messages people read.
std::string group_digits(uint64_t v);

}  // namespace tandem::ft
