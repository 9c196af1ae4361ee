// Holds the guest's outgoing frames until the epoch that produced them is
// safe to show the world (docs/architecture.md, capability 2: output of an
// epoch is held until the backup acknowledges that epoch).
//
// Frames are kept in arrival order, each tagged with its epoch; epochs
// never go down. release_through(e) hands every frame of epochs <= e to the
// sink in order. With no replication active the gate is in pass-through
// mode and hands each frame on at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "base/result.h"

namespace tandem::net {

class OutputGate {
 public:
  using Sink = std::function<void(const uint8_t* frame, size_t len)>;

  explicit OutputGate(Sink sink, bool pass_through = true)
      : sink_(std::move(sink)), pass_through_(pass_through) {}

  // Turning pass-through on first releases everything held (replication
  // stopped: nothing is left to wait for) and forgets released epochs.
  void set_pass_through(bool on);
  bool pass_through() const { return pass_through_; }

  // Queues a copy of the frame (or delivers it in pass-through mode).
  // Refused, and the frame dropped, when `epoch` is older than a frame
  // already held or than an epoch already released: showing it now could
  // expose output the backup has not got. Dropping is safe for a network.
  Status hold(uint64_t epoch, const uint8_t* frame, size_t len);

  // Delivers the held frames of epochs <= epoch; returns how many.
  size_t release_through(uint64_t epoch);
  // Delivers every held frame, whatever its epoch, and goes on holding:
  // for output whose release no epoch numbers (fault tolerance's console).
  size_t release_all();

  // Forgets everything held (failover: the epochs will never be acked).
  void discard_all();

  size_t held_frames() const { return held_.size(); }
  size_t held_bytes() const { return held_bytes_; }
  // Highest epoch released so far, if any.
  std::optional<uint64_t> released_through() const { return released_; }

 private:
  struct Held {
    uint64_t epoch;
    std::vector<uint8_t> frame;
  };

  void deliver_front();

  Sink sink_;
  bool pass_through_;
  std::deque<Held> held_;
  size_t held_bytes_ = 0;
  std::optional<uint64_t> released_;
};

}  // namespace tandem::net
