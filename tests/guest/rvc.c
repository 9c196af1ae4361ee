// C extension: every RV64C instruction (using the explicit c. mnemonics so
// the assembler cannot pick a 32-bit form), immediates at their limits,
// HINT encodings that must run as no-ops, and the reserved encodings that
// must raise illegal instruction with the 16-bit instruction in mtval.
#include "ops.h"

static const uint64_t vals[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff,
                                0x8000000000000000, 0xfedcba9876543210, 0xffffffffffffffff};

// Binary register-register ops: both operands in the x8..x15 set.
#define DEF_C_RR(fn, insn)                                  \
  static uint64_t fn(uint64_t x, uint64_t y) {              \
    register uint64_t a asm("a0") = x;                      \
    register uint64_t b asm("a1") = y;                      \
    asm volatile(insn " a0, a1" : "+r"(a) : "r"(b));        \
    return a;                                               \
  }
DEF_C_RR(c_sub, "c.sub")
DEF_C_RR(c_xor, "c.xor")
DEF_C_RR(c_or, "c.or")
DEF_C_RR(c_and, "c.and")
DEF_C_RR(c_subw, "c.subw")
DEF_C_RR(c_addw, "c.addw")
// c.mv and c.add accept any registers.
DEF_C_RR(c_mv, "c.mv")
DEF_C_RR(c_add, "c.add")

static const struct op rr_ops[] = {
    {"c.sub", c_sub},   {"c.xor", c_xor},   {"c.or", c_or}, {"c.and", c_and},
    {"c.subw", c_subw}, {"c.addw", c_addw}, {"c.mv", c_mv}, {"c.add", c_add},
};

// One-register forms with an immediate; rd = a0 (or t1 for c.slli, which
// takes any register).
#define DEF_C_I(fn, insn, imm)                              \
  static uint64_t fn(uint64_t x, uint64_t y) {              \
    (void)y;                                                \
    register uint64_t a asm("a0") = x;                      \
    asm volatile(insn " a0, " #imm : "+r"(a));              \
    return a;                                               \
  }
#define DEF_C_I_T1(fn, insn, imm)                           \
  static uint64_t fn(uint64_t x, uint64_t y) {              \
    (void)y;                                                \
    register uint64_t a asm("t1") = x;                      \
    asm volatile(insn " t1, " #imm : "+r"(a));              \
    return a;                                               \
  }
DEF_C_I(c_addi_m32, "c.addi", -32)
DEF_C_I(c_addi_m1, "c.addi", -1)
DEF_C_I(c_addi_1, "c.addi", 1)
DEF_C_I(c_addi_31, "c.addi", 31)
DEF_C_I_T1(c_addi_t1, "c.addi", 17)
DEF_C_I(c_addiw_0, "c.addiw", 0)
DEF_C_I(c_addiw_m32, "c.addiw", -32)
DEF_C_I(c_addiw_31, "c.addiw", 31)
DEF_C_I(c_li_m32, "c.li", -32)
DEF_C_I(c_li_0, "c.li", 0)
DEF_C_I(c_li_31, "c.li", 31)
DEF_C_I(c_lui_1, "c.lui", 1)
DEF_C_I(c_lui_31, "c.lui", 31)
DEF_C_I(c_lui_neg32, "c.lui", 0xfffe0)
DEF_C_I(c_lui_neg1, "c.lui", 0xfffff)
DEF_C_I(c_srli_1, "c.srli", 1)
DEF_C_I(c_srli_31, "c.srli", 31)
DEF_C_I(c_srli_32, "c.srli", 32)
DEF_C_I(c_srli_63, "c.srli", 63)
DEF_C_I(c_srai_1, "c.srai", 1)
DEF_C_I(c_srai_31, "c.srai", 31)
DEF_C_I(c_srai_32, "c.srai", 32)
DEF_C_I(c_srai_63, "c.srai", 63)
DEF_C_I(c_andi_m32, "c.andi", -32)
DEF_C_I(c_andi_m1, "c.andi", -1)
DEF_C_I(c_andi_0, "c.andi", 0)
DEF_C_I(c_andi_31, "c.andi", 31)
DEF_C_I_T1(c_slli_1, "c.slli", 1)
DEF_C_I_T1(c_slli_31, "c.slli", 31)
DEF_C_I_T1(c_slli_32, "c.slli", 32)
DEF_C_I_T1(c_slli_63, "c.slli", 63)

#define E(id) {#id, id}
static const struct op ri_ops[] = {
    E(c_addi_m32), E(c_addi_m1),   E(c_addi_1),   E(c_addi_31),   E(c_addi_t1),  E(c_addiw_0),
    E(c_addiw_m32), E(c_addiw_31), E(c_li_m32),   E(c_li_0),      E(c_li_31),    E(c_lui_1),
    E(c_lui_31),   E(c_lui_neg32), E(c_lui_neg1), E(c_srli_1),    E(c_srli_31),  E(c_srli_32),
    E(c_srli_63),  E(c_srai_1),    E(c_srai_31),  E(c_srai_32),   E(c_srai_63),  E(c_andi_m32),
    E(c_andi_m1),  E(c_andi_0),    E(c_andi_31),  E(c_slli_1),    E(c_slli_31),  E(c_slli_32),
    E(c_slli_63),
};

static uint64_t mem[64] __attribute__((aligned(16)));

// Register-restricted forms name their registers inside the asm (a local
// register variable does not survive a call in between).
static void test_loads_stores(void) {
  for (int i = 0; i < 64; i++) mem[i] = 0x8081828384858687ull + 0x0101010101010101ull * i;
  uint64_t r[4];
  asm volatile(
      "mv a5, %4\n"
      "c.lw a0, 0(a5)\n c.lw a1, 4(a5)\n c.lw a2, 124(a5)\n c.ld a3, 248(a5)\n"
      "mv %0, a0\n mv %1, a1\n mv %2, a2\n mv %3, a3\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(mem) : "a0", "a1", "a2", "a3", "a5", "memory");
  printf("c.lw 0 %016lx c.lw 4 %016lx c.lw 124 %016lx c.ld 248 %016lx\n", r[0], r[1], r[2], r[3]);
  asm volatile(
      "mv a5, %2\n c.ld a0, 0(a5)\n c.ld a1, 8(a5)\n mv %0, a0\n mv %1, a1\n"
      : "=r"(r[0]), "=r"(r[1]) : "r"(mem) : "a0", "a1", "a5", "memory");
  printf("c.ld 0 %016lx c.ld 8 %016lx\n", r[0], r[1]);
  asm volatile(
      "mv a5, %0\n mv a0, %1\n mv a1, %2\n"
      "c.sw a0, 4(a5)\n c.sd a1, 16(a5)\n c.sw a1, 124(a5)\n c.sd a0, 248(a5)\n"
      : : "r"(mem), "r"(0x1122334455667788ul), "r"(0x99aabbccddeeff00ul)
      : "a0", "a1", "a5", "memory");
  printf("after c.sw/c.sd: %016lx %016lx %016lx %016lx %016lx\n", mem[0], mem[2], mem[15],
         mem[31], mem[32]);

  // sp-relative forms: point sp at the buffer for the duration.
  asm volatile(
      "mv t0, sp\n"
      "mv sp, %4\n"
      "c.lwsp %0, 0(sp)\n"
      "c.lwsp %1, 252(sp)\n"
      "c.ldsp %2, 8(sp)\n"
      "c.ldsp %3, 504(sp)\n"
      "mv sp, t0\n"
      : "=&r"(r[0]), "=&r"(r[1]), "=&r"(r[2]), "=&r"(r[3])
      : "r"(mem) : "t0", "memory");
  printf("c.lwsp 0 %016lx c.lwsp 252 %016lx c.ldsp 8 %016lx c.ldsp 504 %016lx\n", r[0], r[1],
         r[2], r[3]);
  asm volatile(
      "mv t0, sp\n"
      "mv sp, %0\n"
      "c.swsp %1, 0(sp)\n"
      "c.swsp %1, 252(sp)\n"
      "c.sdsp %2, 24(sp)\n"
      "c.sdsp %2, 504(sp)\n"
      "mv sp, t0\n"
      : : "r"(mem), "r"(0xcafef00dul), "r"(0xfeedfacecafebeeful) : "t0", "memory");
  printf("after c.swsp/c.sdsp: %016lx %016lx %016lx %016lx\n", mem[0], mem[31], mem[3], mem[63]);

  // Floating-point loads and stores (the D forms exist in RV64C).
  asm volatile(
      "mv a5, %0\n"
      "c.fld fa0, 8(a5)\n"
      "c.fsd fa0, 40(a5)\n"
      "c.fld fa1, 248(a5)\n"
      "c.fsd fa1, 48(a5)\n"
      : : "r"(mem) : "a5", "fa0", "fa1", "memory");
  printf("c.fld/c.fsd: %016lx %016lx\n", mem[5], mem[6]);
  asm volatile(
      "mv t0, sp\n"
      "mv sp, %0\n"
      "c.fldsp fa0, 16(sp)\n"
      "c.fsdsp fa0, 64(sp)\n"
      "c.fldsp fa1, 504(sp)\n"
      "c.fsdsp fa1, 72(sp)\n"
      "mv sp, t0\n"
      : : "r"(mem) : "t0", "fa0", "fa1", "memory");
  printf("c.fldsp/c.fsdsp: %016lx %016lx\n", mem[8], mem[9]);
}

static void test_sp_arith(void) {
  uint64_t r[4];
  asm volatile(
      "mv t0, sp\n"
      "li sp, 0x1000\n"
      "c.addi4spn a0, sp, 4\n"
      "c.addi4spn a1, sp, 1020\n"
      "c.addi16sp sp, -512\n"
      "mv a2, sp\n"
      "c.addi16sp sp, 496\n"
      "mv a3, sp\n"
      "mv sp, t0\n"
      "mv %0, a0\n mv %1, a1\n mv %2, a2\n mv %3, a3\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : : "t0", "a0", "a1", "a2", "a3");
  printf("c.addi4spn %lx %lx c.addi16sp %lx %lx\n", r[0], r[1], r[2], r[3]);
}

static void test_control(void) {
  uint64_t t = 0, link = 0, label = 0;
  asm volatile(
      "c.j 1f\n"
      "li %0, 1\n"
      "1: c.nop\n"
      : "+r"(t));
  printf("c.j skipped: %d\n", (int)(t == 0));
  static const uint64_t bv[] = {0, 1, 0x8000000000000000, 0xffffffffffffffff};
  for (unsigned i = 0; i < COUNT(bv); i++) {
    uint64_t z = 0, nz = 0;
    asm volatile("mv a0, %1\n c.beqz a0, 1f\n j 2f\n1: li %0, 1\n2:" : "+r"(z) : "r"(bv[i]) : "a0");
    asm volatile("mv a0, %1\n c.bnez a0, 1f\n j 2f\n1: li %0, 1\n2:" : "+r"(nz) : "r"(bv[i]) : "a0");
    printf("c.beqz/c.bnez %016lx: %lu %lu\n", bv[i], z, nz);
  }
  // c.jr and c.jalr (link = pc + 2).
  asm volatile(
      "la t1, 1f\n"
      "li %0, 0\n"
      "c.jr t1\n"
      "li %0, 5\n"
      "1: addi %0, %0, 1\n"
      : "=&r"(t) : : "t1");
  printf("c.jr: %lu\n", t);
  asm volatile(
      "mv t2, ra\n"
      "la t1, 1f\n"
      "c.jalr t1\n"
      "2: nop\n"
      "1: mv %0, ra\n"
      "la %1, 2b\n"
      "mv ra, t2\n"
      : "=&r"(link), "=&r"(label) : : "t1", "t2", "ra");
  printf("c.jalr link is next insn: %d\n", (int)(link == label));
  // A backward c.bnez loop.
  register uint64_t n asm("a0") = 7;
  register uint64_t acc asm("a1") = 0;
  asm volatile("1: c.addi a1, 3\n c.addi a0, -1\n c.bnez a0, 1b" : "+r"(n), "+r"(acc));
  printf("c.bnez loop: %lu\n", acc);
}

// HINTs (RVC section 16.7): encodings reserved for hints execute as no-ops.
static void test_hints(void) {
  register uint64_t a asm("a0") = 0x1234;
  asm volatile(
      ".2byte 0x0005\n"  // c.nop with imm 1
      ".2byte 0x4001\n"  // c.li x0, 0
      ".2byte 0x802a\n"  // c.mv x0, a0
      ".2byte 0x902a\n"  // c.add x0, a0
      ".2byte 0x0006\n"  // c.slli x0, 1
      ".2byte 0x8101\n"  // c.srli a0, 0
      ".2byte 0x8501\n"  // c.srai a0, 0
      : "+r"(a));
  printf("hints left a0 = %lx\n", a);
}

// Reserved encodings: illegal instruction, mtval = the 16 instruction bits.
static void test_reserved(void) {
  static const struct {
    const char* name;
    uint16_t bits;
  } enc[] = {
      {"all zeros", 0x0000},        {"c.addi4spn imm 0", 0x0004}, {"c.lui imm 0", 0x6501},
      {"c.addi16sp imm 0", 0x6101}, {"c.jr x0", 0x8002},          {"c.lwsp x0", 0x4002},
      {"c.ldsp x0", 0x6002},        {"quadrant 0 funct3 4", 0x8000},
  };
  // Run each from a writable buffer followed by a c.jr ra (0x8082).
  static uint16_t code[2] __attribute__((aligned(4)));
  for (unsigned i = 0; i < COUNT(enc); i++) {
    code[0] = enc[i].bits;
    code[1] = 0x8082;
    asm volatile("fence.i" ::: "memory");
    rt_arm_trap();
    asm volatile("jalr ra, 0(%0)" : : "r"(code) : "ra", "memory");
    rt_report_trap(enc[i].name);
  }
  rt_arm_trap();
  asm volatile("c.ebreak");
  rt_report_trap("c.ebreak");
}

int main(void) {
  print_values("values", vals, COUNT(vals));
  run_binary(rr_ops, COUNT(rr_ops), vals, COUNT(vals));
  run_unary(ri_ops, COUNT(ri_ops), vals, COUNT(vals));
  test_loads_stores();
  test_sp_arith();
  test_control();
  test_hints();
  test_reserved();
  printf("rvc done\n");
  return 0;
}
