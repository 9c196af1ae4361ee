// The guest's notion of time (mtime, the `time` CSR). The board decides
// whether it follows the host clock or instructions executed (--icount);
// the CPU and the CLINT only read it.
#pragma once

#include <cstdint>

namespace tandem {

// QEMU's virt board runs mtime at 10 MHz; the device tree says so too.
inline constexpr uint64_t kTimebaseHz = 10'000'000;

class Clock {
 public:
  virtual ~Clock() = default;
  // Ticks of kTimebaseHz since the machine started.
  virtual uint64_t now() const = 0;
};

}  // namespace tandem
