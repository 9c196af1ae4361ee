#include "mem/phys_bus.h"

#include <algorithm>
#include <cstdio>

namespace tandem::mem {

namespace {
std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
  return a < b + blen && b < a + alen;
}
}  // namespace

Status PhysBus::map(uint64_t base, uint64_t size, MmioDevice* dev, std::string name) {
  if (size == 0 || base + size < base) return Error("map " + name + ": bad region size");
  if (overlaps(base, size, ram_.base(), ram_.size()))
    return Error("map " + name + " at " + hex(base) + ": overlaps guest RAM");
  for (const auto& r : regions_)
    if (overlaps(base, size, r.base, r.size))
      return Error("map " + name + " at " + hex(base) + ": overlaps " + r.name + " at " + hex(r.base));
  regions_.push_back({base, size, dev, std::move(name)});
  std::sort(regions_.begin(), regions_.end(),
            [](const Region& a, const Region& b) { return a.base < b.base; });
  last_ = nullptr;
  return Ok();
}

const PhysBus::Region* PhysBus::find(uint64_t addr) const {
  if (last_ && addr - last_->base < last_->size) return last_;
  auto it = std::upper_bound(regions_.begin(), regions_.end(), addr,
                             [](uint64_t a, const Region& r) { return a < r.base; });
  if (it == regions_.begin()) return nullptr;
  --it;
  if (addr - it->base >= it->size) return nullptr;
  return &*it;
}

bool PhysBus::load(uint64_t addr, unsigned size, uint64_t* value) {
  const Region* r = find(addr);
  if (!r || addr - r->base + size > r->size) return false;
  const_cast<PhysBus*>(this)->last_ = r;
  return r->dev->load(addr - r->base, size, value);
}

bool PhysBus::store(uint64_t addr, unsigned size, uint64_t value) {
  const Region* r = find(addr);
  if (!r || addr - r->base + size > r->size) return false;
  last_ = r;
  return r->dev->store(addr - r->base, size, value);
}

}  // namespace tandem::mem
