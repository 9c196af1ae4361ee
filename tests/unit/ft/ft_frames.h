// Frames for the fault-tolerance tests: TCP over IPv4 and IPv6 with
// timestamps and SACK (RFC 7323, RFC 2018), UDP, ICMP, and a checksum
// check computed from scratch. Builds on the net tests' frames.h.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../net/frames.h"

namespace tandem::ft::test {

using net::test::Frame;
using net::test::Mac;
using net::test::put16;
using net::test::put32;
using net::test::get16;
using net::test::get32;

inline constexpr Mac kGuestMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
inline constexpr Mac kRouterMac = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
inline constexpr uint32_t kGuest4 = 0x0a00020f, kClient4 = 0x0a000202;  // 10.0.2.15, 10.0.2.2
inline constexpr uint16_t kGuestPort = 80, kClientPort = 41234;
inline const std::array<uint8_t, 16> kGuest6 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15};
inline const std::array<uint8_t, 16> kClient6 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct Seg {
  uint32_t seq = 0, ack = 0;
  uint8_t flags = kAck;
  std::string data{};
  std::optional<std::pair<uint32_t, uint32_t>> ts{};  // TSval, TSecr
  std::vector<std::pair<uint32_t, uint32_t>> sack{};
  bool v6 = false;
  bool odd_options = false;  // one NOP first: the options' fields at odd offsets
  uint16_t guest_port = kGuestPort;
};

inline uint32_t sum_bytes(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  return s;
}

// IPv6 header (40 bytes, no extension headers), then the payload.
inline Frame ipv6_packet(const Mac& dst_mac, const Mac& src_mac, const std::array<uint8_t, 16>& src,
                         const std::array<uint8_t, 16>& dst, uint8_t next, const Frame& l4) {
  Frame f = net::test::ethernet(dst_mac, src_mac, net::test::kEtherIpv6, 40 + l4.size());
  size_t ip = net::test::kEthHeader;
  f[ip] = 0x60;
  put16(f, ip + 4, uint16_t(l4.size()));
  f[ip + 6] = next;
  f[ip + 7] = 64;
  for (size_t i = 0; i < 16; i++) {
    f[ip + 8 + i] = src[i];
    f[ip + 24 + i] = dst[i];
  }
  for (size_t i = 0; i < l4.size(); i++) f[ip + 40 + i] = l4[i];
  return f;
}

// Where the transport header is and its pseudo-header sum (RFC 9293 3.1,
// RFC 8200 8.1).
struct L4 {
  size_t off = 0, len = 0;
  uint32_t pseudo = 0;
};
inline std::optional<L4> find_l4(const Frame& f, uint8_t want_proto) {
  if (f.size() < 14) return std::nullopt;
  size_t ip = 14;
  if (net::test::ether_type(f) == net::test::kEtherIpv4) {
    auto v = net::test::parse_ipv4(f);
    if (!v || v->proto != want_proto) return std::nullopt;
    return L4{v->l4, v->l4_len, sum_bytes(&f[ip + 12], 8) + want_proto + uint32_t(v->l4_len)};
  }
  if (net::test::ether_type(f) == net::test::kEtherIpv6 && f.size() >= ip + 40 && f[ip + 6] == want_proto) {
    size_t len = get16(f, ip + 4);
    return L4{ip + 40, len, sum_bytes(&f[ip + 8], 32) + want_proto + uint32_t(len)};
  }
  return std::nullopt;
}

// True when the TCP checksum, recomputed over the whole segment, holds.
inline bool tcp_checksum_ok(const Frame& f) {
  auto l4 = find_l4(f, 6);
  return l4 && net::test::inet_checksum(f, l4->off, l4->len, l4->pseudo) == 0;
}

inline Frame tcp(bool from_guest, const Seg& s) {
  Frame opts;
  if (s.odd_options) opts.push_back(1);
  if (s.ts) {
    Frame t(10);
    t[0] = 8;
    t[1] = 10;
    put32(t, 2, s.ts->first);
    put32(t, 6, s.ts->second);
    opts.insert(opts.end(), t.begin(), t.end());
  }
  if (!s.sack.empty()) {
    Frame k(2 + 8 * s.sack.size());
    k[0] = 5;
    k[1] = uint8_t(k.size());
    for (size_t i = 0; i < s.sack.size(); i++) {
      put32(k, 2 + 8 * i, s.sack[i].first);
      put32(k, 6 + 8 * i, s.sack[i].second);
    }
    opts.insert(opts.end(), k.begin(), k.end());
  }
  while (opts.size() % 4) opts.push_back(0);  // End of Option List padding
  size_t hl = 20 + opts.size();
  Frame t(hl + s.data.size(), 0);
  uint16_t client_port = kClientPort;
  put16(t, 0, from_guest ? s.guest_port : client_port);
  put16(t, 2, from_guest ? client_port : s.guest_port);
  put32(t, 4, s.seq);
  put32(t, 8, s.ack);
  t[12] = uint8_t(hl / 4 << 4);
  t[13] = s.flags;
  put16(t, 14, 29200);
  for (size_t i = 0; i < opts.size(); i++) t[20 + i] = opts[i];
  for (size_t i = 0; i < s.data.size(); i++) t[hl + i] = uint8_t(s.data[i]);
  Frame f;
  if (s.v6) {
    f = from_guest ? ipv6_packet(kRouterMac, kGuestMac, kGuest6, kClient6, 6, t)
                   : ipv6_packet(kGuestMac, kRouterMac, kClient6, kGuest6, 6, t);
  } else {
    f = from_guest ? net::test::ipv4_packet(kRouterMac, kGuestMac, kGuest4, kClient4, 6, t)
                   : net::test::ipv4_packet(kGuestMac, kRouterMac, kClient4, kGuest4, 6, t);
  }
  auto l4 = find_l4(f, 6);
  put16(f, l4->off + 16, net::test::inet_checksum(f, l4->off, l4->len, l4->pseudo));
  return f;
}
inline Frame out(const Seg& s) { return tcp(true, s); }  // guest -> client
inline Frame in(const Seg& s) { return tcp(false, s); }  // client -> guest

// Reading a TCP frame back.
inline uint32_t seq_of(const Frame& f) { return get32(f, find_l4(f, 6)->off + 4); }
inline uint32_t ack_of(const Frame& f) { return get32(f, find_l4(f, 6)->off + 8); }
// Offset of option `kind` in the frame, or 0.
inline size_t option_at(const Frame& f, uint8_t kind) {
  size_t t = find_l4(f, 6)->off;
  size_t hl = size_t(f[t + 12] >> 4) * 4;
  for (size_t o = 20; o < hl;) {
    if (f[t + o] == 0) break;
    if (f[t + o] == 1) {
      o++;
      continue;
    }
    if (f[t + o] == kind) return t + o;
    o += f[t + o + 1];
  }
  return 0;
}

inline Frame udp_out(uint16_t sport, uint16_t dport, const std::string& data) {
  Frame u(8 + data.size(), 0);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, uint16_t(u.size()));
  for (size_t i = 0; i < data.size(); i++) u[8 + i] = uint8_t(data[i]);
  return net::test::ipv4_packet(kRouterMac, kGuestMac, kGuest4, kClient4, 17, u);
}

// ICMP echo request (type 8) with the given id; checksum 0 is fine here.
inline Frame ping_out(uint16_t id, uint16_t seq, const std::string& data, bool v6 = false) {
  Frame m(8 + data.size(), 0);
  m[0] = v6 ? 128 : 8;
  put16(m, 4, id);
  put16(m, 6, seq);
  for (size_t i = 0; i < data.size(); i++) m[8 + i] = uint8_t(data[i]);
  return v6 ? ipv6_packet(kRouterMac, kGuestMac, kGuest6, kClient6, 58, m)
            : net::test::ipv4_packet(kRouterMac, kGuestMac, kGuest4, kClient4, 1, m);
}

}  // namespace tandem::ft::test
