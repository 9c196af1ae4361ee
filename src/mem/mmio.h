// The narrow interface every memory-mapped device speaks. `offset` is from
// the device's base; size is 1, 2, 4 or 8. Returning false is an access
// fault (the CPU raises a load/store access fault).
#pragma once

#include <cstdint>

namespace tandem::mem {

class MmioDevice {
 public:
  virtual ~MmioDevice() = default;
  virtual bool load(uint64_t offset, unsigned size, uint64_t* value) = 0;
  virtual bool store(uint64_t offset, unsigned size, uint64_t value) = 0;
};

}  // namespace tandem::mem
