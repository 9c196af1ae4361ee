#include "net/tcp_seq_shift.h"

namespace tandem::net {

void TcpSeqShift::to_guest(uint8_t* frame, size_t len) {
  TcpLocation at;
  if (!find_tcp(frame, len, &at)) return;
  uint8_t* tcp = frame + at.tcp;
  uint32_t seq = be32(tcp + 4);
  if (s_.offset != 0) {
    seq += s_.offset;
    rewrite_tcp32(tcp, 4, seq);
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
  rewrite_tcp32(tcp, 8, be32(tcp + 8) - s_.offset);
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
