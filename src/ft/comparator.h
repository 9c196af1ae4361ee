// The quasi-lockstep output comparator (docs/architecture.md, capability
// 3; issue 14 item 3). It runs on the primary's host and sees both
// guests' output: a primary frame may leave the host only once the
// secondary produced matching output, and the secondary's frames never
// leave (they are compared and dropped).
//
// Matching is per flow (output_flow.h): a TCP connection as a byte stream
// with SYN, FIN and RST by meaning (tcp_connection.h); other IP traffic
// and ARP per datagram, in order; anything else per frame, in order. A
// flow seen by one guest only is normal (the other has not got there) and
// waits. The first mismatch is kept as the divergence that calls for a
// resync; after it the diverged flow holds everything until resynced().
// Not thread-safe: the primary's run loop owns it.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "ft/divergence.h"
#include "ft/output_flow.h"
#include "ft/seq_map.h"
#include "ft/tcp_connection.h"

namespace tandem::ft {

struct ComparatorStats {
  uint64_t matched_frames = 0;  // primary frames released because they matched
  uint64_t matched_bytes = 0;
  size_t held_frames = 0;       // primary frames held now
  size_t held_bytes = 0;
  size_t secondary_bytes = 0;   // the secondary's output kept, not yet matched
  std::array<uint64_t, kDivergenceKinds> divergences{};  // by DivergenceKind
};

class Comparator {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Frame = std::vector<uint8_t>;

  // Cap on the secondary's unmatched output kept over all flows; a frame
  // that would pass it is dropped and reported as a memory divergence.
  static constexpr size_t kDefaultSecondaryCap = size_t{16} << 20;
  explicit Comparator(size_t secondary_cap = kDefaultSecondaryCap) : cap_(secondary_cap) {}

  // Each guest's output frames, copied.
  void primary(const uint8_t* frame, size_t len, TimePoint now);
  void secondary(const uint8_t* frame, size_t len, TimePoint now);

  // The primary frames that may leave now, each flow's in the order
  // produced (flows independent of each other).
  std::vector<Frame> take_releasable();

  // The first mismatch since construction or the last resynced().
  const std::optional<Divergence>& divergence() const { return divergence_; }
  // Age of the oldest held primary frame not yet matched; 0 if none.
  // `what`, if given, gets that frame's flow and kind (for the status).
  std::chrono::nanoseconds oldest_unmatched(TimePoint now, std::string* what = nullptr) const;
  // When the oldest held primary frame not yet matched was produced.
  std::optional<TimePoint> oldest_unmatched_at() const;
  // Whether take_releasable(), take_mapping_updates() or divergence() has
  // something new since take_releasable(): a match to release, an offset
  // for the secondary, a closed connection to forget, a mismatch.
  bool work_pending() const;

  // A resync completed (both guests now hold the primary's state): returns
  // every primary frame still held, in the order produced, and forgets
  // the secondary's leftovers, the offsets (all 0 now: the secondary's
  // SeqMap must be cleared too) and the divergence. A TCP connection the
  // primary sent on is kept, with what it sent counted as sent by both
  // (TcpConnection::resynced()); other flows are forgotten.
  std::vector<Frame> resynced();

  // An input frame (world -> guests), in place, before it is mirrored to
  // the secondary: rewritten into the secondary's sequence space.
  // Returns whether it changed. Call it for every frame mirrored.
  bool to_secondary(uint8_t* frame, size_t len);

  // Offsets learned (or, with both 0, a connection closed) since the last
  // call, for the lead to send to the secondary's SeqMap.
  std::vector<FlowMapping> take_mapping_updates();

  const SeqMap& seq_map() const { return map_; }
  ComparatorStats stats() const;
  size_t flows() const { return flows_.size(); }

 private:
  struct Held {
    uint64_t order = 0;
    TimePoint at;
    Frame frame;
    bool matched = false;          // datagram flows
    TcpConnection::Mark mark;      // tcp
    std::vector<uint8_t> content;  // datagram flows: what is compared
  };
  struct Flow {
    FlowKey key;
    std::deque<Held> held;                        // the primary's, not yet released
    size_t unmatched = 0;                         // datagram flows: held[size-unmatched..]
    std::deque<std::vector<uint8_t>> s_pending;   // datagram flows: the secondary's
    std::unique_ptr<TcpConnection> tcp;
    bool diverged = false;
    bool mapping_sent = false;
  };

  Flow& flow(const FlowKey& key);
  static std::string describe_held(const Flow& f, const Held& h);
  bool held_matched(const Flow& f, const Held& h) const;
  // The oldest held primary frame not yet matched (null if none), and its flow.
  const Held* oldest_unmatched_held(const Flow** flow) const;
  void match_datagrams(Flow& f);
  void after_tcp(Flow& f);
  void diverge(Flow& f, DivergenceKind kind, const std::string& what);
  void maybe_remove(std::map<FlowKey, Flow>::iterator it);

  size_t cap_;
  std::map<FlowKey, Flow> flows_;
  std::set<FlowKey> touched_;  // flows whose matching moved since take_releasable()
  SeqMap map_;
  std::vector<FlowMapping> updates_;
  std::optional<Divergence> divergence_;
  uint64_t next_order_ = 0;
  size_t held_frames_ = 0, held_bytes_ = 0, secondary_bytes_ = 0;
  uint64_t matched_frames_ = 0, matched_bytes_ = 0;
  std::array<uint64_t, kDivergenceKinds> divergences_{};
};

}  // namespace tandem::ft
