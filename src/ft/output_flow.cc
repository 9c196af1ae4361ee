#include "ft/output_flow.h"

#include <arpa/inet.h>

#include <cstdio>

#include "net/tcp_header.h"

namespace tandem::ft {

using net::be16;

namespace {

constexpr uint8_t kProtoIcmp = 1, kProtoUdp = 17, kProtoIcmpv6 = 58;

std::string proto_name(uint8_t proto, bool ipv6) {
  switch (proto) {
    case net::kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmp: return "icmp";
    case kProtoIcmpv6: return "icmpv6";
  }
  return std::string(ipv6 ? "ipv6" : "ip") + " proto " + std::to_string(proto);
}

std::string address(const TcpTuple& t, const std::array<uint8_t, 16>& a) {
  char s[INET6_ADDRSTRLEN];
  inet_ntop(t.ipv6 ? AF_INET6 : AF_INET, a.data(), s, sizeof s);
  return s;
}

bool is_echo(uint8_t proto, uint8_t type) {
  return (proto == kProtoIcmp && (type == 0 || type == 8)) ||
         (proto == kProtoIcmpv6 && (type == 128 || type == 129));
}

// The IP part: false when the frame is not a whole IPv4 or IPv6 packet.
bool classify_ip(const uint8_t* f, size_t len, OutputFlow* out) {
  uint16_t type = be16(f + 12);
  const uint8_t* ip = f + net::kEthHeader;
  size_t room = len - net::kEthHeader;
  FlowKey& k = out->key;
  const uint8_t* l4 = nullptr;
  size_t l4_len = 0;
  bool first_fragment = true;
  if (type == net::kEtherIpv4) {
    if (room < 20 || (ip[0] >> 4) != 4) return false;
    size_t ihl = size_t{ip[0] & 0xfu} * 4;
    size_t total = be16(ip + 2);
    if (ihl < 20 || total < ihl || total > room) return false;
    k.proto = ip[9];
    for (size_t i = 0; i < 4; i++) {
      k.addr.guest_addr[i] = ip[12 + i];
      k.addr.peer_addr[i] = ip[16 + i];
    }
    l4 = ip + ihl;
    l4_len = total - ihl;
    first_fragment = (be16(ip + 6) & 0x1fff) == 0;  // a later one has no ports
  } else if (type == net::kEtherIpv6) {
    if (room < 40 || (ip[0] >> 4) != 6) return false;
    size_t payload = be16(ip + 4);
    if (payload > room - 40) return false;
    k.addr.ipv6 = true;
    k.proto = ip[6];
    for (size_t i = 0; i < 16; i++) {
      k.addr.guest_addr[i] = ip[8 + i];
      k.addr.peer_addr[i] = ip[24 + i];
    }
    l4 = ip + 40;
    l4_len = payload;
  } else {
    return false;
  }
  k.kind = FlowKind::ip;
  if (first_fragment && k.proto == kProtoUdp && l4_len >= 4) {
    k.addr.guest_port = be16(l4);
    k.addr.peer_port = be16(l4 + 2);
  } else if (first_fragment && l4_len >= 6 && is_echo(k.proto, l4[0])) {
    k.addr.guest_port = be16(l4 + 4);  // identifier
  }
  out->content.assign(l4, l4 + l4_len);
  return true;
}

bool classify_arp(const uint8_t* f, size_t len, OutputFlow* out) {
  const uint8_t* a = f + net::kEthHeader;
  if (len < net::kEthHeader + 28 || be16(a) != 1 || be16(a + 2) != net::kEtherIpv4 || a[4] != 6 ||
      a[5] != 4)
    return false;
  out->key.kind = FlowKind::arp;
  // Operation, sender MAC and IP, target IP: the target MAC of a request
  // is whatever the stack left there.
  out->content.assign(a + 6, a + 18);
  out->content.insert(out->content.end(), a + 24, a + 28);
  return true;
}

}  // namespace

std::string describe(const FlowKey& k) {
  switch (k.kind) {
    case FlowKind::tcp: return "tcp " + describe(k.addr);
    case FlowKind::ip: {
      std::string s = proto_name(k.proto, k.addr.ipv6) + " ";
      if (k.proto == kProtoUdp) return s + describe(k.addr);
      s += address(k.addr, k.addr.guest_addr) + " -> " + address(k.addr, k.addr.peer_addr);
      if ((k.proto == kProtoIcmp || k.proto == kProtoIcmpv6) && k.addr.guest_port)
        s += " id " + std::to_string(k.addr.guest_port);
      return s;
    }
    case FlowKind::arp: return "arp";
    case FlowKind::other: break;
  }
  char s[32];
  std::snprintf(s, sizeof s, "ethertype 0x%04x", k.ethertype);
  return s;
}

OutputFlow classify_output(const uint8_t* frame, size_t len) {
  OutputFlow out;
  if (len >= net::kEthHeader) {
    if (tcp_tuple(frame, len, true, &out.key.addr)) {
      out.key.kind = FlowKind::tcp;
      return out;
    }
    uint16_t type = be16(frame + 12);
    if (type == net::kEtherArp ? classify_arp(frame, len, &out) : classify_ip(frame, len, &out))
      return out;
    out.key = FlowKey{};
    out.key.ethertype = type;
  }
  out.content.assign(frame, frame + len);
  return out;
}

}  // namespace tandem::ft
