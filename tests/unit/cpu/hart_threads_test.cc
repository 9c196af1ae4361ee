// Harts on host threads of their own (cpu/smp_sync.h, docs/architecture.md
// "SMP"), with both engines: AMOs and LR/SC stay atomic across threads,
// and a store by one hart to code another runs reaches it while it runs.
#include <gtest/gtest.h>

#include <thread>

#include "cpu/smp_sync.h"
#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t kHart1Code = kRamBase + 0x1000;
constexpr uint64_t kCodePage = kRamBase + 0x10000;  // the function both harts see
constexpr uint64_t kCounters = kRamBase + 0x20000;

class HartThreads : public ::testing::TestWithParam<Engine> {
 protected:
  Machine m;
  std::unique_ptr<Hart> h1;
  SmpSync sync;
  HartThreads() {
    h1 = std::make_unique<Hart>(*m.bus, m.clock, 1);
    h1->reset(kHart1Code);
    m.hart->set_peers({h1.get()});
    h1->set_peers({m.hart.get()});
    sync.set_harts({m.hart.get(), h1.get()});
    for (Hart* h : {m.hart.get(), h1.get()}) {
      h->set_smp_sync(&sync);
      h->set_engine(GetParam());
      h->set_jit_threshold(1);
    }
    m.ram->set_code_write_exclusive(&sync);
  }
  // Runs both harts at once, each on a thread, until each stops at a WFI
  // or runs out of `budget`.
  std::pair<StopReason, StopReason> run_both(uint64_t budget) {
    StopReason r1 = StopReason::kBudget;
    std::thread t([&] { r1 = h1->run(budget); });
    const StopReason r0 = m.hart->run(budget);
    t.join();
    return {r0, r1};
  }
};

// Each hart adds 1 to one counter with amoadd.d and to another with an
// lr.d/sc.d loop, kIters times; both run the same code.
TEST_P(HartThreads, AmoAndLrScTotalsAreExact) {
  constexpr int kIters = 200'000;
  for (uint64_t start : {kRamBase, kHart1Code}) {
    Asm a(start);
    a.li(1, static_cast<int64_t>(kCounters));
    a.addi(2, 1, 64);  // another cache line
    a.li(3, kIters);
    a.li(4, 1);
    a.bind("loop");
    a.amo(0x00, 3, 0, 1, 4);  // amoadd.d x0, x4, (x1)
    a.bind("retry");
    a.amo(0x02, 3, 5, 2, 0);  // lr.d x5, (x2)
    a.addi(5, 5, 1);
    a.amo(0x03, 3, 6, 2, 5);  // sc.d x6, x5, (x2)
    a.bne(6, 0, "retry");
    a.addi(3, 3, -1);
    a.bne(3, 0, "loop");
    a.wfi();
    a.finish();
    m.load(a);
  }
  const auto [r0, r1] = run_both(100'000'000);
  ASSERT_EQ(r0, StopReason::kWfi);
  ASSERT_EQ(r1, StopReason::kWfi);
  EXPECT_EQ(m.read64(kCounters), 2u * kIters) << "amoadd.d lost updates";
  EXPECT_EQ(m.read64(kCounters + 64), 2u * kIters) << "an sc.d succeeded over another hart's update";
}

// Hart 1 calls a function that returns 1 until it returns 2; hart 0,
// holding a plain write entry to the function's page from before hart 1
// decoded there, rewrites it once hart 1 said it ran it, while hart 1
// keeps running it (a fence.i after each call, as the spec asks; ours
// drops nothing).
TEST_P(HartThreads, StoreReachesCodeAnotherHartRuns) {
  Asm f(kCodePage);
  f.addi(10, 0, 1);  // li a0, 1
  f.jalr(0, 1, 0);
  f.finish();
  m.load(f);
  Asm b(kHart1Code);
  b.li(5, static_cast<int64_t>(kCodePage));
  b.li(8, 2);
  b.jalr(1, 5, 0);
  b.li(4, 1);
  b.sd(4, 5, 0x700);  // "ran it once"
  b.bind("loop");
  b.jalr(1, 5, 0);
  b.fence_i();
  b.bne(10, 8, "loop");
  b.wfi();
  b.finish();
  m.load(b);
  Asm a(kRamBase);
  a.li(6, static_cast<int64_t>(kCodePage));
  a.sd(0, 6, 0x710);  // a plain write entry to the page
  a.bind("wait");
  a.ld(7, 6, 0x700);
  a.beq(7, 0, "wait");
  a.li(7, static_cast<int64_t>(enc::i(2, 0, 0, 10, 0x13)));  // addi a0, x0, 2
  a.sw(7, 6, 0);
  a.wfi();
  a.finish();
  m.load(a);
  const auto [r0, r1] = run_both(200'000'000);
  ASSERT_EQ(r0, StopReason::kWfi);
  EXPECT_EQ(r1, StopReason::kWfi) << "hart 1 kept running the function as it was before hart 0 rewrote it";
  EXPECT_EQ(h1->reg(10), 2u);
  EXPECT_GT(sync.exclusive_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, HartThreads, ::testing::Values(Engine::kInterp, Engine::kJit),
                         [](const auto& info) { return info.param == Engine::kJit ? "Jit" : "Interp"; });

}  // namespace
}  // namespace tandem::cpu::test
