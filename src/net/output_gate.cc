#include "net/output_gate.h"

#include <string>

namespace tandem::net {

void OutputGate::set_pass_through(bool on) {
  if (on) {
    while (!held_.empty()) deliver_front();
    released_.reset();  // a later replication run may number epochs anew
  }
  pass_through_ = on;
}

Status OutputGate::hold(uint64_t epoch, const uint8_t* frame, size_t len) {
  if (pass_through_) {
    if (sink_) sink_(frame, len);
    return Ok();
  }
  if (!held_.empty() && epoch < held_.back().epoch)
    return Error("output gate: frame of epoch " + std::to_string(epoch) +
                 " after a frame of epoch " + std::to_string(held_.back().epoch));
  if (released_ && epoch <= *released_)
    return Error("output gate: frame of epoch " + std::to_string(epoch) +
                 " after epoch " + std::to_string(*released_) + " was released");
  held_.push_back(Held{epoch, std::vector<uint8_t>(frame, frame + len)});
  held_bytes_ += len;
  return Ok();
}

size_t OutputGate::release_through(uint64_t epoch) {
  if (!released_ || epoch > *released_) released_ = epoch;
  size_t n = 0;
  while (!held_.empty() && held_.front().epoch <= epoch) {
    deliver_front();
    n++;
  }
  return n;
}

size_t OutputGate::release_all() {
  size_t n = 0;
  for (; !held_.empty(); n++) deliver_front();
  return n;
}

void OutputGate::discard_all() {
  held_.clear();
  held_bytes_ = 0;
}

// Pops before calling the sink, so a sink that holds again sees a
// consistent queue.
void OutputGate::deliver_front() {
  Held h = std::move(held_.front());
  held_.pop_front();
  held_bytes_ -= h.frame.size();
  if (sink_) sink_(h.frame.data(), h.frame.size());
}

}  // namespace tandem::net
