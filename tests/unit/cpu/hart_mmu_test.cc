// Sv39/Sv48 translation: walks, A/D updates, superpages, permissions,
// sfence.vma and misaligned accesses across pages.
#include <gtest/gtest.h>

#include <functional>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;
constexpr uint64_t kSum = 1 << 18, kMxr = 1 << 19;

uint64_t pte(uint64_t pa, uint64_t flags) { return ((pa >> 12) << 10) | flags; }

class Mmu : public ::testing::Test {
 protected:
  static constexpr uint64_t kRoot = kRamBase + 0x100000;
  static constexpr uint64_t kData = kRamBase + 0x200000;  // 2 MiB aligned
  static constexpr uint64_t kBody = kRamBase + 0x400;

  // Sv39 (levels=3) or Sv48 (levels=4): the gigapage holding RAM is
  // identity-mapped for the code; VA 0x40000000 gets a chain of tables.
  void build(unsigned levels) {
    levels_ = levels;
    next_ = kRoot;
    root_ = alloc();
    uint64_t top = root_;
    if (levels == 4) {
      uint64_t l3 = alloc();
      m.write64(root_ + 0 * 8, pte(l3, V));
      top = l3;
    }
    m.write64(top + 2 * 8, pte(kRamBase, V | R | W | X | A | D));  // 0x80000000 gigapage
    l1_ = alloc();
    m.write64(top + 1 * 8, pte(l1_, V));  // 0x40000000
    l0_ = alloc();
    m.write64(l1_ + 0 * 8, pte(l0_, V));
  }
  uint64_t alloc() {
    uint64_t p = next_;
    next_ += 0x1000;
    std::memset(m.host(p), 0, 0x1000);
    return p;
  }
  // Maps VA 0x40000000 + 4K*i to pa.
  void map4k(unsigned i, uint64_t pa, uint64_t flags) { m.write64(l0_ + 8 * i, pte(pa, flags)); }
  uint64_t satp() const { return (uint64_t{levels_ == 3 ? 8u : 9u} << 60) | (root_ >> 12); }

  // Runs `body` in S-mode (or U with priv=0) with translation on; traps go
  // to the M handler (no delegation).
  StopReason run(const std::function<void(Asm&)>& body, unsigned priv = 1, uint64_t extra_mstatus = 0) {
    m.install_m_handler();
    Asm a(kRamBase);
    a.li(5, static_cast<int64_t>(satp()));
    a.csrw(kCsrSatp, 5);
    a.li(5, 3 << 11);
    a.csrc(kCsrMstatus, 5);
    a.li(5, static_cast<int64_t>((uint64_t{priv} << 11) | extra_mstatus));
    a.csrs(kCsrMstatus, 5);
    a.li(6, static_cast<int64_t>(kBody));
    a.csrw(kCsrMepc, 6);
    a.mret();
    m.load(a);
    Asm b(kBody);
    body(b);
    b.li(31, 0x600d);
    b.ecall();  // leave through the M handler
    b.finish();
    m.load(b);
    return m.run();
  }
  bool finished() const { return m.x(31) == 0x600d; }

  Machine m;
  unsigned levels_ = 3;
  uint64_t next_ = 0, root_ = 0, l1_ = 0, l0_ = 0;
};

TEST_F(Mmu, Sv39LoadSetsAccessedStoreSetsDirty) {
  build(3);
  map4k(0, kData, V | R | W);
  m.write64(kData + 0x10, 0xfeedface);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000000);
              a.ld(2, 1, 0x10);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.x(2), 0xfeedfaceu);
  EXPECT_EQ(m.read64(l0_) & (A | D), A) << "a load sets A only";
  m.hart->reset(kRamBase);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000000);
              a.li(2, 77);
              a.sd(2, 1, 0x18);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.read64(kData + 0x18), 77u);
  EXPECT_EQ(m.read64(l0_) & (A | D), A | D);
}

TEST_F(Mmu, DirtyBitIsSetOnFirstStoreEvenAfterLoadsFilledTheTlb) {
  build(3);
  map4k(0, kData, V | R | W | A);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000000);
              a.ld(2, 1, 0);
              a.ld(2, 1, 8);
              a.sd(2, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.read64(l0_) & D, D);
}

TEST_F(Mmu, Sv48Walk) {
  build(4);
  map4k(3, kData + 0x3000, V | R | W | A | D);
  m.write64(kData + 0x3008, 0x4848);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40003000);
              a.ld(2, 1, 8);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.x(2), 0x4848u);
}

TEST_F(Mmu, SuperpagesAndMisalignedSuperpageFaults) {
  build(3);
  m.write64(l1_ + 1 * 8, pte(kData, V | R | W | A | D));             // 2 MiB at 0x40200000
  m.write64(l1_ + 2 * 8, pte(kData + 0x1000, V | R | W | A | D));    // misaligned PPN
  m.write64(kData + 0x1234, 0x2222);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40201234);
              a.ld(2, 1, 0);
              a.li(1, 0x40400000);
              a.ld(3, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_EQ(m.x(2), 0x2222u);
  EXPECT_FALSE(finished());
  EXPECT_EQ(m.x(28), kLoadPageFault);
  EXPECT_EQ(m.x(30), 0x40400000u);
}

TEST_F(Mmu, UserPagesNeedSumForSupervisorAndNeverExecute) {
  build(3);
  map4k(0, kData, V | R | W | X | U | A | D);
  auto body = [](Asm& a) {
    a.li(1, 0x40000000);
    a.ld(2, 1, 0);
  };
  ASSERT_EQ(run(body), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kLoadPageFault);
  EXPECT_EQ(m.x(30), 0x40000000u);
  m.hart->reset(kRamBase);
  ASSERT_EQ(run(body, 1, kSum), StopReason::kWfi);
  EXPECT_TRUE(finished());
  m.hart->reset(kRamBase);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000000);
              a.jalr(0, 1, 0);
            }, 1, kSum),
            StopReason::kWfi);
  EXPECT_EQ(m.x(28), kInsnPageFault);
  EXPECT_EQ(m.x(29), 0x40000000u);
  EXPECT_EQ(m.x(30), 0x40000000u);
}

TEST_F(Mmu, UserModeCannotTouchSupervisorPages) {
  build(3);
  map4k(0, kData, V | R | W | A | D);
  // U-mode code must run from a U page: give the code gigapage U.
  m.write64(root_ + 2 * 8, pte(kRamBase, V | R | W | X | U | A | D));
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000000);
              a.ld(2, 1, 0);
            }, 0),
            StopReason::kWfi);
  EXPECT_EQ(m.x(28), kLoadPageFault);
}

TEST_F(Mmu, MxrMakesExecutableReadable) {
  build(3);
  map4k(0, kData, V | X | A);
  auto body = [](Asm& a) {
    a.li(1, 0x40000000);
    a.ld(2, 1, 0);
  };
  ASSERT_EQ(run(body), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kLoadPageFault);
  m.hart->reset(kRamBase);
  ASSERT_EQ(run(body, 1, kMxr), StopReason::kWfi);
  EXPECT_TRUE(finished());
}

TEST_F(Mmu, StoreToReadOnlyPageAndNonCanonicalAddress) {
  build(3);
  map4k(0, kData, V | R | A | D);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000000);
              a.sd(0, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_EQ(m.x(28), kStorePageFault);
  EXPECT_EQ(m.x(30), 0x40000000u);
  m.hart->reset(kRamBase);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x0000008000000000ll);  // bit 39 set, bits 63:40 clear
              a.ld(2, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_EQ(m.x(28), kLoadPageFault);
  EXPECT_EQ(m.x(30), 0x0000008000000000u);
}

TEST_F(Mmu, SfenceVmaDropsStaleTranslations) {
  build(3);
  map4k(0, kData, V | R | W | A | D);
  m.write64(kData, 1);
  m.write64(kData + 0x1000, 2);
  ASSERT_EQ(run([&](Asm& a) {
              a.li(1, 0x40000000);
              a.ld(2, 1, 0);  // fills the TLB
              // Remap the page to kData + 0x1000 by storing the new PTE.
              a.li(3, static_cast<int64_t>(l0_));
              a.li(4, static_cast<int64_t>(pte(kData + 0x1000, V | R | W | A | D)));
              a.sd(4, 3, 0);
              a.ld(5, 1, 0);  // stale translation may still be used
              a.sfence_vma(1, 0);
              a.ld(6, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.x(2), 1u);
  EXPECT_EQ(m.x(5), 1u) << "without sfence.vma the cached translation stays";
  EXPECT_EQ(m.x(6), 2u);
}

TEST_F(Mmu, SfenceVmaOfOneAddressFlushesAllPiecesOfASuperpage) {
  build(3);
  m.write64(l1_ + 1 * 8, pte(kData, V | R | W | A | D));  // 2 MiB at 0x40200000
  m.write64(kData + 0x10000, 1);
  m.write64(kData + 0x15000, 2);
  m.write64(kRamBase + 0x10000, 3);
  m.write64(kRamBase + 0x15000, 4);
  ASSERT_EQ(run([&](Asm& a) {
              a.li(1, 0x40210000);
              a.li(2, 0x40215000);
              a.ld(3, 1, 0);  // two TLB entries from one superpage
              a.ld(4, 2, 0);
              a.li(5, static_cast<int64_t>(l1_ + 8));
              a.li(6, static_cast<int64_t>(pte(kRamBase, V | R | W | A | D)));
              a.sd(6, 5, 0);
              a.sfence_vma(1, 0);  // names only the first 4 KiB
              a.ld(7, 1, 0);
              a.ld(8, 2, 0);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.x(3), 1u);
  EXPECT_EQ(m.x(4), 2u);
  EXPECT_EQ(m.x(7), 3u);
  EXPECT_EQ(m.x(8), 4u) << "the other piece of the superpage was flushed too";
}

TEST_F(Mmu, MisalignedAccessesAcrossPages) {
  build(3);
  // VA pages 0 and 1 map to non-contiguous physical pages.
  map4k(0, kData + 0x5000, V | R | W | A | D);
  map4k(1, kData + 0x2000, V | R | W | A | D);
  m.write64(kData + 0x5ff8, 0x1122334455667788ull);
  m.write64(kData + 0x2000, 0x99aabbccddeeff00ull);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000ffc);
              a.ld(2, 1, 0);
              a.li(3, 0x0102030405060708ll);
              a.sd(3, 1, 2);  // bytes 0x40000ffe..0x40001005
              a.lw(4, 1, 1);
            }),
            StopReason::kWfi);
  EXPECT_TRUE(finished());
  EXPECT_EQ(m.x(2), 0xddeeff0011223344ull);
  EXPECT_EQ(m.read64(kData + 0x5ff8), 0x0708334455667788ull);
  EXPECT_EQ(m.read64(kData + 0x2000), 0x99aa010203040506ull);
  EXPECT_EQ(m.x(4), 0x06070833u);
}

TEST_F(Mmu, CrossPageStoreFaultingOnSecondPageWritesNothing) {
  build(3);
  map4k(0, kData + 0x5000, V | R | W | A | D);
  map4k(1, kData + 0x2000, V | R | A | D);  // read-only
  m.write64(kData + 0x5ff8, 0x1122334455667788ull);
  ASSERT_EQ(run([](Asm& a) {
              a.li(1, 0x40000ffc);
              a.li(3, -1);
              a.sd(3, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_EQ(m.x(28), kStorePageFault);
  EXPECT_EQ(m.x(30), 0x40001000u) << "tval is the first byte on the faulting page";
  EXPECT_EQ(m.read64(kData + 0x5ff8), 0x1122334455667788ull);
}

TEST_F(Mmu, SatpWriteFlushesTranslations) {
  build(3);
  map4k(0, kData, V | R | W | A | D);
  m.write64(kData, 5);
  ASSERT_EQ(run([&](Asm& a) {
              a.li(1, 0x40000000);
              a.ld(2, 1, 0);
              a.csrw(kCsrSatp, 0);  // bare: VA 0x40000000 is now unmapped physical memory
              a.ld(3, 1, 0);
            }),
            StopReason::kWfi);
  EXPECT_EQ(m.x(2), 5u);
  EXPECT_EQ(m.x(28), kLoadAccessFault);
}

// Code write entries are per virtual page and the decoded halfwords per
// physical page: data stored through a writable alias of a code page lands
// beside the code, and a store through it over the code is still seen.
TEST_F(Mmu, StoresThroughAnAliasOfACodePage) {
  build(3);
  const uint64_t fn = kRamBase + 0x3100;  // identity-mapped, executable
  const uint64_t alias = 0x40000000 + (fn & 0xfff);
  Asm f(fn);
  f.addi(10, 0, 1);
  f.jalr(0, 1, 0);
  m.load(f);
  map4k(0, fn & ~uint64_t{0xfff}, V | R | W | A | D);
  ASSERT_EQ(run([&](Asm& b) {
              b.li(8, static_cast<int64_t>(fn));
              b.li(9, static_cast<int64_t>(alias));
              b.jalr(1, 8, 0);
              b.mv(20, 10);
              b.li(6, -1);
              b.sd(6, 9, 0x100);  // beside the function
              b.sd(6, 9, 0x108);
              b.li(7, static_cast<int64_t>(enc::i(7, 0, 0, 10, 0x13)));  // addi a0, x0, 7
              b.sw(7, 9, 0);  // over it
              b.jalr(1, 8, 0);
              b.mv(21, 10);
            }),
            StopReason::kWfi);
  ASSERT_TRUE(finished());
  EXPECT_EQ(m.x(20), 1u);
  EXPECT_EQ(m.x(21), 7u);
  EXPECT_EQ(m.read64(fn + 0x108), ~uint64_t{0});
}

}  // namespace
}  // namespace tandem::cpu::test
