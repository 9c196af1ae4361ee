#include "ft/seq_map.h"

#include <arpa/inet.h>

#include "net/tcp_header.h"

namespace tandem::ft {

using net::be16;
using net::be32;

std::string describe(const TcpTuple& t) {
  char g[INET6_ADDRSTRLEN], p[INET6_ADDRSTRLEN];
  int af = t.ipv6 ? AF_INET6 : AF_INET;
  inet_ntop(af, t.guest_addr.data(), g, sizeof g);
  inet_ntop(af, t.peer_addr.data(), p, sizeof p);
  std::string out;
  auto endpoint = [&](const char* a, uint16_t port) {
    if (t.ipv6) out += '[';
    out += a;
    if (t.ipv6) out += ']';
    out += ':';
    out += std::to_string(port);
  };
  endpoint(g, t.guest_port);
  out += " -> ";
  endpoint(p, t.peer_port);
  return out;
}

bool tcp_tuple(const uint8_t* frame, size_t len, bool from_guest, TcpTuple* out) {
  net::TcpLocation at;
  if (!net::find_tcp(frame, len, &at)) return false;
  const uint8_t* ip = frame + net::kEthHeader;
  const uint8_t* tcp = frame + at.tcp;
  TcpTuple t;
  t.ipv6 = at.ipv6;
  size_t alen = at.ipv6 ? 16 : 4;
  const uint8_t* src = ip + (at.ipv6 ? 8 : 12);
  const uint8_t* dst = src + alen;
  const uint8_t* guest = from_guest ? src : dst;
  const uint8_t* peer = from_guest ? dst : src;
  for (size_t i = 0; i < alen; i++) {
    t.guest_addr[i] = guest[i];
    t.peer_addr[i] = peer[i];
  }
  t.guest_port = be16(tcp + (from_guest ? 0 : 2));
  t.peer_port = be16(tcp + (from_guest ? 2 : 0));
  *out = t;
  return true;
}

std::vector<uint8_t> encode(const FlowMapping& m) {
  size_t alen = m.tuple.ipv6 ? 16 : 4;
  std::vector<uint8_t> out(1 + 2 * alen + 12);
  uint8_t* p = out.data();
  *p++ = m.tuple.ipv6 ? 6 : 4;
  for (size_t i = 0; i < alen; i++) p[i] = m.tuple.guest_addr[i];
  p += alen;
  for (size_t i = 0; i < alen; i++) p[i] = m.tuple.peer_addr[i];
  p += alen;
  net::put_be16(p, m.tuple.guest_port);
  net::put_be16(p + 2, m.tuple.peer_port);
  net::put_be32(p + 4, m.seq);
  net::put_be32(p + 8, m.ts);
  return out;
}

Result<FlowMapping> decode_flow_mapping(const uint8_t* data, size_t len) {
  if (len == 0) return Error("flow mapping: empty");
  if (data[0] != 4 && data[0] != 6)
    return Error("flow mapping: address family " + std::to_string(data[0]) + ", want 4 or 6");
  FlowMapping m;
  m.tuple.ipv6 = data[0] == 6;
  size_t alen = m.tuple.ipv6 ? 16 : 4;
  size_t want = 1 + 2 * alen + 12;
  if (len != want)
    return Error("flow mapping: " + std::to_string(len) + " bytes, want " + std::to_string(want) +
                 " for IPv" + std::to_string(data[0]));
  const uint8_t* p = data + 1;
  for (size_t i = 0; i < alen; i++) m.tuple.guest_addr[i] = p[i];
  p += alen;
  for (size_t i = 0; i < alen; i++) m.tuple.peer_addr[i] = p[i];
  p += alen;
  m.tuple.guest_port = be16(p);
  m.tuple.peer_port = be16(p + 2);
  m.seq = be32(p + 4);
  m.ts = be32(p + 8);
  return m;
}

void SeqMap::set(const FlowMapping& m) {
  if (m.seq == 0 && m.ts == 0) {
    flows_.erase(m.tuple);
    return;
  }
  flows_[m.tuple] = m;
}

void SeqMap::erase(const TcpTuple& t) { flows_.erase(t); }

const FlowMapping* SeqMap::find(const TcpTuple& t) const {
  auto it = flows_.find(t);
  return it == flows_.end() ? nullptr : &it->second;
}

namespace {

void add32(uint8_t* tcp, size_t off, uint32_t delta) {
  net::rewrite_tcp32(tcp, off, be32(tcp + off) + delta);
}

}  // namespace

const FlowMapping* SeqMap::locate(const uint8_t* frame, size_t len, bool from_guest,
                                  net::TcpLocation* at) const {
  TcpTuple t;
  if (flows_.empty() || !tcp_tuple(frame, len, from_guest, &t)) return nullptr;
  net::find_tcp(frame, len, at);
  return find(t);
}

bool SeqMap::inbound(uint8_t* frame, size_t len) const {
  net::TcpLocation at;
  const FlowMapping* m = locate(frame, len, false, &at);
  if (!m) return false;
  uint8_t* tcp = frame + at.tcp;
  if (tcp[13] & net::kTcpAck) add32(tcp, 8, m->seq);
  net::for_each_tcp_option(tcp, at.header_len, [&](uint8_t kind, size_t o, size_t olen) {
    if (kind == net::kTcpOptSack) {
      for (size_t e = o + 2; e + 4 <= o + olen; e += 4) add32(tcp, e, m->seq);
    } else if (kind == net::kTcpOptTimestamps && olen == 10) {
      add32(tcp, o + 6, m->ts);  // TSecr echoes the secondary's clock
    }
  });
  return true;
}

bool SeqMap::outbound(uint8_t* frame, size_t len) const {
  net::TcpLocation at;
  const FlowMapping* m = locate(frame, len, true, &at);
  if (!m) return false;
  uint8_t* tcp = frame + at.tcp;
  add32(tcp, 4, -m->seq);
  net::for_each_tcp_option(tcp, at.header_len, [&](uint8_t kind, size_t o, size_t olen) {
    if (kind == net::kTcpOptTimestamps && olen == 10) add32(tcp, o + 2, -m->ts);
  });
  return true;
}

}  // namespace tandem::ft
