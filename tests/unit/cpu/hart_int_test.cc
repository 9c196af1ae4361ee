// Integer instruction results: RV64I, M, Zba/Zbb/Zbs and RVC.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

struct Case {
  const char* name;
  uint32_t insn;  // computes x3 from x1 and x2
  uint64_t a, b, want;
};

uint32_t R(uint32_t f7, uint32_t f3) { return enc::r(f7, 2, 1, f3, 3, 0x33); }
uint32_t RW(uint32_t f7, uint32_t f3) { return enc::r(f7, 2, 1, f3, 3, 0x3b); }
uint32_t I(int32_t imm, uint32_t f3) { return enc::i(imm, 1, f3, 3, 0x13); }
uint32_t IW(int32_t imm, uint32_t f3) { return enc::i(imm, 1, f3, 3, 0x1b); }

constexpr uint64_t kMin64 = 0x8000000000000000ull;
constexpr uint64_t kAll = ~uint64_t{0};

const Case kCases[] = {
    {"add", R(0, 0), 5, 7, 12},
    {"add wraps", R(0, 0), kAll, 2, 1},
    {"sub", R(0x20, 0), 5, 7, static_cast<uint64_t>(-2)},
    {"sll uses 6 bits", R(0, 1), 1, 65, 2},
    {"slt", R(0, 2), static_cast<uint64_t>(-1), 0, 1},
    {"sltu", R(0, 3), static_cast<uint64_t>(-1), 0, 0},
    {"xor", R(0, 4), 0xf0, 0xff, 0x0f},
    {"srl", R(0, 5), kMin64, 63, 1},
    {"sra", R(0x20, 5), kMin64, 63, kAll},
    {"or", R(0, 6), 0xf0, 0x0f, 0xff},
    {"and", R(0, 7), 0xf0, 0x3c, 0x30},
    {"addi negative", I(-1, 0), 0, 0, kAll},
    {"slti", I(-1, 2), static_cast<uint64_t>(-2), 0, 1},
    {"sltiu -1 is max", I(-1, 3), 5, 0, 1},
    {"xori -1 is not", I(-1, 4), 0x1234, 0, ~uint64_t{0x1234}},
    {"slli 63", I(63, 1), 1, 0, kMin64},
    {"srli 32", I(32, 5), 0xffffffff00000000ull, 0, 0xffffffff},
    {"srai 4", I(0x400 | 4, 5), 0x8000000000000000ull, 0, 0xf800000000000000ull},
    {"addiw sign-extends", IW(1, 0), 0x7fffffff, 0, 0xffffffff80000000ull},
    {"slliw", IW(31, 1), 1, 0, 0xffffffff80000000ull},
    {"srliw", IW(4, 5), 0xffffffff80000000ull, 0, 0x08000000},
    {"sraiw", IW(0x400 | 4, 5), 0x80000000, 0, 0xfffffffff8000000ull},
    {"addw", RW(0, 0), 0xffffffff, 1, 0},
    {"subw", RW(0x20, 0), 0, 1, kAll},
    {"sllw shift by 32 uses 5 bits", RW(0, 1), 1, 32, 1},
    {"sllw 31", RW(0, 1), 1, 31, 0xffffffff80000000ull},
    {"srlw 33 is 1", RW(0, 5), 0x80000000, 33, 0x40000000},
    {"sraw", RW(0x20, 5), 0x80000000, 36, 0xfffffffff8000000ull},
    // M
    {"mul", R(1, 0), 3, static_cast<uint64_t>(-4), static_cast<uint64_t>(-12)},
    {"mulh", R(1, 1), kMin64, kMin64, 0x4000000000000000ull},
    {"mulhsu", R(1, 2), kAll, kAll, kAll},
    {"mulhu", R(1, 3), kAll, kAll, kAll - 1},
    {"div", R(1, 4), static_cast<uint64_t>(-7), 2, static_cast<uint64_t>(-3)},
    {"div by zero", R(1, 4), 7, 0, kAll},
    {"div overflow", R(1, 4), kMin64, kAll, kMin64},
    {"divu by zero", R(1, 5), 7, 0, kAll},
    {"rem", R(1, 6), static_cast<uint64_t>(-7), 2, static_cast<uint64_t>(-1)},
    {"rem by zero", R(1, 6), 7, 0, 7},
    {"rem overflow", R(1, 6), kMin64, kAll, 0},
    {"remu by zero", R(1, 7), 7, 0, 7},
    {"mulw", RW(1, 0), 0x10000, 0x10000, 0},
    {"mulw sign", RW(1, 0), 0x7fffffff, 2, static_cast<uint64_t>(-2)},
    {"divw", RW(1, 4), 0x1'ffff'fff9, 2, static_cast<uint64_t>(-3)},
    {"divw by zero", RW(1, 4), 5, 0, kAll},
    {"divw overflow", RW(1, 4), 0x80000000, 0xffffffff, 0xffffffff80000000ull},
    {"divuw", RW(1, 5), 0xffffffff, 1, kAll},
    {"divuw by zero", RW(1, 5), 5, 0, kAll},
    {"remw", RW(1, 6), static_cast<uint64_t>(-7), 2, kAll},
    {"remw by zero sign-extends", RW(1, 6), 0x80000000, 0, 0xffffffff80000000ull},
    {"remw overflow", RW(1, 6), 0x80000000, kAll, 0},
    {"remuw by zero", RW(1, 7), 0x1'8000'0000ull, 0, 0xffffffff80000000ull},
    // Zba
    {"sh1add", R(0x10, 2), 3, 1, 7},
    {"sh3add", R(0x10, 6), 3, 1, 25},
    {"add.uw", RW(0x04, 0), 0xffffffff'ffffffff, 1, 0x1'0000'0000ull},
    {"sh2add.uw", RW(0x10, 4), 0xffffffff'00000001, 1, 5},
    {"slli.uw", IW(0x080 | 4, 1), 0xffffffff'80000000ull, 0, 0x8'0000'0000ull},
    // Zbb
    {"andn", R(0x20, 7), 0xff, 0x0f, 0xf0},
    {"orn", R(0x20, 6), 0, kAll - 1, 1},
    {"xnor", R(0x20, 4), 0, 0, kAll},
    {"clz", I(0x600, 1), 1, 0, 63},
    {"clz 0", I(0x600, 1), 0, 0, 64},
    {"ctz", I(0x601, 1), 0x100, 0, 8},
    {"cpop", I(0x602, 1), 0xff00ff, 0, 16},
    {"clzw", IW(0x600, 1), 0xffffffff'00000001ull, 0, 31},
    {"ctzw 0", IW(0x601, 1), 0xffffffff'00000000ull, 0, 32},
    {"cpopw", IW(0x602, 1), kAll, 0, 32},
    {"sext.b", I(0x604, 1), 0x80, 0, 0xffffffffffffff80ull},
    {"sext.h", I(0x605, 1), 0x8000, 0, 0xffffffffffff8000ull},
    {"zext.h", RW(0x04, 4) & ~(31u << 20), 0xfff12345, 0, 0x2345},
    {"max", R(0x05, 6), static_cast<uint64_t>(-1), 1, 1},
    {"maxu", R(0x05, 7), static_cast<uint64_t>(-1), 1, kAll},
    {"min", R(0x05, 4), static_cast<uint64_t>(-1), 1, kAll},
    {"minu", R(0x05, 5), static_cast<uint64_t>(-1), 1, 1},
    {"rol", R(0x30, 1), kMin64 | 1, 1, 3},
    {"ror", R(0x30, 5), 3, 1, kMin64 | 1},
    {"rori", I(0x600 | 4, 5), 0xf, 0, 0xf000000000000000ull},
    {"rolw", RW(0x30, 1), 0x80000001, 1, 3},
    {"rorw", RW(0x30, 5), 1, 1, 0xffffffff80000000ull},
    {"roriw", IW(0x600 | 1, 5), 1, 0, 0xffffffff80000000ull},
    {"orc.b", I(0x287, 5), 0x0001000000100200ull, 0, 0x00ff000000ffff00ull},
    {"rev8", I(0x6b8, 5), 0x0102030405060708ull, 0, 0x0807060504030201ull},
    // Zbs
    {"bclr", R(0x24, 1), kAll, 63, kAll >> 1},
    {"bext", R(0x24, 5), 0x10, 4, 1},
    {"binv", R(0x34, 1), 0, 65, 2},
    {"bset", R(0x14, 1), 0, 3, 8},
    {"bseti", I(0x280 | 63, 1), 0, 0, kMin64},
    {"bexti", I(0x480 | 1, 5), 2, 0, 1},
};

TEST(HartInt, InstructionResults) {
  Machine m;
  for (const Case& c : kCases) {
    Asm a(kRamBase);
    a.w32(c.insn);
    a.wfi();
    m.load(a);
    m.hart->reset(kRamBase);  // also drops decoded blocks
    m.hart->set_reg(1, c.a);
    m.hart->set_reg(2, c.b);
    ASSERT_EQ(m.run(), StopReason::kWfi) << c.name;
    EXPECT_EQ(m.x(3), c.want) << c.name << std::hex << " a=0x" << c.a << " b=0x" << c.b;
    EXPECT_EQ(m.hart->instret(), 2u) << c.name;
  }
}

TEST(HartInt, WritesToX0AreDiscarded) {
  Machine m;
  Asm a(kRamBase);
  a.addi(0, 0, 5);
  a.lui(0, 0x12345);
  a.add(3, 0, 0);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(0), 0u);
  EXPECT_EQ(m.x(3), 0u);
}

TEST(HartInt, LiBranchesLoopsAndJumps) {
  Machine m;
  Asm a(kRamBase);
  a.li(5, 0x123456789abcdef0ll);
  a.li(6, -2);
  a.li(7, 0x7ffff800);
  // sum 1..10 with a backward branch
  a.li(1, 10);
  a.li(2, 0);
  a.bind("loop");
  a.add(2, 2, 1);
  a.addi(1, 1, -1);
  a.bne(1, 0, "loop");
  a.jal(1, "func");
  a.wfi();
  a.bind("func");
  a.auipc(8, 0);
  a.jalr(0, 1, 0);
  a.finish();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(5), 0x123456789abcdef0ull);
  EXPECT_EQ(m.x(6), static_cast<uint64_t>(-2));
  EXPECT_EQ(m.x(7), 0x7ffff800u);
  EXPECT_EQ(m.x(2), 55u);
  EXPECT_EQ(m.x(8), a.label("func"));
  EXPECT_EQ(m.x(1), a.label("func") - 4);
  EXPECT_EQ(m.hart->pc(), a.label("func"));  // past the wfi
}

TEST(HartInt, LoadsSignAndZeroExtend) {
  Machine m;
  const uint64_t data = kRamBase + 0x10000;
  m.write64(data, 0x8081828384858687ull);
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(data));
  a.lb(2, 1, 0);
  a.lbu(3, 1, 0);
  a.lh(4, 1, 0);
  a.lhu(5, 1, 0);
  a.lw(6, 1, 4);
  a.lwu(7, 1, 4);
  a.ld(8, 1, 0);
  a.li(9, -1);
  a.sb(9, 1, 8);
  a.sh(9, 1, 10);
  a.sw(0, 1, 12);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(2), 0xffffffffffffff87ull);
  EXPECT_EQ(m.x(3), 0x87u);
  EXPECT_EQ(m.x(4), 0xffffffffffff8687ull);
  EXPECT_EQ(m.x(5), 0x8687u);
  EXPECT_EQ(m.x(6), 0xffffffff80818283ull);
  EXPECT_EQ(m.x(7), 0x80818283u);
  EXPECT_EQ(m.x(8), 0x8081828384858687ull);
  EXPECT_EQ(m.read64(data + 8), 0x00000000ffff00ffull);
}

TEST(HartInt, CompressedInstructions) {
  Machine m;
  const uint64_t data = kRamBase + 0x10000;
  m.write64(data + 8, 0x1122334455667788ull);
  Asm a(kRamBase);
  a.li(2, static_cast<int64_t>(data));  // sp
  a.li(8, static_cast<int64_t>(data));  // s0 (x8, a compressed register)
  a.w16(0x4515);      // c.li a0, 5
  a.w16(0x0505);      // c.addi a0, 1          -> 6
  a.w16(0x85aa);      // c.mv a1, a0           -> 6
  a.w16(0x95aa);      // c.add a1, a0          -> 12
  a.w16(0x058a);      // c.slli a1, 2          -> 48
  a.w16(0x6622);      // c.ld a2, 8(sp)        -> 0x1122334455667788 via c.ldsp
  a.w16(0x6414);      // c.ld a3, 8(s0)
  a.w16(0xe41c);      // c.sd a5? (c.sd a5, 8(s0)) stores x15
  a.w16(0x8d89);      // c.sub a1, a0           -> 42
  a.w16(0x2505);      // c.addiw a0, 1          -> 7
  a.w16(0x6705);      // c.lui a4, 1            -> 0x1000
  a.w16(0x0030);      // c.addi4spn a2? (c.addi4spn x12, sp, 8)
  a.w16(0xc111);      // c.beqz a0, +4 (not taken)
  a.w16(0xa011);      // c.j +4 (skips next)
  a.w16(0x4501);      // c.li a0, 0 (skipped)
  a.wfi();
  m.load(a);
  m.hart->set_reg(15, 0xabcdef);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(10), 7u);
  EXPECT_EQ(m.x(11), 42u);
  EXPECT_EQ(m.x(13), 0x1122334455667788ull);
  EXPECT_EQ(m.x(14), 0x1000u);
  EXPECT_EQ(m.x(12), data + 8);
  EXPECT_EQ(m.read64(data + 8), 0xabcdefu);
}

TEST(HartInt, ReservedCompressedEncodingsAreIllegal) {
  const uint16_t kIllegal[] = {0x0000, 0x6101 /* c.addi16sp 0 */, 0x6701 & 0xef83 /* c.lui a4,0 */,
                               0x8002 /* c.jr x0 */, 0x4002 /* c.lwsp x0 */};
  for (uint16_t insn : kIllegal) {
    Machine m;
    m.install_m_handler();
    Asm a(kRamBase);
    a.w16(insn);
    a.w16(0x0001);
    a.wfi();
    m.load(a);
    ASSERT_EQ(m.run(), StopReason::kWfi);
    EXPECT_EQ(m.x(28), kIllegalInsn) << std::hex << insn;
    EXPECT_EQ(m.x(29), kRamBase);
    EXPECT_EQ(m.x(30), insn) << "mtval holds the 16-bit instruction";
  }
}

}  // namespace
}  // namespace tandem::cpu::test
