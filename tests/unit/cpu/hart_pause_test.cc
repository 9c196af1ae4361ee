// Zihintpause: PAUSE ends a run after kPausesPerRun of them, so a hart
// spinning on a lock hands its host thread back (board::HartThreads
// yields); the count starts again with each run, so where a run ends
// depends only on the guest, with either engine.
#include <gtest/gtest.h>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint32_t kPause = 0x0100000f;   // fence w, 0
constexpr uint32_t kFence = 0x0ff0000f;   // fence iorw, iorw

Asm spin(uint32_t hint) {
  Asm a(kRamBase);
  a.addi(5, 0, 0);
  a.bind("loop");
  a.addi(5, 5, 1);
  a.w32(hint);
  a.jal(0, "loop");
  a.finish();
  return a;
}

class HartPause : public ::testing::TestWithParam<Engine> {};

TEST_P(HartPause, EndsTheRunAfterAFixedCountEachRun) {
  Machine m;
  m.hart->set_engine(GetParam());
  m.load(spin(kPause));
  for (uint64_t run = 1; run <= 3; run++) {
    ASSERT_EQ(m.run(), StopReason::kPause) << "run " << run;
    EXPECT_EQ(m.x(5), run * kPausesPerRun) << "run " << run;
    // The li, then per turn addi + pause and, between turns, the jump.
    const uint64_t turns = run * kPausesPerRun;
    EXPECT_EQ(m.hart->instret(), 1 + 2 * turns + (turns - 1)) << "run " << run;
    EXPECT_EQ(m.hart->pc(), kRamBase + 12) << "stops after the PAUSE, before the jump";
  }
}

TEST_P(HartPause, OtherFencesDoNotEndTheRun) {
  Machine m;
  m.hart->set_engine(GetParam());
  m.load(spin(kFence));
  ASSERT_EQ(m.run(3000), StopReason::kBudget);
  EXPECT_GE(m.hart->instret(), 3000u);  // the budget ends at a block's end
  EXPECT_EQ(m.x(5), (m.hart->instret() - 1) / 3);
}

INSTANTIATE_TEST_SUITE_P(Engines, HartPause, ::testing::Values(Engine::kInterp, Engine::kJit),
                         [](const auto& info) { return info.param == Engine::kJit ? "jit" : "interp"; });

}  // namespace
}  // namespace tandem::cpu::test
