// Save/restore of the hart state, and the F/D instruction plumbing (FS,
// NaN boxing, rounding-mode resolution, fflags); the arithmetic itself is
// tested in fpu_*_test.cc.
#include <gtest/gtest.h>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t kFsInitial = 1 << 13;

TEST(HartState, SaveMutateRestoreRoundTrip) {
  Machine m;
  Asm a(kRamBase);
  a.li(1, 7);
  a.li(5, 0x222);
  a.csrw(kCsrMideleg, 5);
  a.wfi();
  a.addi(1, 1, 1);
  a.csrw(kCsrMscratch, 1);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  const HartState saved = m.hart->save();
  EXPECT_EQ(saved.x[1], 7u);
  EXPECT_EQ(saved.mideleg, 0x222u);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  const HartState mutated = m.hart->save();
  EXPECT_NE(mutated, saved);
  EXPECT_EQ(mutated.mscratch, 8u);
  ASSERT_TRUE(m.hart->restore(saved).ok());
  EXPECT_EQ(m.hart->save(), saved);
  // Running again from the restored state repeats the same steps.
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.hart->save(), mutated);
}

TEST(HartState, RestoreRejectsBadStatesWithoutChangingAnything) {
  Machine m;
  m.hart->set_reg(3, 33);
  const HartState good = m.hart->save();
  HartState bad = good;
  bad.priv = 2;
  bad.x[3] = 99;
  auto st = m.hart->restore(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("privilege"), std::string::npos) << st.error().message();
  EXPECT_EQ(m.x(3), 33u);
  bad = good;
  bad.hartid = 5;
  EXPECT_FALSE(m.hart->restore(bad).ok());
  bad = good;
  bad.satp = uint64_t{5} << 60;
  EXPECT_FALSE(m.hart->restore(bad).ok());
  bad = good;
  bad.x[0] = 1;
  EXPECT_FALSE(m.hart->restore(bad).ok());
  bad = good;
  bad.fcsr = 0x100;
  EXPECT_FALSE(m.hart->restore(bad).ok());
  EXPECT_EQ(m.hart->save(), good);
}

TEST(HartState, RestoreDropsDecodedCode) {
  Machine m;
  Asm a(kRamBase);
  a.addi(10, 0, 1);
  a.wfi();
  m.load(a);
  const HartState start = m.hart->save();
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 1u);
  // Change the code behind the CPU's back (like a snapshot load would).
  Asm b(kRamBase);
  b.addi(10, 0, 2);
  m.load(b);
  ASSERT_TRUE(m.hart->restore(start).ok());
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 2u);
}

uint32_t fp_op(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t rm, uint32_t rd) {
  return enc::r(f7, rs2, rs1, rm, rd, 0x53);
}

TEST(HartFp, DisabledFpuIsIllegal) {
  Machine m;
  m.install_m_handler();
  Asm a(kRamBase);
  a.w32(fp_op(0x00, 2, 1, 0, 3));  // fadd.s with mstatus.FS = 0
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kIllegalInsn);
  EXPECT_EQ(m.x(30), fp_op(0x00, 2, 1, 0, 3));
  m.hart->reset(kRamBase);
  m.install_m_handler();
  Asm b(kRamBase);
  b.csrr(5, kCsrFflags);
  m.load(b);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kIllegalInsn) << "fflags is inaccessible with FS=0";
}

TEST(HartFp, LoadsBoxAndArithmeticSetsFlagsAndDirty) {
  Machine m;
  const uint64_t data = kRamBase + 0x10000;
  m.write64(data, 0x3f800000'40000000ull);  // 2.0f at +0, 1.0f at +4
  m.write64(data + 8, 0x3ff0000000000000ull);  // 1.0
  ASSERT_TRUE(m.hart->write_csr(kCsrMstatus, kFsInitial));
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(data));
  a.w32(enc::i(0, 1, 2, 1, 0x07));   // flw f1, 0(x1)
  a.w32(enc::i(4, 1, 2, 2, 0x07));   // flw f2, 4(x1)
  a.w32(enc::i(8, 1, 3, 3, 0x07));   // fld f3, 8(x1)
  a.w32(fp_op(0x00, 2, 1, 7, 4));    // fadd.s f4, f1, f2 (dyn rm)
  a.w32(fp_op(0x70, 0, 4, 0, 5));    // fmv.x.w x5, f4
  a.w32(fp_op(0x0c, 2, 2, 7, 6));    // fdiv.s f6, f2, f2
  a.w32(fp_op(0x0d, 0, 3, 7, 7));    // fdiv.d f7, f3, f0 (f0 = 0): DZ
  a.csrr(6, kCsrFflags);
  a.csrr(7, kCsrMstatus);
  a.w32(enc::s(16, 4, 1, 2, 0x27));  // fsw f4, 16(x1)
  a.w32(fp_op(0x71, 0, 3, 0, 8));    // fmv.x.d x8, f3
  a.w32(fp_op(0x70, 0, 3, 1, 9));    // fclass.s x9, f3: not boxed -> canonical NaN (quiet)
  a.w32(fp_op(0x10, 1, 3, 0, 10));   // fsgnj.s f10, f3, f1: unboxed f3 reads as qNaN
  a.w32(fp_op(0x71, 0, 10, 0, 11));  // fmv.x.d x11, f10
  a.wfi();
  m.load(a);
  m.hart->set_freg(0, 0);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.hart->freg(1), 0xffffffff40000000ull) << "flw NaN-boxes";
  EXPECT_EQ(m.x(5), 0x40400000u) << "2 + 1 = 3";
  EXPECT_EQ(m.x(6), 8u) << "DZ from 1.0/0.0";
  EXPECT_EQ((m.x(7) >> 13) & 3, 3u) << "FS is dirty";
  EXPECT_EQ(m.x(7) >> 63, 1u) << "SD";
  EXPECT_EQ(m.read32(data + 16), 0x40400000u);
  EXPECT_EQ(m.x(8), 0x3ff0000000000000ull);
  EXPECT_EQ(m.x(9), 1u << 9) << "quiet NaN class";
  EXPECT_EQ(m.x(11), 0xffffffff7fc00000ull);
}

TEST(HartFp, ReservedRoundingModesAreIllegal) {
  for (uint32_t rm : {5u, 6u}) {
    Machine m;
    m.install_m_handler();
    ASSERT_TRUE(m.hart->write_csr(kCsrMstatus, kFsInitial));
    Asm a(kRamBase);
    a.w32(fp_op(0x00, 2, 1, rm, 3));
    m.load(a);
    ASSERT_EQ(m.run(), StopReason::kWfi);
    EXPECT_EQ(m.x(28), kIllegalInsn) << rm;
  }
  Machine m;
  m.install_m_handler();
  ASSERT_TRUE(m.hart->write_csr(kCsrMstatus, kFsInitial));
  ASSERT_TRUE(m.hart->write_csr(kCsrFrm, 5));
  Asm a(kRamBase);
  a.w32(fp_op(0x00, 2, 1, 7, 3));  // dynamic rm with frm = 5
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kIllegalInsn);
  EXPECT_EQ(m.csr(kCsrFcsr), 5u << 5);
}

TEST(HartFp, ConversionsBetweenIntegerAndFloat) {
  Machine m;
  ASSERT_TRUE(m.hart->write_csr(kCsrMstatus, kFsInitial));
  Asm a(kRamBase);
  a.li(1, -3);
  a.w32(fp_op(0x69, 2, 1, 7, 1));  // fcvt.d.l f1, x1
  a.w32(fp_op(0x61, 0, 1, 1, 2));  // fcvt.w.d x2, f1 (rtz)
  a.w32(fp_op(0x68, 0, 1, 7, 2));  // fcvt.s.w f2, x1
  a.w32(fp_op(0x70, 0, 2, 0, 3));  // fmv.x.w x3, f2
  a.w32(fp_op(0x21, 0, 2, 7, 4));  // fcvt.d.s f4, f2
  a.w32(fp_op(0x78, 0, 1, 0, 5));  // fmv.w.x f5, x1
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.hart->freg(1), 0xc008000000000000ull);
  EXPECT_EQ(m.x(2), static_cast<uint64_t>(-3));
  EXPECT_EQ(m.hart->freg(2), 0xffffffffc0400000ull);
  EXPECT_EQ(m.x(3), 0xffffffffc0400000ull) << "fmv.x.w sign-extends";
  EXPECT_EQ(m.hart->freg(4), 0xc008000000000000ull);
  EXPECT_EQ(m.hart->freg(5), 0xfffffffffffffffdull) << "fmv.w.x boxes the low word";
}

}  // namespace
}  // namespace tandem::cpu::test
