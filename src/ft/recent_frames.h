// The frames of the last second (at most 4 MiB) a secondary's guest sent
// (to the primary only): at a failover, those from around the primary's
// last message may never have reached the world.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace tandem::ft {

class RecentFrames {
 public:
  using Clock = std::chrono::steady_clock;
  struct Frame {
    Clock::time_point at;
    size_t nic;
    std::vector<uint8_t> bytes;
  };

  void push(Clock::time_point now, size_t nic, const uint8_t* frame, size_t len) {
    frames_.push_back({now, nic, std::vector<uint8_t>(frame, frame + len)});
    bytes_ += len;
    while (!frames_.empty() && (now - frames_.front().at > kKeep || bytes_ > kMaxBytes)) {
      bytes_ -= frames_.front().bytes.size();
      frames_.pop_front();
    }
  }
  // A resync replaced the guest's state: what it sent before came from a
  // state that may have diverged, and must never reach the world.
  void clear() {
    frames_.clear();
    bytes_ = 0;
  }
  // Those that came after `since`, oldest first; empties the list.
  std::vector<Frame> take_since(Clock::time_point since) {
    std::vector<Frame> out;
    for (Frame& f : frames_)
      if (f.at > since) out.push_back(std::move(f));
    frames_.clear();
    bytes_ = 0;
    return out;
  }

 private:
  static constexpr std::chrono::seconds kKeep{1};
  static constexpr size_t kMaxBytes = 4 << 20;
  std::deque<Frame> frames_;
  size_t bytes_ = 0;
};

}  // namespace tandem::ft
