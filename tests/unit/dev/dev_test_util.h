// Fakes shared by the device tests: a settable clock, IRQ sinks that
// remember levels, and byte/packet sinks that collect what they receive.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/irq.h"
#include "mem/mmio.h"

namespace tandem::dev::testing {

class FakeClock : public Clock {
 public:
  uint64_t now() const override { return t; }
  uint64_t t = 0;
};

class IrqRecorder : public IrqSink {
 public:
  void set_irq(unsigned line, bool level) override {
    levels[line] = level;
    calls++;
  }
  bool level(unsigned line) const {
    auto it = levels.find(line);
    return it != levels.end() && it->second;
  }
  std::map<unsigned, bool> levels;
  int calls = 0;
};

inline uint64_t rd(mem::MmioDevice& d, uint64_t off, unsigned size = 4) {
  uint64_t v = 0xdeadbeef;
  EXPECT_TRUE(d.load(off, size, &v)) << "load at 0x" << std::hex << off;
  return v;
}

inline void wr(mem::MmioDevice& d, uint64_t off, uint64_t v, unsigned size = 4) {
  EXPECT_TRUE(d.store(off, size, v)) << "store at 0x" << std::hex << off;
}

}  // namespace tandem::dev::testing
