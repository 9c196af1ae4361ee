// Maps TCP sequence numbers and timestamps between the primary's and the
// secondary's guest (docs/architecture.md, quasi-lockstep).
//
// The two guests open each connection with different initial sequence
// numbers (Linux mixes a clock into the ISN) and stamp different TCP
// timestamps (their clocks differ a little), while a client only ever
// sees the primary's numbers. Per connection, `seq` = secondary ISN -
// primary ISN and `ts` = secondary TSval - primary TSval (from each
// side's SYN or SYN-ACK). Frames the world sends the secondary's guest are
// rewritten into its own space (inbound), and after a failover the
// frames that guest sends are rewritten back into the space the client
// knows (outbound). Checksums are patched incrementally.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "net/tcp_header.h"

namespace tandem::ft {

// A TCP connection as the guest sees it. IPv4 addresses use the first 4
// bytes of the arrays, the rest stays 0.
struct TcpTuple {
  bool ipv6 = false;
  std::array<uint8_t, 16> guest_addr{};
  std::array<uint8_t, 16> peer_addr{};
  uint16_t guest_port = 0;
  uint16_t peer_port = 0;
  auto operator<=>(const TcpTuple&) const = default;
};

// "10.0.2.15:80 -> 10.0.2.2:41234" (guest first), "[fe80::1]:80 -> ...".
std::string describe(const TcpTuple& t);

// The tuple of a TCP segment in an Ethernet frame, read from the guest's
// side: `from_guest` when the guest sent it (source = guest). False when
// the frame holds no TCP segment find_tcp() can place.
bool tcp_tuple(const uint8_t* frame, size_t len, bool from_guest, TcpTuple* out);

struct FlowMapping {
  TcpTuple tuple;
  uint32_t seq = 0;  // secondary ISN - primary ISN
  uint32_t ts = 0;   // secondary TSval - primary TSval
  bool operator==(const FlowMapping&) const = default;
};

// Wire form, all big-endian: family (4 or 6), guest address, peer address
// (4 or 16 bytes each), guest port, peer port, seq, ts: 21 or 45 bytes.
std::vector<uint8_t> encode(const FlowMapping& m);
Result<FlowMapping> decode_flow_mapping(const uint8_t* data, size_t len);

class SeqMap {
 public:
  // Adds or replaces the connection's mapping; one with both offsets 0
  // maps nothing and is erased instead.
  void set(const FlowMapping& m);
  void erase(const TcpTuple& t);
  void clear() { flows_.clear(); }
  const FlowMapping* find(const TcpTuple& t) const;
  size_t size() const { return flows_.size(); }

  // world -> secondary guest, in place: ack += seq (when ACK is set), each
  // SACK block's edges += seq, TSecr += ts. Returns whether it changed the
  // frame; frames it cannot parse and unmapped connections pass unchanged.
  bool inbound(uint8_t* frame, size_t len) const;
  // secondary guest -> world (after failover), in place: seq -= seq,
  // TSval -= ts.
  bool outbound(uint8_t* frame, size_t len) const;

 private:
  // The mapping of the frame's connection, and where its TCP header is.
  const FlowMapping* locate(const uint8_t* frame, size_t len, bool from_guest,
                            net::TcpLocation* at) const;

  std::map<TcpTuple, FlowMapping> flows_;
};

}  // namespace tandem::ft
