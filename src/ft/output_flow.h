// Sorts a guest's output frames into the flows the comparator matches
// separately (docs/architecture.md, quasi-lockstep): TCP connections;
// other IP traffic per protocol, addresses and ports (UDP) or echo id
// (ICMP, ICMPv6); ARP; anything else per ethertype.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ft/seq_map.h"

namespace tandem::ft {

enum class FlowKind : uint8_t { tcp, ip, arp, other };

struct FlowKey {
  FlowKind kind = FlowKind::other;
  TcpTuple addr;          // tcp and ip: addresses and ports (ip: ports or echo id)
  uint8_t proto = 0;      // ip: the IP protocol / next header
  uint16_t ethertype = 0; // other
  auto operator<=>(const FlowKey&) const = default;
};

// "tcp 10.0.2.15:80 -> 10.0.2.2:41234", "udp ...", "icmp 10.0.2.15 ->
// 10.0.2.2 id 7", "ip proto 2 ...", "arp", "ethertype 0x88cc".
std::string describe(const FlowKey& k);

struct OutputFlow {
  FlowKey key;
  // What is compared for kinds other than tcp: the IP payload; ARP's
  // operation, sender MAC and IP and target IP; or the whole frame.
  std::vector<uint8_t> content;
};

// A frame the guest sent. Never fails: what cannot be parsed as a longer
// form falls back to a shorter one, in the end to the whole frame.
OutputFlow classify_output(const uint8_t* frame, size_t len);

}  // namespace tandem::ft
