// A NIC's TCP mappings (seq_map.h) that can be listed and combined: a
// secondary keeps its pair's (cleared at each resync, when both guests
// share one sequence space again) and the world's (connections its
// primary inherited, with their own offsets, from a failover before);
// going live it adds them up, and a VM protected again hands the sum on.
#pragma once

#include <map>
#include <vector>

#include "ft/seq_map.h"

namespace tandem::ft {

class FlowMaps {
 public:
  // Replaces the connection's mapping (both offsets 0: removes it).
  void set(const FlowMapping& m);
  // Adds `other`'s offsets to this one's, connection by connection.
  void add(const FlowMaps& other);
  void clear();
  std::vector<FlowMapping> entries() const;
  size_t size() const { return all_.size(); }
  bool inbound(uint8_t* frame, size_t len) const { return map_.inbound(frame, len); }
  bool outbound(uint8_t* frame, size_t len) const { return map_.outbound(frame, len); }

 private:
  std::map<TcpTuple, FlowMapping> all_;
  SeqMap map_;
};

}  // namespace tandem::ft
