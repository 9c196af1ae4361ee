// Harts sharing memory on one thread, as the board runs them in turn
// (docs/architecture.md, "SMP"): a store by one hart to code another has
// decoded reaches that hart's blocks before it runs them again, whatever
// store shortcuts the writer held; a hart switched out loses its LR
// reservation.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t kCodePage = kRamBase + 0x10000;  // the function both harts see
constexpr uint64_t kHart1Code = kRamBase + 0x1000;

// A second hart on the test machine's memory, peers with the first.
struct TwoHarts {
  Machine m;
  std::unique_ptr<Hart> h1;
  TwoHarts() {
    h1 = std::make_unique<Hart>(*m.bus, m.clock, 1);
    h1->reset(kHart1Code);
    m.hart->set_peers({h1.get()});
    h1->set_peers({m.hart.get()});
  }
};

// "li a0, k; ret" at `at`.
Asm function_returning(uint64_t at, int32_t k) {
  Asm f(at);
  f.addi(10, 0, k);
  f.jalr(0, 1, 0);
  f.finish();
  return f;
}

// Hart 1: calls the function, keeps a0 in s1, waits; calls it again, keeps
// a0 in s2, waits.
Asm caller() {
  Asm a(kHart1Code);
  a.li(5, static_cast<int64_t>(kCodePage));
  a.jalr(1, 5, 0);
  a.mv(9, 10);
  a.wfi();
  a.jalr(1, 5, 0);
  a.mv(18, 10);
  a.wfi();
  a.finish();
  return a;
}

// Hart 0: (1) `before` runs, then it waits; (2) it stores beside the
// function (a slow-path store that may install a write TLB entry while
// hart 1 holds code in the page), then rewrites the function's first
// instruction to "li a0, 2" with one store, then waits.
Asm writer(const std::function<void(Asm&)>& before) {
  Asm a(kRamBase);
  a.li(6, static_cast<int64_t>(kCodePage));
  before(a);
  a.wfi();
  a.sd(0, 6, 0x710);
  a.li(7, static_cast<int64_t>(enc::i(2, 0, 0, 10, 0x13)));  // addi a0, x0, 2
  a.sw(7, 6, 0);
  a.wfi();
  a.finish();
  return a;
}

void expect_new_code_runs(TwoHarts& t, const Asm& hart0) {
  t.m.load(function_returning(kCodePage, 1));
  t.m.load(caller());
  t.m.load(hart0);
  ASSERT_EQ(t.m.run(), StopReason::kWfi);       // hart 0 holds its shortcut to the page
  ASSERT_EQ(t.h1->run(1'000'000), StopReason::kWfi);  // hart 1 decodes the function
  EXPECT_EQ(t.h1->reg(9), 1u);
  ASSERT_EQ(t.m.run(), StopReason::kWfi);  // hart 0 rewrites it
  ASSERT_EQ(t.h1->run(1'000'000), StopReason::kWfi);
  EXPECT_EQ(t.h1->reg(18), 2u) << "hart 1 ran the block it had decoded before hart 0 rewrote it";
}

// Hart 0 wrote data into the page before it held code: a plain write TLB
// entry, which must not outlive hart 1 decoding there.
TEST(HartSmp, StoreThroughPlainEntryReachesPeersCode) {
  TwoHarts t;
  expect_new_code_runs(t, writer([](Asm& a) { a.sd(0, 6, 0x700); }));
}

// Hart 0 runs code of its own in the page and stores beside it: a code
// write entry, which checks only hart 0's decoded halfwords.
TEST(HartSmp, StoreThroughCodeEntryReachesPeersCode) {
  TwoHarts t;
  t.m.load(function_returning(kCodePage + 0x100, 7));
  expect_new_code_runs(t, writer([](Asm& a) {
    a.addi(5, 6, 0x100);
    a.jalr(1, 5, 0);  // hart 0 decodes code in the page
    a.sd(0, 6, 0x700);
    a.sd(0, 6, 0x708);  // the second store goes through the code write entry
  }));
  EXPECT_EQ(t.m.x(10), 7u);
}

// Without peers (one hart) the same rewrite goes unseen until fence.i:
// the test above would fail without set_peers, so it tests something.
TEST(HartSmp, WithoutPeersTheRewriteIsMissed) {
  TwoHarts t;
  t.m.hart->set_peers({});
  t.h1->set_peers({});
  t.m.load(function_returning(kCodePage, 1));
  t.m.load(caller());
  t.m.load(writer([](Asm& a) { a.sd(0, 6, 0x700); }));
  ASSERT_EQ(t.m.run(), StopReason::kWfi);
  ASSERT_EQ(t.h1->run(1'000'000), StopReason::kWfi);
  ASSERT_EQ(t.m.run(), StopReason::kWfi);
  ASSERT_EQ(t.h1->run(1'000'000), StopReason::kWfi);
  EXPECT_EQ(t.h1->reg(18), 1u);
}

// lr.d, then a switch to another hart and back: the sc.d fails (1); the
// retry after a fresh lr.d succeeds (0).
TEST(HartSmp, ReservationIsLostAtASwitch) {
  TwoHarts t;
  const uint64_t word = kRamBase + 0x20000;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(word));
  a.li(2, 5);
  a.amo(0x02, 3, 3, 1, 0);  // lr.d x3
  a.wfi();                  // the switch
  a.amo(0x03, 3, 4, 1, 2);  // sc.d x4: fails
  a.amo(0x02, 3, 3, 1, 0);  // lr.d again
  a.amo(0x03, 3, 5, 1, 2);  // sc.d x5: succeeds
  a.wfi();
  a.finish();
  t.m.load(a);
  Asm idle(kHart1Code);
  idle.wfi();
  idle.finish();
  t.m.load(idle);
  ASSERT_EQ(t.m.run(), StopReason::kWfi);
  t.m.hart->drop_reservation();  // what Machine::run_round does with 2+ harts
  ASSERT_EQ(t.h1->run(1'000'000), StopReason::kWfi);
  ASSERT_EQ(t.m.run(), StopReason::kWfi);
  EXPECT_EQ(t.m.x(4), 1u) << "sc.d succeeded across a switch";
  EXPECT_EQ(t.m.x(5), 0u);
  EXPECT_EQ(t.m.read64(word), 5u);
}

// mhartid is the hart's index.
TEST(HartSmp, MhartidIsTheIndex) {
  TwoHarts t;
  uint64_t id = 0;
  ASSERT_TRUE(t.h1->read_csr(0xf14, &id));
  EXPECT_EQ(id, 1u);
}

// Privileged spec 3.1.9: `csrs mip, SSIP` (OpenSBI delivering an IPI) while
// the PLIC drives SEIP must not make SEIP stick once the PLIC lowers it.
TEST(HartSmp, MipReadModifyWriteLeavesExternalSeipAlone) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, 2);          // SSIP
  a.csrs(0x344, 1);    // csrs mip, x1
  a.wfi();
  a.finish();
  m.load(a);
  m.hart->set_irq(9, true);  // SEIP from the PLIC
  ASSERT_EQ(m.run(), StopReason::kWfi);
  m.hart->set_irq(9, false);
  uint64_t mip = 0;
  ASSERT_TRUE(m.hart->read_csr(0x344, &mip));
  EXPECT_EQ(mip & (1u << 9), 0u) << "the PLIC's SEIP level was latched into mip";
  EXPECT_NE(mip & 2u, 0u);
}

}  // namespace
}  // namespace tandem::cpu::test
