// Keeps the TCP sequence numbers a user-network stack sends the guest
// moving forward across a restore.
//
// A restored VM gets a fresh libslirp whose initial sequence numbers start
// again near 1 (libslirp saves no TCP state for host-forwarded
// connections: their host sockets belonged to the old process). The guest
// still holds TIME_WAIT entries for connections it closed before the
// snapshot; a new connection from the host on the same 4-tuple arrives as
// a SYN whose sequence number lies behind the old connection's, which
// Linux refuses (RFC 1122 4.2.2.13 only lets a SYN reopen a TIME_WAIT
// connection with a higher number), so slirp's SYN goes unanswered until
// its retransmission timer fires, seconds later.
//
// The fix sits between slirp and the guest: every TCP segment slirp sends
// has `offset` added to its sequence number, and every segment the guest
// sends has it subtracted from its acknowledgment number (checksums
// patched incrementally, RFC 1624). `high` is the end of the highest
// sequence space the guest has been sent; it travels in the snapshot, and
// after a restore the offset is chosen so that the fresh stack's numbers
// start past it. Before any restore the offset is 0 and frames pass
// unchanged. slirp negotiates neither SACK nor timestamps, so no option
// carries sequence numbers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/tcp_header.h"

namespace tandem::net {

class TcpSeqShift {
 public:
  struct State {
    uint32_t offset = 0;
    uint32_t high = 0;  // valid when seen
    bool seen = false;  // the guest was sent at least one TCP segment
    bool operator==(const State&) const = default;
  };

  // stack -> guest, in place.
  void to_guest(uint8_t* frame, size_t len);
  // guest -> stack, in place; returns whether the frame was changed (only
  // TCP segments with ACK set, and only when the offset is not 0).
  bool from_guest(uint8_t* frame, size_t len) const;
  bool shifting() const { return s_.offset != 0; }

  State save() const { return s_; }
  // For a fresh stack (its sequence numbers start near 0) taking over from
  // the one `saved` describes.
  void resume(const State& saved);

 private:
  State s_;
};

}  // namespace tandem::net
