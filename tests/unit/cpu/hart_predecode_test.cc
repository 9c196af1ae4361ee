// Decoding ahead (cpu/predecode.cc): the block log lists the blocks a hart
// entered, in order; blocks offered from another thread are taken in only
// while memory still holds what they were decoded from.
#include <gtest/gtest.h>

#include <thread>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

// x10 = 1 + 2 + ... + n through a loop and a call, then WFI.
void emit_sum(Asm& a, int n = 100) {
  a.li(10, 0);
  a.li(11, n);
  a.bind("loop");
  a.jal(1, "add");
  a.addi(11, 11, -1);
  a.bne(11, 0, "loop");
  a.wfi();
  a.bind("add");
  a.add(10, 10, 11);
  a.jalr(0, 1, 0);
}

TEST(HartPredecode, BlockLogListsEachBlockOnceInOrderOfFirstEntry) {
  Machine m;
  Asm a(kRamBase);
  emit_sum(a);
  a.finish();
  m.load(a);
  m.hart->start_block_log();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 5050u);
  std::vector<uint64_t> log = m.hart->take_block_log();
  // The entry block (li, li, jal), "add", the loop's tail (addi, bne),
  // the loop head (jal) and the block after the loop (wfi): five, whatever
  // the number of iterations.
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0], kRamBase);
  EXPECT_EQ(log[1], a.label("add"));
  EXPECT_EQ(m.hart->take_block_log().size(), 0u) << "the log stopped";
}

std::vector<uint64_t> logged_blocks(int n = 100) {
  Machine m;
  Asm a(kRamBase);
  emit_sum(a, n);
  a.finish();
  m.load(a);
  m.hart->start_block_log();
  EXPECT_EQ(m.run(), StopReason::kWfi);
  return m.hart->take_block_log();
}

TEST(HartPredecode, OfferedBlocksAreTakenInsteadOfDecoded) {
  std::vector<uint64_t> log = logged_blocks();
  Machine m;
  Asm a(kRamBase);
  emit_sum(a);
  a.finish();
  m.load(a);
  size_t offered = 0;
  std::thread other([&] { offered = m.hart->offer_blocks(log); });  // as a restore's streamer does
  other.join();
  EXPECT_EQ(offered, log.size());
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 5050u);
  EXPECT_EQ(m.hart->blocks_adopted(), log.size());
  EXPECT_EQ(m.hart->blocks_decoded(), 0u);
}

// Memory written between the offering thread's copy and the hart's use:
// that block is decoded afresh, the others are taken.
TEST(HartPredecode, OfferedBlockWhoseBytesChangedIsDropped) {
  std::vector<uint64_t> log = logged_blocks(100);
  Machine m;
  Asm old_code(kRamBase);
  emit_sum(old_code, 100);
  old_code.finish();
  m.load(old_code);
  ASSERT_EQ(m.hart->offer_blocks(log), log.size());
  Asm new_code(kRamBase);
  emit_sum(new_code, 10);  // same layout, another count in the first block
  new_code.finish();
  ASSERT_EQ(new_code.bytes().size(), old_code.bytes().size());
  m.load(new_code);  // behind the hart's back, like a racing write
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 55u) << "ran the block decoded from the old bytes";
  EXPECT_EQ(m.hart->blocks_adopted(), log.size() - 1);
  EXPECT_EQ(m.hart->blocks_decoded(), 1u);
}

TEST(HartPredecode, AddressesOutsideRamOrMisalignedAreSkipped) {
  Machine m;
  const uint64_t bad[] = {kRamBase - 4, kRamBase + kRamSize, kRamBase + 1, kMmioBase};
  EXPECT_EQ(m.hart->offer_blocks(bad), 0u);
  // A page not loaded yet (a lazy restore's) is skipped as well.
  m.ram->mark_absent_all();
  const uint64_t absent[] = {kRamBase};
  EXPECT_EQ(m.hart->offer_blocks(absent), 0u);
}

}  // namespace
}  // namespace tandem::cpu::test
