#include "net/tcp_seq_shift.h"

namespace tandem::net {

namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr size_t kEthHeader = 14;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpAck = 0x10;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t{be16(p)} << 16 | be16(p + 2); }
void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put_be32(uint8_t* p, uint32_t v) {
  put_be16(p, static_cast<uint16_t>(v >> 16));
  put_be16(p + 2, static_cast<uint16_t>(v));
}

// Serial number arithmetic (RFC 1982): a is after b.
bool seq_after(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

// Replaces the 32-bit field at `field` and patches the TCP checksum at
// `sum` for it: HC' = ~(~HC + ~m + m') per 16-bit word (RFC 1624, eqn. 3).
void rewrite32(uint8_t* field, uint8_t* sum, uint32_t value) {
  uint32_t old = be32(field);
  uint32_t acc = static_cast<uint16_t>(~be16(sum));
  acc += static_cast<uint16_t>(~(old >> 16)) + static_cast<uint16_t>(~old);
  acc += (value >> 16) + (value & 0xffff);
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  put_be32(field, value);
  put_be16(sum, static_cast<uint16_t>(~acc));
}

}  // namespace

bool find_tcp(const uint8_t* f, size_t len, TcpLocation* out) {
  if (len < kEthHeader) return false;
  uint16_t type = be16(f + 12);
  const uint8_t* ip = f + kEthHeader;
  size_t ip_room = len - kEthHeader;
  size_t l4 = 0, l4_len = 0;
  if (type == kEtherIpv4) {
    if (ip_room < 20 || (ip[0] >> 4) != 4) return false;
    size_t ihl = size_t{ip[0] & 0xfu} * 4;
    size_t total = be16(ip + 2);
    if (ip[9] != kProtoTcp || ihl < 20 || total < ihl || total > ip_room) return false;
    if ((be16(ip + 6) & 0x1fff) != 0) return false;  // not the first fragment
    l4 = ihl;
    l4_len = total - ihl;
  } else if (type == kEtherIpv6) {
    if (ip_room < 40 || (ip[0] >> 4) != 6 || ip[6] != kProtoTcp) return false;
    size_t payload = be16(ip + 4);
    if (payload > ip_room - 40) return false;
    l4 = 40;
    l4_len = payload;
  } else {
    return false;
  }
  if (l4_len < 20) return false;
  size_t data_off = static_cast<size_t>(ip[l4 + 12] >> 4) * 4;
  if (data_off < 20 || data_off > l4_len) return false;
  out->tcp = kEthHeader + l4;
  out->payload_len = l4_len - data_off;
  return true;
}

void TcpSeqShift::to_guest(uint8_t* frame, size_t len) {
  TcpLocation at;
  if (!find_tcp(frame, len, &at)) return;
  uint8_t* tcp = frame + at.tcp;
  uint32_t seq = be32(tcp + 4);
  if (s_.offset != 0) {
    seq += s_.offset;
    rewrite32(tcp + 4, tcp + 16, seq);
  }
  uint8_t flags = tcp[13];
  uint32_t end = seq + static_cast<uint32_t>(at.payload_len) + ((flags & kTcpSyn) ? 1 : 0) +
                 ((flags & kTcpFin) ? 1 : 0);
  if (!s_.seen || seq_after(end, s_.high)) {
    s_.high = end;
    s_.seen = true;
  }
}

bool TcpSeqShift::from_guest(uint8_t* frame, size_t len) const {
  if (s_.offset == 0) return false;
  TcpLocation at;
  if (!find_tcp(frame, len, &at)) return false;
  uint8_t* tcp = frame + at.tcp;
  if (!(tcp[13] & kTcpAck)) return false;
  rewrite32(tcp + 8, tcp + 16, be32(tcp + 8) - s_.offset);
  return true;
}

void TcpSeqShift::resume(const State& saved) {
  s_ = saved;
  // The fresh stack's first numbers are small and positive: shifted by
  // high + 1 they all land after everything the guest saw. Nothing sent
  // yet: no constraint, keep the saved offset.
  if (saved.seen) s_.offset = saved.high + 1;
}

}  // namespace tandem::net
