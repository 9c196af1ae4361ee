#include "net/tcp_header.h"

namespace tandem::net {

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
  out->header_len = data_off;
  out->payload_len = l4_len - data_off;
  out->ipv6 = type == kEtherIpv6;
  return true;
}

namespace {

// The one's-complement sum of 4 bytes starting at an even (odd = false)
// or odd offset of the checksummed data: a byte at an even offset is the
// high half of its word.
uint32_t word_sum(uint32_t v, bool odd) {
  uint32_t hi = v >> 16, lo = v & 0xffff;
  if (!odd) return hi + lo;
  // Bytes b0 b1 b2 b3 fall as [.. b0] [b1 b2] [b3 ..].
  return (v >> 24) + ((v >> 8) & 0xffff) + ((v & 0xff) << 8);
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

}  // namespace

void rewrite_tcp32(uint8_t* tcp, size_t off, uint32_t value) {
  uint8_t* field = tcp + off;
  uint8_t* sum = tcp + 16;
  bool odd = off & 1;
  uint32_t acc = static_cast<uint16_t>(~be16(sum));
  acc += static_cast<uint16_t>(~fold(word_sum(be32(field), odd)));
  acc += fold(word_sum(value, odd));
  put_be32(field, value);
  put_be16(sum, static_cast<uint16_t>(~fold(acc)));
}

}  // namespace tandem::net
