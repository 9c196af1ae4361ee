// The memory tracking contract (mem/guest_memory.h), self-modifying code,
// MMIO, LR/SC and AMOs.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t kData = kRamBase + 0x10000;
size_t page_of(uint64_t gpa) { return (gpa - kRamBase) >> 12; }

TEST(HartMem, FirstStoreDirtiesAndNewEpochRearms) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kData));
  a.sd(1, 1, 0);
  a.wfi();
  a.sd(1, 1, 8);  // same page: would use a cached store pointer
  a.wfi();
  m.load(a);
  auto log = m.ram->open_dirty_log("test");  // without the test's own writes
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_TRUE(m.ram->dirty().test(page_of(kData)));
  auto dirty = log->end_epoch();
  EXPECT_EQ(dirty, std::vector<uint32_t>{static_cast<uint32_t>(page_of(kData))});
  EXPECT_FALSE(m.ram->dirty().test(page_of(kData)));
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_TRUE(m.ram->dirty().test(page_of(kData))) << "a store after end_epoch re-dirties the page";
  EXPECT_EQ(m.read64(kData + 8), kData);
}

TEST(HartMem, ProtectedPageHookRunsBeforeTheStore) {
  Machine m;
  m.write64(kData, 0xaaaa);
  std::vector<uint64_t> seen;
  auto hook = m.ram->add_write_hook("test", [&](size_t page) {
    EXPECT_EQ(page, page_of(kData));
    seen.push_back(m.read64(kData));
  });
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kData));
  a.ld(2, 1, 0);  // a read entry in the TLB must not permit the store
  a.wfi();
  a.li(3, 0x5555);
  a.sd(3, 1, 0);
  a.sd(3, 1, 8);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  hook->protect(std::vector<uint32_t>{static_cast<uint32_t>(page_of(kData))});
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], 0xaaaau);
  EXPECT_EQ(m.read64(kData), 0x5555u);
}

TEST(HartMem, AbsentPagesAreLoadedBeforeFetchAndLoad) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kData));
  a.ld(2, 1, 0);
  a.wfi();
  std::vector<uint8_t> code = a.bytes();
  std::vector<size_t> loaded;
  m.ram->set_loader([&](size_t page) {
    loaded.push_back(page);
    uint8_t* h = m.ram->page_host(page);
    std::memset(h, 0, 4096);
    if (page == 0) std::memcpy(h, code.data(), code.size());
    if (page == page_of(kData)) m.write64(kData, 0x1234);
    m.ram->mark_present(page);
  });
  std::memset(m.host(kRamBase), 0xff, 4096);  // garbage until loaded
  m.ram->mark_absent_all();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(2), 0x1234u);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0], 0u) << "the code page is loaded before it is fetched";
  EXPECT_EQ(loaded[1], page_of(kData));
}

TEST(HartMem, TraceSeesPagesAlreadyInTheTlb) {
  Machine m;
  const uint64_t other = kData + 0x3000;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kData));
  a.li(2, static_cast<int64_t>(other));
  a.ld(3, 1, 0);  // fills the read TLB before tracing starts
  a.wfi();
  a.ld(3, 1, 8);
  a.sd(3, 2, 0);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  m.ram->start_trace();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  auto active = m.ram->stop_trace();
  // The code page (fetched first), then the loaded page, then the stored one.
  ASSERT_EQ(active.size(), 3u);
  EXPECT_EQ(active[0], 0u);
  EXPECT_EQ(active[1], page_of(kData));
  EXPECT_EQ(active[2], page_of(other));
}

// Many small functions on many pages, called from a list; between rounds
// devices rewrite some of them. Exercises the block table's growth and
// deletion and the invalidation of rewritten code.
TEST(HartMem, ManyBlocksSurviveRandomInvalidation) {
  Machine m;
  constexpr uint64_t kFuncs = kRamBase + 0x100000;
  constexpr unsigned kPages = 512, kEntries = 4;
  constexpr uint64_t kList = kRamBase + 0x20000;
  std::vector<int> inc(kPages * kEntries);
  auto write_func = [&](unsigned f, int k) {
    inc[f] = k;
    const uint64_t at = kFuncs + (f / kEntries) * 0x1000 + (f % kEntries) * 0x400;
    uint32_t code[2] = {enc::i(k, 10, 0, 10, 0x13), enc::i(0, 1, 0, 0, 0x67)};  // addi a0,a0,k; ret
    ASSERT_TRUE(m.ram->write(at, code, sizeof code).ok());
  };
  for (unsigned f = 0; f < kPages * kEntries; ++f) write_func(f, static_cast<int>(f % 7) + 1);
  std::mt19937 rng(12345);
  std::vector<unsigned> calls(3000);
  for (size_t c = 0; c < calls.size(); ++c) {
    calls[c] = rng() % (kPages * kEntries);
    m.write64(kList + 8 * c, kFuncs + (calls[c] / kEntries) * 0x1000 + (calls[c] % kEntries) * 0x400);
  }
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(kList));
  a.li(6, static_cast<int64_t>(calls.size()));
  a.li(10, 0);
  a.bind("loop");
  a.ld(7, 5, 0);
  a.jalr(1, 7, 0);
  a.addi(5, 5, 8);
  a.addi(6, 6, -1);
  a.bne(6, 0, "loop");
  a.wfi();
  a.finish();
  m.load(a);
  for (int round = 0; round < 6; ++round) {
    uint64_t want = 0;
    for (unsigned f : calls) want += static_cast<uint64_t>(inc[f]);
    m.hart->set_pc(kRamBase);
    ASSERT_EQ(m.run(10'000'000), StopReason::kWfi);
    ASSERT_EQ(m.x(10), want) << "round " << round;
    for (int k = 0; k < 300; ++k) write_func(rng() % (kPages * kEntries), static_cast<int>(rng() % 50));
  }
  EXPECT_GT(m.hart->blocks_decoded(), uint64_t{kPages * kEntries});
}

TEST(HartMem, StoreIntoTheExecutingBlockTakesEffect) {
  Machine m;
  Asm a(kRamBase);
  a.auipc(1, 0);
  a.addi(1, 1, 20);  // x1 = address of "target"
  a.li(2, static_cast<int64_t>(enc::i(2, 0, 0, 3, 0x13)));  // addi x3, x0, 2 (lui + addiw)
  a.sw(2, 1, 0);
  a.bind("target");
  a.addi(3, 0, 1);
  a.wfi();
  ASSERT_EQ(a.label("target"), kRamBase + 20);
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(3), 2u) << "the store rewrote the next instruction of the running block";
  EXPECT_EQ(m.hart->instret(), 7u);
}

TEST(HartMem, ModifiedFunctionRunsNewCodeAfterFenceI) {
  Machine m;
  const uint64_t fn = kRamBase + 0x2000;
  Asm f(fn);
  f.addi(10, 0, 1);
  f.jalr(0, 1, 0);
  m.load(f);
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(fn));
  a.jalr(1, 5, 0);
  a.mv(20, 10);
  a.li(6, static_cast<int64_t>(enc::i(7, 0, 0, 10, 0x13)));  // addi a0, x0, 7
  a.sw(6, 5, 0);
  a.fence_i();
  a.jalr(1, 5, 0);
  a.mv(21, 10);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(20), 1u);
  EXPECT_EQ(m.x(21), 7u);
}

TEST(HartMem, CodeWrittenByADeviceIsReDecoded) {
  Machine m;
  Asm a(kRamBase);
  a.addi(10, 0, 1);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 1u);
  EXPECT_TRUE(m.ram->has_code(0));
  uint32_t insn = enc::i(9, 0, 0, 10, 0x13);
  ASSERT_TRUE(m.ram->write(kRamBase, &insn, 4).ok());  // DMA path: invalidates decoded code
  m.hart->set_pc(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 9u);
}

TEST(HartMem, MmioGoesToTheDeviceEveryTime) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kMmioBase));
  a.lw(2, 1, 0x10);
  a.lw(3, 1, 0x10);
  a.li(4, 0xabcd);
  a.sh(4, 1, 0x20);
  a.sd(4, 1, 0x20);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  ASSERT_EQ(m.dev.log.size(), 4u);
  EXPECT_FALSE(m.dev.log[0].store);
  EXPECT_EQ(m.dev.log[0].offset, 0x10u);
  EXPECT_EQ(m.dev.log[0].size, 4u);
  EXPECT_EQ(m.x(2), 0x55667788u);
  EXPECT_EQ(m.x(3), 0x55667788u);
  EXPECT_TRUE(m.dev.log[2].store);
  EXPECT_EQ(m.dev.log[2].size, 2u);
  EXPECT_EQ(m.dev.log[2].value, 0xabcdu);
  EXPECT_EQ(m.dev.log[3].size, 8u);
}

TEST(HartMem, LrScSemantics) {
  Machine m;
  m.write64(kData, 0xffffffff80000000ull);
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kData));
  a.li(2, 42);
  a.amo(0x02, 3, 3, 1, 0);  // lr.d x3
  a.amo(0x03, 3, 4, 1, 2);  // sc.d x4 <- 0 (success)
  a.amo(0x03, 3, 5, 1, 2);  // sc.d again: no reservation -> 1
  a.amo(0x02, 2, 6, 1, 0);  // lr.w x6 (sign-extended)
  a.amo(0x03, 2, 7, 1, 2);  // sc.w -> 0
  a.amo(0x02, 3, 8, 1, 0);  // lr.d
  a.addi(9, 1, 8);
  a.amo(0x03, 3, 9, 9, 2);  // sc.d to another address -> 1
  a.amo(0x02, 3, 10, 1, 0);  // lr.d
  a.li(11, 99);
  a.sd(11, 1, 0);            // the value changes
  a.amo(0x03, 3, 12, 1, 2);  // sc.d -> 1
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(3), 0xffffffff80000000ull);
  EXPECT_EQ(m.x(4), 0u);
  EXPECT_EQ(m.x(5), 1u);
  EXPECT_EQ(m.x(6), 42u);
  EXPECT_EQ(m.x(7), 0u);
  EXPECT_EQ(m.x(9), 1u);
  EXPECT_EQ(m.x(12), 1u);
  EXPECT_EQ(m.read64(kData), 99u);
}

TEST(HartMem, AmoResults) {
  Machine m;
  m.write64(kData, 0x00000001fffffffeull);
  m.write64(kData + 8, 5);
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kData));
  a.li(2, 3);
  a.amo(0x00, 2, 3, 1, 2);   // amoadd.w: old = -2 (sign-extended), new low word = 1
  a.li(4, -1);
  a.amo(0x1c, 2, 5, 1, 4);   // amomaxu.w: max(1, 0xffffffff) = 0xffffffff
  a.addi(6, 1, 8);
  a.li(7, -9);
  a.amo(0x10, 3, 8, 6, 7);   // amomin.d: min(5, -9) = -9
  a.amo(0x14, 3, 9, 6, 0);   // amomax.d: max(-9, 0) = 0
  a.li(10, 0x77);
  a.amo(0x01, 3, 11, 6, 10);  // amoswap.d
  a.amo(0x0c, 3, 12, 6, 2);   // amoand.d: 0x77 & 3
  a.amo(0x08, 3, 13, 6, 7);   // amoor.d
  a.amo(0x04, 3, 14, 6, 2);   // amoxor.d
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(3), 0xfffffffffffffffeull);
  EXPECT_EQ(m.x(5), 1u);
  EXPECT_EQ(m.read32(kData), 0xffffffffu);
  EXPECT_EQ(m.read32(kData + 4), 1u) << "a .w AMO leaves the upper word alone";
  EXPECT_EQ(m.x(8), 5u);
  EXPECT_EQ(m.x(9), static_cast<uint64_t>(-9));
  EXPECT_EQ(m.x(11), 0u);
  EXPECT_EQ(m.x(12), 0x77u);
  EXPECT_EQ(m.x(13), 3u);
  EXPECT_EQ(m.x(14), static_cast<uint64_t>(-9));
  EXPECT_EQ(m.read64(kData + 8), static_cast<uint64_t>(-9) ^ 3);
}

TEST(HartMem, InstructionCrossingAPageBoundary) {
  Machine m;
  // A 4-byte instruction at page offset 0xffe, after a compressed nop.
  const uint64_t at = kRamBase + 0x1ffe;
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(at - 2));
  a.jalr(0, 5, 0);
  m.load(a);
  Asm b(at - 2);
  b.w16(0x0001);       // c.nop
  b.addi(10, 0, 33);   // crosses into the next page
  b.wfi();
  m.load(b);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 33u);
  EXPECT_EQ(m.hart->pc(), at + 4 + 4) << "past the wfi that follows";
}

}  // namespace
}  // namespace tandem::cpu::test
