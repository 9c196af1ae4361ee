#include "ft/tcp_connection.h"

#include <algorithm>
#include <cstring>

#include "net/tcp_header.h"

namespace tandem::ft {

using net::seq_after;

bool parse_tcp_segment(const uint8_t* frame, size_t len, TcpSegment* out) {
  net::TcpLocation at;
  if (!net::find_tcp(frame, len, &at)) return false;
  const uint8_t* tcp = frame + at.tcp;
  TcpSegment s;
  s.seq = net::be32(tcp + 4);
  s.ack = net::be32(tcp + 8);
  s.flags = tcp[13];
  net::for_each_tcp_option(tcp, at.header_len, [&](uint8_t kind, size_t o, size_t olen) {
    if (kind == net::kTcpOptTimestamps && olen == 10) {
      s.has_ts = true;
      s.tsval = net::be32(tcp + o + 2);
    }
  });
  s.payload = tcp + at.header_len;
  s.len = at.payload_len;
  *out = s;
  return true;
}

namespace {

uint32_t syn_len(const TcpSegment& s) { return (s.flags & net::kTcpSyn) ? 1 : 0; }

}  // namespace

TcpConnection::Mark TcpConnection::primary(const TcpSegment& s) {
  Mark m;
  m.syn = s.flags & net::kTcpSyn;
  m.fin = s.flags & net::kTcpFin;
  m.rst = s.flags & net::kTcpRst;
  m.has_ack = s.flags & net::kTcpAck;
  m.ack = s.ack;
  m.data_end = s.seq + syn_len(s) + static_cast<uint32_t>(s.len);
  m.len = s.len;
  if (mismatch_) return m;
  if (!p_.seen) {
    first_segment(p_, s);
    origin_ = verified_ = p_.end;
  }
  apply(p_, s_, s, 0, "primary");
  if (!mapped_ && s_.seen && !mismatch_) learn_mapping();
  compare();
  return m;
}

void TcpConnection::secondary(const TcpSegment& s) {
  if (mismatch_) return;  // diverged: a resync follows, nothing to learn
  if (!s_.seen) first_segment(s_, s);
  if (!mapped_) {
    if (!p_.seen) {  // the primary has not got here yet: wait for it
      Waiting w{s, std::vector<uint8_t>(s.payload, s.payload + s.len)};
      w.seg.payload = w.bytes.data();
      waiting_bytes_ += w.bytes.size() + sizeof(Waiting);
      waiting_.push_back(std::move(w));
      return;
    }
    learn_mapping();
    if (mismatch_) return;
  }
  apply(s_, p_, s, seq_off_, "secondary");
  compare();
}

void TcpConnection::inbound(const TcpSegment& s) {
  if (s.flags & net::kTcpRst) peer_rst_ = true;
  if (s.flags & net::kTcpFin) {
    peer_fin_ = true;
    peer_fin_end_ = s.seq + syn_len(s) + static_cast<uint32_t>(s.len) + 1;
  }
  if ((s.flags & net::kTcpAck) && p_.fin && !seq_after(p_.fin_pos + 1, s.ack)) guest_fin_acked_ = true;
}

void TcpConnection::first_segment(Side& side, const TcpSegment& s) {
  side.seen = true;
  side.syn = s.flags & net::kTcpSyn;
  side.isn = s.seq;
  side.has_ts = s.has_ts;
  side.tsval = s.tsval;
  side.end = s.seq + syn_len(s);
  side.first_flags = s.flags;
  side.first_len = s.len;
}

namespace {
std::string segment_words(uint8_t flags, size_t len) {
  std::string f;
  for (auto [bit, name] : {std::pair{net::kTcpSyn, "SYN"}, {net::kTcpAck, "ACK"}, {net::kTcpFin, "FIN"},
                           {net::kTcpRst, "RST"}})
    if (flags & bit) f += f.empty() ? name : std::string("|") + name;
  return (f.empty() ? std::string("no flags") : f) + ", " + std::to_string(len) + " bytes";
}
}  // namespace

void TcpConnection::learn_mapping() {
  mapped_ = true;
  if (p_.syn != s_.syn) {
    const Side& other = p_.syn ? s_ : p_;
    fail(DivergenceKind::flags, std::string("SYN from the ") + (p_.syn ? "primary" : "secondary") +
                                    " only (the " + (p_.syn ? "secondary" : "primary") +
                                    "'s first segment here: " + segment_words(other.first_flags, other.first_len) +
                                    ")");
    return;
  }
  if (p_.syn) {
    seq_off_ = s_.isn - p_.isn;
    ts_off_ = p_.has_ts && s_.has_ts ? s_.tsval - p_.tsval : 0;
  }
  s_.end -= seq_off_;
  if (seq_after(s_.end, verified_)) {
    fail(DivergenceKind::sequence, "the secondary's stream starts at stream byte " +
                                       group_digits(stream_byte(s_.end)) + ", the primary's at 0");
    return;
  }
  s_.end = verified_;  // what it sent before the primary's start counts as sent again
  for (Waiting& w : waiting_) {
    if (mismatch_) break;
    apply(s_, p_, w.seg, seq_off_, "secondary");
  }
  waiting_.clear();
  waiting_bytes_ = 0;
}

void TcpConnection::apply(Side& side, Side& other, const TcpSegment& s, uint32_t delta,
                          const char* who) {
  std::string the = std::string("the ") + who;
  if (s.flags & net::kTcpAck) {
    if (!side.ack_seen || seq_after(s.ack, side.max_ack)) side.max_ack = s.ack;
    side.ack_seen = true;
  }
  if (s.flags & net::kTcpRst) side.rst = true;
  if ((s.flags & net::kTcpSyn) && (!side.syn || s.seq != side.isn)) {
    fail(DivergenceKind::flags, the + " sent a SYN inside the stream");
    return;
  }
  uint32_t start = s.seq - delta + syn_len(s);
  uint32_t end = start + static_cast<uint32_t>(s.len);
  // After a FIN the next number is one past it (the FIN takes one).
  if (seq_after(start, side.end + (side.fin ? 1 : 0))) {
    fail(DivergenceKind::sequence, the + "'s stream jumps from stream byte " +
                                       group_digits(stream_byte(side.end)) + " to " +
                                       group_digits(stream_byte(start)));
    return;
  }
  if (s.len > 0 && side.fin && seq_after(end, side.fin_pos)) {
    fail(DivergenceKind::flags, the + " sent data after its FIN");
    return;
  }
  if (s.len > 0 && seq_after(end, side.end)) {  // start <= side.end here
    size_t skip = side.end - start;
    side.buf.append(s.payload + skip, s.len - skip);
    side.end = end;
  }
  if (s.flags & net::kTcpFin) {
    if (side.fin && side.fin_pos != end) {
      fail(DivergenceKind::flags, the + " sent its FIN again at another place");
      return;
    }
    side.fin = true;
    side.fin_pos = end;
  }
  if (!mapped_) return;
  if (side.fin && other.fin && side.fin_pos != other.fin_pos) {
    fail(DivergenceKind::flags, "FIN at stream byte " + group_digits(stream_byte(p_.fin_pos)) +
                                    " on the primary, " + group_digits(stream_byte(s_.fin_pos)) +
                                    " on the secondary");
  } else if (other.fin && seq_after(side.end, other.fin_pos)) {
    fail(DivergenceKind::flags, the + " sent data past the other's FIN at stream byte " +
                                    group_digits(stream_byte(other.fin_pos)));
  }
}

bool TcpConnection::resynced() {
  if (!p_.seen) return false;
  p_.buf.clear();
  s_ = p_;
  verified_ = p_.end;
  mapped_ = true;
  seq_off_ = ts_off_ = 0;
  waiting_.clear();
  waiting_bytes_ = 0;
  mismatch_.reset();
  return true;
}

void TcpConnection::compare() {
  if (mismatch_ || !mapped_) return;
  size_t n = std::min(p_.buf.size(), s_.buf.size());
  if (n == 0) return;
  const uint8_t *p = p_.buf.data(), *s = s_.buf.data();
  if (std::memcmp(p, s, n) != 0) {
    size_t i = static_cast<size_t>(std::mismatch(p, p + n, s).first - p);
    fail(DivergenceKind::content,
         "payload differs at stream byte " + group_digits(stream_byte(verified_ + static_cast<uint32_t>(i))));
    return;
  }
  p_.buf.consume(n);
  s_.buf.consume(n);
  verified_ += static_cast<uint32_t>(n);
}

void TcpConnection::fail(DivergenceKind kind, std::string what) {
  if (!mismatch_) mismatch_ = Mismatch{kind, std::move(what)};
}

bool TcpConnection::matched(const Mark& m) const {
  if (mismatch_ || !mapped_) return false;
  // Bytes (and, for a FIN, the bytes before it) both sent equal.
  if ((m.len > 0 || m.fin) && seq_after(m.data_end, verified_)) return false;
  if (m.syn && !s_.syn) return false;
  if (m.fin && !(s_.fin && s_.fin_pos == m.data_end)) return false;
  if (m.rst && !s_.rst) return false;
  if (m.has_ack && (!s_.ack_seen || seq_after(m.ack, s_.max_ack))) return false;
  return true;
}

bool TcpConnection::closed() const {
  if (peer_rst_ || (p_.rst && s_.rst)) return true;
  return p_.fin && s_.fin && guest_fin_acked_ && peer_fin_ && p_.ack_seen && s_.ack_seen &&
         !seq_after(peer_fin_end_, p_.max_ack) && !seq_after(peer_fin_end_, s_.max_ack);
}

}  // namespace tandem::ft
