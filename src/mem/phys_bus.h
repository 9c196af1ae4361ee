// The guest-physical address space: RAM plus MMIO regions. The board fills
// it; the CPU translates to it; devices never see it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"
#include "mem/mmio.h"

namespace tandem::mem {

class PhysBus {
 public:
  explicit PhysBus(GuestMemory& ram) : ram_(ram) {}

  GuestMemory& ram() { return ram_; }
  // Fails when the region overlaps RAM or another region.
  Status map(uint64_t base, uint64_t size, MmioDevice* dev, std::string name);

  struct Region {
    uint64_t base;
    uint64_t size;
    MmioDevice* dev;
    std::string name;
  };
  const Region* find(uint64_t addr) const;
  const std::vector<Region>& regions() const { return regions_; }

  // MMIO access; false means no device answers (access fault). An access
  // must lie within one region.
  bool load(uint64_t addr, unsigned size, uint64_t* value);
  bool store(uint64_t addr, unsigned size, uint64_t value);

 private:
  GuestMemory& ram_;
  std::vector<Region> regions_;  // sorted by base
  const Region* last_ = nullptr;  // most recent hit: MMIO is bursty
};

}  // namespace tandem::mem
