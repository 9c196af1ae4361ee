// Code and data in one page, and self-modifying code (docs/architecture.md,
// "The CPU"): a store that overlaps no decoded instruction invalidates
// nothing and, after the first one, goes through a code write TLB entry
// that still honours the memory tracking contract; a store that overlaps
// decoded bytes (the hart's, a device's) drops exactly the blocks it
// overlaps before the next instruction runs, with or without fence.i.
#include <gtest/gtest.h>

#include <vector>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

size_t page_of(uint64_t gpa) { return (gpa - kRamBase) >> 12; }
uint32_t addi_insn(unsigned rd, unsigned rs1, int32_t imm) { return enc::i(imm, rs1, 0, rd, 0x13); }
constexpr uint32_t kRet = 0x00008067;  // jalr x0, 0(ra)

// Emits "li a0, k; ret" at `at`.
void put_function(Machine& m, uint64_t at, int32_t k) {
  Asm f(at);
  f.addi(10, 0, k);
  f.jalr(0, 1, 0);
  m.load(f);
}

// A loop whose stores land in its own page, beside (never on) its code.
Asm data_beside_code_loop(uint64_t data, int iterations) {
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(data));
  a.li(2, iterations);
  a.bind("loop");
  a.sd(2, 1, 0);
  a.sw(2, 1, 12);
  a.sb(2, 1, 21);
  a.addi(2, 2, -1);
  a.bne(2, 0, "loop");
  a.wfi();
  a.finish();
  return a;
}

TEST(HartSmc, DataStoresBesideCodeKeepItsBlocks) {
  Machine m;
  const uint64_t data = kRamBase + 0x800;
  m.load(data_beside_code_loop(data, 1000));
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_LE(m.hart->blocks_decoded(), 3u) << "each store to the loop's page decoded it again";
  EXPECT_EQ(m.read64(data), 1u);
  EXPECT_EQ(m.read32(data + 12), 1u);
  EXPECT_TRUE(m.ram->has_code(0));
  EXPECT_TRUE(m.ram->dirty().test(0));
}

// The code write entry is a write entry like any other: a new epoch, a
// protection and a trace each send the next store to the slow path again.
TEST(HartSmc, StoresBesideCodeAreTrackedEveryEpoch) {
  Machine m;
  const uint64_t data = kRamBase + 0x800;
  m.load(data_beside_code_loop(data, 10));
  auto log = m.ram->open_dirty_log("test");
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_TRUE(m.ram->has_code(0));

  log->end_epoch();
  m.hart->set_pc(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(log->end_epoch(), std::vector<uint32_t>{0}) << "a store in the new epoch dirties the page";

  std::vector<uint64_t> seen;
  auto hook = m.ram->add_write_hook("test", [&](size_t page) {
    EXPECT_EQ(page, 0u);
    seen.push_back(m.read64(data));
  });
  m.write64(data, 0x77);
  hook->protect(std::vector<uint32_t>{0});
  m.hart->set_pc(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_EQ(seen.size(), 1u) << "the copy-on-write hook runs once, before the first store";
  EXPECT_EQ(seen[0], 0x77u);
  EXPECT_EQ(m.read64(data), 1u);
  EXPECT_LE(m.hart->blocks_decoded(), 3u);
}

// A store that lands next to a block, on either side, keeps it; one byte
// over its last instruction drops it.
TEST(HartSmc, OnlyStoresOverlappingDecodedBytesInvalidate) {
  Machine m;
  const uint64_t fn = kRamBase + 0x3100;  // 8 bytes: 0x3100..0x3107
  put_function(m, fn, 5);
  Asm a(kRamBase);
  a.li(8, static_cast<int64_t>(fn));
  a.jalr(1, 8, 0);
  a.wfi();
  a.li(7, -1);
  a.sd(7, 8, -8);  // the 8 bytes right before it
  a.sb(7, 8, 8);   // the byte right after it
  a.jalr(1, 8, 0);
  a.wfi();
  a.lbu(7, 8, 7);
  a.sb(7, 8, 7);   // its last byte, rewritten with the same value
  a.jalr(1, 8, 0);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  const uint64_t decoded = m.hart->blocks_decoded();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 5u);
  // New: li..jalr and the wfi after it; the function stays.
  EXPECT_EQ(m.hart->blocks_decoded(), decoded + 2) << "a store beside the function dropped it";
  const uint64_t before_overlap = m.hart->blocks_decoded();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 5u);
  EXPECT_EQ(m.hart->blocks_decoded(), before_overlap + 3) << "lbu..jalr, the function again, the wfi";
}

// Two functions in one page: rewriting one keeps the other's block.
TEST(HartSmc, AStoreDropsOnlyTheBlocksItOverlaps) {
  Machine m;
  const uint64_t f1 = kRamBase + 0x3100, f2 = kRamBase + 0x3200;
  put_function(m, f1, 1);
  put_function(m, f2, 2);
  Asm a(kRamBase);
  a.li(8, static_cast<int64_t>(f1));
  a.li(9, static_cast<int64_t>(f2));
  a.li(6, static_cast<int64_t>(addi_insn(10, 0, 11)));
  a.bind("loop");
  a.sw(6, 8, 0);  // f1 returns 11 from now on
  a.jalr(1, 8, 0);
  a.mv(20, 10);
  a.jalr(1, 9, 0);
  a.mv(21, 10);
  a.wfi();
  a.jal(0, "loop");
  a.finish();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_EQ(m.run(), StopReason::kWfi);  // decodes the jal and the block at "loop"
  const uint64_t decoded = m.hart->blocks_decoded();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(20), 11u);
  EXPECT_EQ(m.x(21), 2u);
  EXPECT_EQ(m.hart->blocks_decoded(), decoded + 1) << "only f1 is decoded again, not f2";
}

// Two blocks sharing bytes (a call into the middle of a function): a
// store that drops one leaves the other's bytes watched.
TEST(HartSmc, OverlappingBlocksStayWatched) {
  Machine m;
  const uint64_t fn = kRamBase + 0x3100;
  Asm f(fn);
  f.addi(10, 10, 1);
  f.addi(10, 10, 2);  // second entry point
  f.jalr(0, 1, 0);
  m.load(f);
  Asm a(kRamBase);
  a.li(8, static_cast<int64_t>(fn));
  a.li(10, 0);
  a.jalr(1, 8, 0);  // decodes fn..ret
  a.li(10, 0);
  a.jalr(1, 8, 4);  // decodes fn+4..ret
  a.mv(20, 10);
  a.lw(6, 8, 0);
  a.sw(6, 8, 0);    // drops the first block only
  a.li(7, static_cast<int64_t>(addi_insn(10, 10, 5)));
  a.sw(7, 8, 4);    // must drop the second
  a.li(10, 0);
  a.jalr(1, 8, 4);
  a.mv(21, 10);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(20), 2u);
  EXPECT_EQ(m.x(21), 5u);
}

// Self-modifying code at three distances, each with and without fence.i:
// the next instruction in the executing block, the first of the next block
// (already decoded and reached through the jump cache), and a function on
// another page.
class HartSmcDistance : public testing::TestWithParam<bool> {
 protected:
  bool fence() const { return GetParam(); }
};

TEST_P(HartSmcDistance, NextInstructionInTheSameBlock) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kRamBase + 0x40));
  a.li(2, static_cast<int64_t>(addi_insn(3, 0, 2)));
  a.li(5, 2);
  a.li(7, 1 << 20);  // adds 1 to an I-type immediate
  a.bind("loop");
  a.sw(2, 1, 0);
  if (fence()) a.fence_i();
  while (a.here() < kRamBase + 0x40) a.nop();
  a.addi(3, 0, 1);  // at kRamBase + 0x40: rewritten to addi x3, x0, 2, then 3
  a.add(4, 4, 3);
  a.add(2, 2, 7);
  a.addi(5, 5, -1);
  a.bne(5, 0, "loop");
  a.wfi();
  a.finish();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(4), 2u + 3u) << "each round runs the instruction it wrote";
}

TEST_P(HartSmcDistance, FirstInstructionOfTheNextBlock) {
  Machine m;
  const uint64_t target = kRamBase + 0x100;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(target));
  a.li(2, static_cast<int64_t>(addi_insn(3, 0, 2)));
  a.jal(0, static_cast<int32_t>(target - a.here()));  // first round: the old code
  a.bind("store");
  a.sw(2, 1, 0);
  if (fence()) a.fence_i();
  a.jal(0, static_cast<int32_t>(target - a.here()));
  while (a.here() < target) a.nop();
  a.addi(3, 0, 1);  // rewritten to addi x3, x0, 2
  a.add(4, 4, 3);
  a.addi(5, 5, 1);
  a.li(6, 2);
  a.blt(5, 6, "store");
  a.wfi();
  a.finish();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(4), 3u) << "old code, then new";
}

TEST_P(HartSmcDistance, FunctionOnAnotherPage) {
  Machine m;
  const uint64_t fn = kRamBase + 0x2000;
  put_function(m, fn, 1);
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(fn));
  a.jalr(1, 5, 0);
  a.mv(20, 10);
  a.li(6, static_cast<int64_t>(addi_insn(10, 0, 7)));
  a.sw(6, 5, 0);
  if (fence()) a.fence_i();
  a.jalr(1, 5, 0);
  a.mv(21, 10);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(20), 1u);
  EXPECT_EQ(m.x(21), 7u);
}

// One byte of the instruction's immediate (bits 31:24 = imm[11:4]).
TEST_P(HartSmcDistance, ByteStoreIntoTheNextInstruction) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kRamBase + 0x20 + 3));
  a.li(2, 0x10);
  a.sb(2, 1, 0);
  if (fence()) a.fence_i();
  while (a.here() < kRamBase + 0x20) a.nop();
  a.addi(3, 0, 1);  // becomes addi x3, x0, 0x101
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(3), 0x101u);
}

INSTANTIATE_TEST_SUITE_P(FenceI, HartSmcDistance, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& p) { return p.param ? "fence_i" : "no_fence_i"; });

// A generator that rewrites a function many times while storing data
// beside it: each rewrite runs, and the data stores keep landing.
TEST(HartSmc, RewrittenFunctionWithDataBesideIt) {
  Machine m;
  const uint64_t fn = kRamBase + 0x5000, data = fn + 0x7f0;
  put_function(m, fn, 0);
  Asm a(kRamBase);
  a.li(8, static_cast<int64_t>(fn));
  a.li(5, 1);
  a.li(9, 51);
  a.li(4, 0);
  a.bind("loop");
  a.sd(5, 8, 0x7f0);  // data beside the function
  a.sd(5, 8, 0x7f8);
  a.slli(6, 5, 20);   // addi a0, x0, i
  a.li(7, static_cast<int64_t>(addi_insn(10, 0, 0)));
  a.add(6, 6, 7);
  a.sw(6, 8, 0);
  a.jalr(1, 8, 0);
  a.add(4, 4, 10);
  a.addi(5, 5, 1);
  a.bne(5, 9, "loop");
  a.wfi();
  a.finish();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(4), 50u * 51u / 2u);
  EXPECT_EQ(m.read64(data), 50u);
  EXPECT_GE(m.hart->blocks_decoded(), 50u) << "the function is decoded again after each rewrite";
}

// A misaligned store across a page boundary onto a function's first bytes.
TEST(HartSmc, StoreStraddlingIntoACodePage) {
  Machine m;
  const uint64_t fn = kRamBase + 0x3000;
  put_function(m, fn, 1);
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(fn));
  a.jalr(1, 5, 0);
  a.mv(20, 10);
  // 8 bytes at fn - 4: four before the page, then "addi a0, x0, 9".
  a.li(6, static_cast<int64_t>((uint64_t{addi_insn(10, 0, 9)} << 32) | 0xdeadbeef));
  a.sd(6, 5, -4);
  a.jalr(1, 5, 0);
  a.mv(21, 10);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(20), 1u);
  EXPECT_EQ(m.x(21), 9u);
  EXPECT_EQ(m.read32(fn - 4), 0xdeadbeefu);
}

// Device (DMA) writes through GuestMemory: beside the code they drop
// nothing, over it they drop what they overlap.
TEST(HartSmc, DeviceWritesInvalidateOnlyWhatTheyOverlap) {
  Machine m;
  const uint64_t fn = kRamBase + 0x3100;
  put_function(m, fn, 1);
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(fn));
  a.jalr(1, 5, 0);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_EQ(m.x(10), 1u);
  const uint64_t decoded = m.hart->blocks_decoded();
  std::vector<uint8_t> junk(0x100, 0xff);
  ASSERT_TRUE(m.ram->write(fn - 0x100, junk.data(), junk.size()).ok());
  ASSERT_TRUE(m.ram->write(fn + 8, junk.data(), junk.size()).ok());
  EXPECT_TRUE(m.ram->has_code(page_of(fn)));
  m.hart->set_pc(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_EQ(m.x(10), 1u);
  EXPECT_EQ(m.hart->blocks_decoded(), decoded) << "a write beside the function dropped it";
  const uint32_t insn = addi_insn(10, 0, 3);
  ASSERT_TRUE(m.ram->write(fn, &insn, 4).ok());
  m.hart->set_pc(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 3u);
  EXPECT_EQ(m.hart->blocks_decoded(), decoded + 1);
}

}  // namespace
}  // namespace tandem::cpu::test
