// Reading and patching TCP segments inside Ethernet frames, shared by the
// user-network sequence shift (tcp_seq_shift.h) and the fault-tolerance
// sequence map (ft/seq_map.h). Layouts: RFC 791 (IPv4), RFC 8200 (IPv6),
// RFC 9293 (TCP).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::net {

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr size_t kEthHeader = 14;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) { return uint32_t{be16(p)} << 16 | be16(p + 2); }
inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put_be32(uint8_t* p, uint32_t v) {
  put_be16(p, static_cast<uint16_t>(v >> 16));
  put_be16(p + 2, static_cast<uint16_t>(v));
}

// Serial number arithmetic (RFC 1982): a is after b.
inline bool seq_after(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

// Where a frame's TCP header is: Ethernet II carrying IPv4 (first
// fragment) or IPv6 (TCP as the first next header).
struct TcpLocation {
  size_t tcp = 0;          // offset of the TCP header
  size_t header_len = 0;   // TCP header with options (data offset * 4)
  size_t payload_len = 0;  // TCP payload bytes
  bool ipv6 = false;
};
bool find_tcp(const uint8_t* frame, size_t len, TcpLocation* out);

// Replaces the 32-bit big-endian field `off` bytes into the segment at
// `tcp` and patches the TCP checksum for it (RFC 1624, eqn. 3). `off` may
// be odd (an option not padded to a word): each byte is weighed by where
// it falls in its 16-bit word.
void rewrite_tcp32(uint8_t* tcp, size_t off, uint32_t value);

// TCP option walk (RFC 9293 3.1): calls fn(kind, offset of the option in
// the segment, its length) for each option that fits the header; stops at
// End of Option List or at a malformed length.
template <typename Fn>
void for_each_tcp_option(const uint8_t* tcp, size_t header_len, Fn fn) {
  size_t o = 20;
  while (o < header_len) {
    uint8_t kind = tcp[o];
    if (kind == 0) return;  // End of Option List
    if (kind == 1) {        // No-Operation
      o++;
      continue;
    }
    if (o + 2 > header_len) return;
    size_t len = tcp[o + 1];
    if (len < 2 || o + len > header_len) return;
    fn(kind, o, len);
    o += len;
  }
}

inline constexpr uint8_t kTcpOptSack = 5, kTcpOptTimestamps = 8;

}  // namespace tandem::net
