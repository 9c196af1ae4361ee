// A CoreMark-like integer loop (array walk, CRC-style mixing, a data
// dependent branch, a call) whose result is checked exactly; the speed is
// printed for docs/performance.md, never asserted (no timing thresholds).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t kArray = kRamBase + 0x20000;
constexpr int kWords = 64;

void emit_program(Asm& a) {
  // x10 = iterations, x11 = array base
  a.li(11, static_cast<int64_t>(kArray));
  a.li(12, 0xffff);  // crc
  a.li(13, 0);       // odd
  a.li(14, 0);       // even
  a.li(15, 31);
  a.bind("loop");
  a.andi(5, 10, kWords - 1);
  a.slli(5, 5, 3);
  a.add(5, 5, 11);
  a.ld(6, 5, 0);
  a.op(0, 4, 12, 12, 6);  // xor crc, crc, v
  a.srli(7, 12, 7);       // (crc ^ v) >> 7
  a.w32(enc::r(1, 15, 12, 0, 12, 0x33));  // mul crc, crc, 31
  a.add(12, 12, 7);
  a.add(6, 6, 12);
  a.sd(6, 5, 0);
  a.andi(7, 6, 1);
  a.beq(7, 0, "even");
  a.addi(13, 13, 1);
  a.jal(0, "joined");
  a.bind("even");
  a.addi(14, 14, 1);
  a.bind("joined");
  a.jal(1, "mix");
  a.addi(10, 10, -1);
  a.bne(10, 0, "loop");
  // result = crc + odd*3 + even
  a.slli(5, 13, 1);
  a.add(5, 5, 13);
  a.add(5, 5, 14);
  a.add(10, 12, 5);
  a.wfi();
  a.bind("mix");
  a.slli(7, 12, 3);
  a.op(0, 4, 12, 12, 7);
  a.jalr(0, 1, 0);
  a.finish();
}

TEST(HartPerf, IntegerLoopMips) {
  constexpr uint64_t kIterations = 4'000'000;
  Machine m;
  for (int k = 0; k < kWords; ++k) m.write64(kArray + 8 * k, static_cast<uint64_t>(k) * 0x9e3779b97f4a7c15ull);
  Asm a(kRamBase);
  emit_program(a);
  m.load(a);
  m.hart->set_reg(10, kIterations);
  auto t0 = std::chrono::steady_clock::now();
  StopReason r;
  do {
    r = m.run(10'000'000);  // slices, like the board's run loop
  } while (r == StopReason::kBudget);
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(r, StopReason::kWfi);
  // The same computation in C++.
  uint64_t arr[kWords];
  for (int k = 0; k < kWords; ++k) arr[k] = static_cast<uint64_t>(k) * 0x9e3779b97f4a7c15ull;
  uint64_t crc = 0xffff, odd = 0, even = 0;
  for (uint64_t i = kIterations; i != 0; --i) {
    uint64_t idx = i & (kWords - 1);
    uint64_t v = arr[idx];
    crc ^= v;
    crc = crc * 31 + (crc >> 7);
    v += crc;
    arr[idx] = v;
    if (v & 1) odd++; else even++;
    crc ^= crc << 3;
  }
  EXPECT_EQ(m.x(10), crc + odd * 3 + even);
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double mips = static_cast<double>(m.hart->instret()) / secs / 1e6;
  std::printf("[ perf     ] %llu instructions in %.3f s: %.0f MIPS\n",
              static_cast<unsigned long long>(m.hart->instret()), secs, mips);
  RecordProperty("mips", static_cast<int>(mips));
}

}  // namespace
}  // namespace tandem::cpu::test
