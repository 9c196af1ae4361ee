// RV64I: every computational instruction over a table of edge values,
// immediates at their limits, loads and stores of every width (signed and
// unsigned, misaligned too), branches, jumps and writes to x0.
#include "ops.h"

static const uint64_t vals[] = {
    0, 1, 2, 0x1f, 0x20, 0x7ff, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
    0x7fffffffffffffff, 0x8000000000000000, 0xfedcba9876543210, 0xffffffffffffffff,
};

DEF_RR(op_add, "add")
DEF_RR(op_sub, "sub")
DEF_RR(op_sll, "sll")
DEF_RR(op_slt, "slt")
DEF_RR(op_sltu, "sltu")
DEF_RR(op_xor, "xor")
DEF_RR(op_srl, "srl")
DEF_RR(op_sra, "sra")
DEF_RR(op_or, "or")
DEF_RR(op_and, "and")
DEF_RR(op_addw, "addw")
DEF_RR(op_subw, "subw")
DEF_RR(op_sllw, "sllw")
DEF_RR(op_srlw, "srlw")
DEF_RR(op_sraw, "sraw")

static const struct op rr_ops[] = {
    {"add", op_add},   {"sub", op_sub},   {"sll", op_sll},   {"slt", op_slt},   {"sltu", op_sltu},
    {"xor", op_xor},   {"srl", op_srl},   {"sra", op_sra},   {"or", op_or},     {"and", op_and},
    {"addw", op_addw}, {"subw", op_subw}, {"sllw", op_sllw}, {"srlw", op_srlw}, {"sraw", op_sraw},
};

#define RI(insn, imm, id) DEF_RI(op_##id, insn, imm)
RI("addi", 0, addi_0)
RI("addi", 1, addi_1)
RI("addi", -1, addi_m1)
RI("addi", 2047, addi_2047)
RI("addi", -2048, addi_m2048)
RI("slti", 0, slti_0)
RI("slti", -1, slti_m1)
RI("slti", 2047, slti_2047)
RI("slti", -2048, slti_m2048)
RI("sltiu", 0, sltiu_0)
RI("sltiu", 1, sltiu_1)
RI("sltiu", -1, sltiu_m1)
RI("sltiu", 2047, sltiu_2047)
RI("xori", -1, xori_m1)
RI("xori", 0x555, xori_555)
RI("xori", -2048, xori_m2048)
RI("ori", -1, ori_m1)
RI("ori", 0x2aa, ori_2aa)
RI("ori", -2048, ori_m2048)
RI("andi", -1, andi_m1)
RI("andi", 0x7ff, andi_7ff)
RI("andi", -2048, andi_m2048)
RI("slli", 0, slli_0)
RI("slli", 1, slli_1)
RI("slli", 31, slli_31)
RI("slli", 32, slli_32)
RI("slli", 63, slli_63)
RI("srli", 0, srli_0)
RI("srli", 1, srli_1)
RI("srli", 31, srli_31)
RI("srli", 32, srli_32)
RI("srli", 63, srli_63)
RI("srai", 0, srai_0)
RI("srai", 1, srai_1)
RI("srai", 31, srai_31)
RI("srai", 32, srai_32)
RI("srai", 63, srai_63)
RI("addiw", 0, addiw_0)
RI("addiw", 1, addiw_1)
RI("addiw", -1, addiw_m1)
RI("addiw", 2047, addiw_2047)
RI("addiw", -2048, addiw_m2048)
RI("slliw", 0, slliw_0)
RI("slliw", 1, slliw_1)
RI("slliw", 31, slliw_31)
RI("srliw", 0, srliw_0)
RI("srliw", 1, srliw_1)
RI("srliw", 31, srliw_31)
RI("sraiw", 0, sraiw_0)
RI("sraiw", 1, sraiw_1)
RI("sraiw", 31, sraiw_31)

#define E(id) {#id, op_##id}
static const struct op ri_ops[] = {
    E(addi_0),    E(addi_1),    E(addi_m1),   E(addi_2047),  E(addi_m2048), E(slti_0),
    E(slti_m1),   E(slti_2047), E(slti_m2048), E(sltiu_0),   E(sltiu_1),    E(sltiu_m1),
    E(sltiu_2047), E(xori_m1),  E(xori_555),  E(xori_m2048), E(ori_m1),     E(ori_2aa),
    E(ori_m2048), E(andi_m1),   E(andi_7ff),  E(andi_m2048), E(slli_0),     E(slli_1),
    E(slli_31),   E(slli_32),   E(slli_63),   E(srli_0),     E(srli_1),     E(srli_31),
    E(srli_32),   E(srli_63),   E(srai_0),    E(srai_1),     E(srai_31),    E(srai_32),
    E(srai_63),   E(addiw_0),   E(addiw_1),   E(addiw_m1),   E(addiw_2047), E(addiw_m2048),
    E(slliw_0),   E(slliw_1),   E(slliw_31),  E(srliw_0),    E(srliw_1),    E(srliw_31),
    E(sraiw_0),   E(sraiw_1),   E(sraiw_31),
};

static void test_upper(void) {
  uint64_t r[6];
  asm volatile("lui %0, 0" : "=r"(r[0]));
  asm volatile("lui %0, 1" : "=r"(r[1]));
  asm volatile("lui %0, 0x7ffff" : "=r"(r[2]));
  asm volatile("lui %0, 0x80000" : "=r"(r[3]));  // sign-extends to 64 bits
  asm volatile("lui %0, 0xfffff" : "=r"(r[4]));
  asm volatile("lui %0, 0x12345" : "=r"(r[5]));
  for (int i = 0; i < 6; i++) printf("lui %d %016lx\n", i, r[i]);
  // auipc: relative to its own address, which a label pins down.
  uint64_t a, b, c;
  asm volatile(
      "1: auipc %0, 0\n"
      "   la %1, 1b\n"
      "2: auipc %2, 0x80000\n"
      "   sub %2, %2, %1\n"
      : "=&r"(a), "=&r"(b), "=&r"(c));
  printf("auipc 0 offset %lx\n", a - b);
  printf("auipc 0x80000 offset %lx\n", c);
}

static uint8_t buf[64] __attribute__((aligned(16)));

#define LOAD(insn, off, base)                                                      \
  ({                                                                               \
    uint64_t r_;                                                                   \
    asm volatile(insn " %0, " #off "(%1)" : "=r"(r_) : "r"(base) : "memory");      \
    r_;                                                                            \
  })

static void test_loads(void) {
  for (int i = 0; i < 64; i++) buf[i] = (uint8_t)(0x80 + i * 0x0b);
  uint8_t* mid = buf + 32;
  // Every width at every alignment; signed and unsigned forms.
  for (int off = 0; off < 8; off++) {
    uint8_t* p = buf + 8 + off;
    printf("load +%d lb %016lx lbu %016lx lh %016lx lhu %016lx\n", off, LOAD("lb", 0, p),
           LOAD("lbu", 0, p), LOAD("lh", 0, p), LOAD("lhu", 0, p));
    printf("load +%d lw %016lx lwu %016lx ld %016lx\n", off, LOAD("lw", 0, p), LOAD("lwu", 0, p),
           LOAD("ld", 0, p));
  }
  // Negative and positive displacements.
  printf("disp lb -32 %016lx lh -2 %016lx lw -4 %016lx ld -8 %016lx\n", LOAD("lb", -32, mid),
         LOAD("lh", -2, mid), LOAD("lw", -4, mid), LOAD("ld", -8, mid));
  printf("disp lbu 31 %016lx lhu 30 %016lx lwu 28 %016lx ld 24 %016lx\n", LOAD("lbu", 31, mid),
         LOAD("lhu", 30, mid), LOAD("lwu", 28, mid), LOAD("ld", 24, mid));
}

static void dump_buf(const char* what) {
  printf("%s:", what);
  for (int i = 0; i < 32; i += 8) printf(" %016lx", *(uint64_t*)(buf + i));
  printf("\n");
}

static void test_stores(void) {
  const uint64_t v = 0x8877665544332211;
  memset(buf, 0, sizeof buf);
  for (int off = 0; off < 8; off++) {
    uint8_t* p = buf + off * 3;
    asm volatile("sb %0, 0(%1)" ::"r"(v + off), "r"(p) : "memory");
  }
  dump_buf("sb");
  memset(buf, 0, sizeof buf);
  asm volatile("sh %0, 0(%1); sh %0, 3(%1); sh %0, 7(%1)" ::"r"(v), "r"(buf) : "memory");
  dump_buf("sh");
  memset(buf, 0, sizeof buf);
  asm volatile("sw %0, 0(%1); sw %0, 5(%1); sw %0, 10(%1)" ::"r"(v), "r"(buf) : "memory");
  dump_buf("sw");
  memset(buf, 0, sizeof buf);
  asm volatile("sd %0, 0(%1); sd %0, 9(%1); sd %0, 23(%1)" ::"r"(v), "r"(buf) : "memory");
  dump_buf("sd");
  memset(buf, 0, sizeof buf);
  asm volatile("sd %0, -8(%1); sw %0, 4(%1); sh %0, -10(%1)" ::"r"(~v), "r"(buf + 16) : "memory");
  dump_buf("disp");
}

static unsigned branches(uint64_t a, uint64_t b) {
  unsigned m = 0;
#define BR(insn, bit)                                                               \
  {                                                                                 \
    unsigned t = 0;                                                                 \
    asm volatile(insn " %1, %2, 1f\n j 2f\n1: li %0, 1\n2:" : "+r"(t) : "r"(a), "r"(b)); \
    m |= t << bit;                                                                  \
  }
  BR("beq", 0) BR("bne", 1) BR("blt", 2) BR("bge", 3) BR("bltu", 4) BR("bgeu", 5)
#undef BR
  return m;
}

static void test_branches(void) {
  static const uint64_t bv[] = {0, 1, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff,
                                0xffffffff};
  for (unsigned i = 0; i < COUNT(bv); i++)
    for (unsigned j = 0; j < COUNT(bv); j++)
      printf("branch %016lx %016lx beq|bne|blt|bge|bltu|bgeu = %x\n", bv[i], bv[j],
             branches(bv[i], bv[j]));
  // A backward branch loop.
  uint64_t n = 0, i = 10;
  asm volatile("1: addi %0, %0, 3\n addi %1, %1, -1\n bnez %1, 1b" : "+r"(n), "+r"(i));
  printf("backward loop %lu\n", n);
}

static void test_jumps(void) {
  uint64_t link, target, r;
  asm volatile(
      "   jal %0, 1f\n"
      "1: la %1, 1b\n"
      : "=&r"(link), "=&r"(target));
  printf("jal link == next insn: %d\n", (int)(link == target));
  // jalr clears bit 0 of the target; rd == rs1 reads rs1 before writing.
  asm volatile(
      "   la %1, 1f\n"
      "   addi %1, %1, -3\n"
      "   li %2, 0\n"
      "   jalr %0, 4(%1)\n"  // (1f - 3 + 4) & ~1 = 1f
      "   li %2, 99\n"
      "1: addi %2, %2, 1\n"
      : "=&r"(link), "=&r"(target), "=&r"(r));
  printf("jalr odd target: r=%lu\n", r);
  asm volatile(
      "   la %0, 1f\n"
      "   jalr %0, 0(%0)\n"
      "2: nop\n"
      "1: la %1, 2b\n"
      "   sub %0, %0, %1\n"
      : "=&r"(link), "=&r"(target));
  printf("jalr rd==rs1 link - next insn: %ld\n", (int64_t)link);
}

static void test_x0(void) {
  uint64_t r;
  asm volatile(
      "addi x0, x0, 5\n"
      "lui x0, 0x12345\n"
      "add x0, %1, %1\n"
      "ld x0, 0(%2)\n"
      "mv %0, x0\n"
      : "=r"(r)
      : "r"(7ul), "r"(buf));
  printf("x0 after writes: %lx\n", r);
  // fence variants and the pause hint execute as no-ops here.
  asm volatile("fence rw, rw\n fence.tso\n fence iorw, iorw\n .word 0x0100000f\n" ::: "memory");
  printf("fences ok\n");
}

int main(void) {
  print_values("values", vals, COUNT(vals));
  run_binary(rr_ops, COUNT(rr_ops), vals, COUNT(vals));
  run_unary(ri_ops, COUNT(ri_ops), vals, COUNT(vals));
  test_upper();
  test_loads();
  test_stores();
  test_branches();
  test_jumps();
  test_x0();
  printf("rv64i done\n");
  return 0;
}
