// Builds and reads the few Ethernet frames the net tests exchange with
// slirp, playing the guest. Layouts: RFC 826 (ARP), RFC 791 (IPv4),
// RFC 768 (UDP), RFC 793 (TCP), RFC 2131/2132 (DHCP), RFC 4861 (NDP).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::net::test {

using Mac = std::array<uint8_t, 6>;
using Frame = std::vector<uint8_t>;

inline constexpr Mac kGuestMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
inline constexpr Mac kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr size_t kEthHeader = 14;

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpPsh = 0x08, kTcpAck = 0x10;

inline uint16_t get16(const Frame& f, size_t off) { return uint16_t(f.at(off) << 8 | f.at(off + 1)); }
inline uint32_t get32(const Frame& f, size_t off) {
  return uint32_t{get16(f, off)} << 16 | get16(f, off + 2);
}
inline void put16(Frame& f, size_t off, uint16_t v) {
  f.at(off) = uint8_t(v >> 8);
  f.at(off + 1) = uint8_t(v);
}
inline void put32(Frame& f, size_t off, uint32_t v) {
  put16(f, off, uint16_t(v >> 16));
  put16(f, off + 2, uint16_t(v));
}
inline Mac get_mac(const Frame& f, size_t off) {
  Mac m{};
  for (size_t i = 0; i < 6; i++) m[i] = f.at(off + i);
  return m;
}
inline void put_mac(Frame& f, size_t off, const Mac& m) {
  for (size_t i = 0; i < 6; i++) f.at(off + i) = m[i];
}

inline uint16_t ether_type(const Frame& f) { return f.size() >= kEthHeader ? get16(f, 12) : 0; }

// Internet checksum (RFC 1071) over [off, off+len), plus `sum` carried in.
inline uint16_t inet_checksum(const Frame& f, size_t off, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += get16(f, off + i);
  if (len & 1) sum += uint32_t{f.at(off + len - 1)} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

inline Frame ethernet(const Mac& dst, const Mac& src, uint16_t type, size_t payload) {
  Frame f(kEthHeader + payload, 0);
  put_mac(f, 0, dst);
  put_mac(f, 6, src);
  put16(f, 12, type);
  return f;
}

// ARP over Ethernet/IPv4: op 1 request, 2 reply. Padded to 60 bytes.
inline Frame arp(uint16_t op, const Mac& eth_dst, const Mac& sha, uint32_t spa, const Mac& tha,
                 uint32_t tpa) {
  Frame f = ethernet(eth_dst, sha, kEtherArp, 46);
  size_t a = kEthHeader;
  put16(f, a + 0, 1);       // htype Ethernet
  put16(f, a + 2, 0x0800);  // ptype IPv4
  f[a + 4] = 6;
  f[a + 5] = 4;
  put16(f, a + 6, op);
  put_mac(f, a + 8, sha);
  put32(f, a + 14, spa);
  put_mac(f, a + 18, tha);
  put32(f, a + 24, tpa);
  return f;
}

struct ArpView {
  uint16_t op;
  Mac sha;
  uint32_t spa;
  Mac tha;
  uint32_t tpa;
};
inline std::optional<ArpView> parse_arp(const Frame& f) {
  if (ether_type(f) != kEtherArp || f.size() < kEthHeader + 28) return std::nullopt;
  size_t a = kEthHeader;
  return ArpView{get16(f, a + 6), get_mac(f, a + 8), get32(f, a + 14), get_mac(f, a + 18),
                 get32(f, a + 24)};
}

// IPv4 header (20 bytes, no options) with a correct checksum, then payload.
inline Frame ipv4_packet(const Mac& dst_mac, const Mac& src_mac, uint32_t src, uint32_t dst,
                         uint8_t proto, const Frame& l4) {
  Frame f = ethernet(dst_mac, src_mac, kEtherIpv4, 20 + l4.size());
  size_t ip = kEthHeader;
  f[ip] = 0x45;
  put16(f, ip + 2, uint16_t(20 + l4.size()));
  put16(f, ip + 6, 0x4000);  // don't fragment
  f[ip + 8] = 64;            // TTL
  f[ip + 9] = proto;
  put32(f, ip + 12, src);
  put32(f, ip + 16, dst);
  put16(f, ip + 10, inet_checksum(f, ip, 20));
  for (size_t i = 0; i < l4.size(); i++) f[ip + 20 + i] = l4[i];
  return f;
}

// DHCPDISCOVER from 0.0.0.0:68 to 255.255.255.255:67. The BOOTP part is
// the full 236 + 312 option bytes (slirp wants a whole struct bootp_t).
inline Frame dhcp_discover(const Mac& mac, uint32_t xid) {
  Frame udp(8 + 236 + 312, 0);
  put16(udp, 0, 68);
  put16(udp, 2, 67);
  put16(udp, 4, uint16_t(udp.size()));  // checksum 0: none (RFC 768)
  size_t b = 8;
  udp[b + 0] = 1;  // op BOOTREQUEST
  udp[b + 1] = 1;  // htype Ethernet
  udp[b + 2] = 6;  // hlen
  put32(udp, b + 4, xid);
  put16(udp, b + 10, 0x8000);  // broadcast flag
  for (size_t i = 0; i < 6; i++) udp[b + 28 + i] = mac[i];  // chaddr
  size_t o = b + 236;
  put32(udp, o, 0x63825363);  // magic cookie
  udp[o + 4] = 53;            // DHCP message type
  udp[o + 5] = 1;
  udp[o + 6] = 1;  // DISCOVER
  udp[o + 7] = 255;
  return ipv4_packet(kBroadcastMac, mac, 0, 0xffffffff, 17, udp);
}

struct Ipv4View {
  uint8_t proto;
  uint32_t src, dst;
  size_t l4;      // offset of the transport header in the frame
  size_t l4_len;  // its length with payload
};
inline std::optional<Ipv4View> parse_ipv4(const Frame& f) {
  if (ether_type(f) != kEtherIpv4 || f.size() < kEthHeader + 20) return std::nullopt;
  size_t ip = kEthHeader;
  size_t ihl = size_t(f[ip] & 0xf) * 4;
  size_t total = get16(f, ip + 2);
  if (ihl < 20 || total < ihl || kEthHeader + total > f.size()) return std::nullopt;
  return Ipv4View{f[ip + 9], get32(f, ip + 12), get32(f, ip + 16), ip + ihl, total - ihl};
}

struct DhcpView {
  uint8_t op;
  uint32_t xid, yiaddr;
  uint8_t msg_type = 0;
  uint32_t server_id = 0, router = 0, dns = 0;
};
inline std::optional<DhcpView> parse_dhcp(const Frame& f) {
  auto ip = parse_ipv4(f);
  if (!ip || ip->proto != 17 || ip->l4_len < 8 + 240) return std::nullopt;
  size_t b = ip->l4 + 8;
  if (get16(f, ip->l4) != 67 || get16(f, ip->l4 + 2) != 68) return std::nullopt;
  DhcpView d{f[b], get32(f, b + 4), get32(f, b + 16)};
  size_t end = ip->l4 + ip->l4_len;
  for (size_t o = b + 240; o < end && f[o] != 255;) {
    if (f[o] == 0) {
      o++;
      continue;
    }
    if (o + 2 > end) break;
    uint8_t code = f[o], len = f[o + 1];
    if (o + 2 + len > end) break;
    if (code == 53 && len >= 1) d.msg_type = f[o + 2];
    if (code == 54 && len >= 4) d.server_id = get32(f, o + 2);
    if (code == 3 && len >= 4) d.router = get32(f, o + 2);
    if (code == 6 && len >= 4) d.dns = get32(f, o + 2);
    o += 2 + len;
  }
  return d;
}

struct TcpSegment {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  std::string payload;
};

inline Frame tcp_frame(const Mac& dst_mac, const Mac& src_mac, const TcpSegment& s) {
  Frame tcp(20 + s.payload.size(), 0);
  put16(tcp, 0, s.sport);
  put16(tcp, 2, s.dport);
  put32(tcp, 4, s.seq);
  put32(tcp, 8, s.ack);
  tcp[12] = 5 << 4;  // data offset: 20 bytes
  tcp[13] = s.flags;
  put16(tcp, 14, 65535);  // window
  for (size_t i = 0; i < s.payload.size(); i++) tcp[20 + i] = uint8_t(s.payload[i]);
  // Pseudo header (RFC 793 section 3.1): addresses, protocol, length.
  uint32_t sum = (s.src >> 16) + (s.src & 0xffff) + (s.dst >> 16) + (s.dst & 0xffff) + 6 +
                 uint32_t(tcp.size());
  put16(tcp, 16, inet_checksum(tcp, 0, tcp.size(), sum));
  return ipv4_packet(dst_mac, src_mac, s.src, s.dst, 6, tcp);
}

inline std::optional<TcpSegment> parse_tcp(const Frame& f) {
  auto ip = parse_ipv4(f);
  if (!ip || ip->proto != 6 || ip->l4_len < 20) return std::nullopt;
  size_t t = ip->l4;
  size_t off = size_t(f[t + 12] >> 4) * 4;
  if (off < 20 || off > ip->l4_len) return std::nullopt;
  TcpSegment s{ip->src, ip->dst, get16(f, t), get16(f, t + 2), get32(f, t + 4), get32(f, t + 8),
                f[t + 13], {}};
  s.payload.assign(f.begin() + long(t + off), f.begin() + long(t + ip->l4_len));
  return s;
}

// ICMPv6 type of an IPv6 frame (next header 58, no extension headers).
inline std::optional<uint8_t> icmpv6_type(const Frame& f) {
  if (ether_type(f) != kEtherIpv6 || f.size() < kEthHeader + 41) return std::nullopt;
  if (f[kEthHeader + 6] != 58) return std::nullopt;
  return f[kEthHeader + 40];
}

}  // namespace tandem::net::test
