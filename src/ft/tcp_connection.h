// One TCP connection's output as the two guests send it, compared as a
// byte stream (docs/architecture.md, quasi-lockstep): segmentation and
// timing may differ, the meaning may not.
//
// Positions are kept in the primary's sequence space; the secondary's are
// mapped by `seq` = its first number - the primary's (ISN - ISN when both
// opened the connection with a SYN; 0 for a connection already open when
// comparison began, as after a resync both guests hold the same state).
// Bytes one side sent that the other has not yet are kept until it has;
// bytes both sent are compared and dropped. Retransmitted bytes are not
// compared again: TCP sends the same bytes again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "ft/divergence.h"

namespace tandem::ft {

// The parts of a segment the comparison reads.
struct TcpSegment {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  bool has_ts = false;
  uint32_t tsval = 0;
  const uint8_t* payload = nullptr;
  size_t len = 0;
};
bool parse_tcp_segment(const uint8_t* frame, size_t len, TcpSegment* out);

// Bytes appended at the back and consumed at the front, contiguous so
// that a comparison is one memcmp (with a deque of bytes a 1448-byte
// segment cost 4-5x as much: bench_comparator, 2.6-2.8 us against 0.5-0.7).
class ByteQueue {
 public:
  const uint8_t* data() const { return bytes_.data() + head_; }
  size_t size() const { return bytes_.size() - head_; }
  void append(const uint8_t* p, size_t n) { bytes_.insert(bytes_.end(), p, p + n); }
  void clear() {
    bytes_.clear();
    head_ = 0;
  }
  void consume(size_t n) {
    head_ += n;
    if (head_ == bytes_.size()) {
      bytes_.clear();
      head_ = 0;
    } else if (head_ >= 65536 && head_ * 2 >= bytes_.size()) {  // amortized: moves what is left
      bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<long>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t head_ = 0;
};

class TcpConnection {
 public:
  // What a held primary segment needs from the secondary to be released.
  struct Mark {
    uint32_t data_end = 0;  // its payload ends here (primary space)
    uint32_t ack = 0;
    size_t len = 0;  // payload bytes
    bool syn = false, fin = false, rst = false, has_ack = false;
  };
  struct Mismatch {
    DivergenceKind kind;
    std::string what;  // "payload differs at stream byte 1,234"
  };

  Mark primary(const TcpSegment& s);
  void secondary(const TcpSegment& s);
  // A segment from the world to the guests: only watched, for the close.
  void inbound(const TcpSegment& s);

  bool matched(const Mark& m) const;
  // A resync completed: both guests now hold the primary's state, so what
  // the primary sent before it both have sent, in the primary's numbers.
  // Either side may retransmit some of it afterwards; that is not new
  // output. Whether the primary sent anything (false: start afresh).
  bool resynced();
  const std::optional<Mismatch>& mismatch() const { return mismatch_; }
  // Offsets, once both sides' first segments were seen.
  bool mapped() const { return mapped_; }
  uint32_t seq_offset() const { return seq_off_; }
  uint32_t ts_offset() const { return ts_off_; }
  // Closed on both sides: RST by both guests or by the peer, or FINs both
  // ways with each acknowledged by the other end.
  bool closed() const;
  // Bytes kept for the secondary's output that the primary has not matched.
  size_t secondary_bytes() const { return s_.buf.size() + waiting_bytes_; }

 private:
  struct Side {
    bool seen = false, syn = false, fin = false, rst = false, ack_seen = false;
    bool has_ts = false;
    uint32_t isn = 0, tsval = 0;
    uint32_t end = 0;      // next new byte's position (primary space)
    uint32_t fin_pos = 0;  // where its FIN sits (primary space)
    uint32_t max_ack = 0;
    uint8_t first_flags = 0;  // of the first segment seen (for the divergence's words)
    size_t first_len = 0;
    ByteQueue buf;  // [verified_, end): bytes not yet compared
  };
  struct Waiting {
    TcpSegment seg;  // payload points into bytes
    std::vector<uint8_t> bytes;
  };

  void first_segment(Side& side, const TcpSegment& s);
  void learn_mapping();
  void apply(Side& side, Side& other, const TcpSegment& s, uint32_t seq, const char* who);
  void compare();
  void fail(DivergenceKind kind, std::string what);
  uint64_t stream_byte(uint32_t pos) const { return uint32_t(pos - origin_); }

  Side p_, s_;
  bool mapped_ = false;
  uint32_t seq_off_ = 0, ts_off_ = 0;
  uint32_t origin_ = 0;    // the primary's first data position
  uint32_t verified_ = 0;  // both sent equal bytes up to here
  std::deque<Waiting> waiting_;  // the secondary's, until mapped
  size_t waiting_bytes_ = 0;
  std::optional<Mismatch> mismatch_;
  bool peer_rst_ = false, peer_fin_ = false, guest_fin_acked_ = false;
  uint32_t peer_fin_end_ = 0;
};

}  // namespace tandem::ft
