#include "ft/flow_maps.h"

namespace tandem::ft {

void FlowMaps::set(const FlowMapping& m) {
  map_.set(m);
  if (m.seq == 0 && m.ts == 0) all_.erase(m.tuple);
  else all_[m.tuple] = m;
}

void FlowMaps::add(const FlowMaps& other) {
  for (const auto& [tuple, m] : other.all_) {
    FlowMapping sum = m;
    if (auto it = all_.find(tuple); it != all_.end()) {
      sum.seq += it->second.seq;
      sum.ts += it->second.ts;
    }
    set(sum);
  }
}

void FlowMaps::clear() {
  all_.clear();
  map_.clear();
}

std::vector<FlowMapping> FlowMaps::entries() const {
  std::vector<FlowMapping> out;
  for (const auto& [tuple, m] : all_) out.push_back(m);
  return out;
}

}  // namespace tandem::ft
