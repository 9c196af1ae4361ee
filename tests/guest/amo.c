// A extension: every AMO in .w and .d form over pairs of (memory, operand)
// edge values (old value returned, sign extension of .w, new memory), the
// .aq/.rl encodings, and LR/SC success and failure rules.
#include "ops.h"

static const uint64_t vals[] = {
    0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x7fffffffffffffff, 0x8000000000000000,
    0xfedcba9876543210, 0xffffffffffffffff,
};

static volatile uint64_t cell[4] __attribute__((aligned(64)));

#define DEF_AMO(fn, insn)                                                                 \
  static uint64_t fn(volatile void* p, uint64_t v) {                                     \
    uint64_t r;                                                                          \
    asm volatile(insn " %0, %2, (%1)" : "=&r"(r) : "r"(p), "r"(v) : "memory");           \
    return r;                                                                            \
  }
DEF_AMO(amoswap_w, "amoswap.w")
DEF_AMO(amoadd_w, "amoadd.w")
DEF_AMO(amoxor_w, "amoxor.w")
DEF_AMO(amoand_w, "amoand.w")
DEF_AMO(amoor_w, "amoor.w")
DEF_AMO(amomin_w, "amomin.w")
DEF_AMO(amomax_w, "amomax.w")
DEF_AMO(amominu_w, "amominu.w")
DEF_AMO(amomaxu_w, "amomaxu.w")
DEF_AMO(amoswap_d, "amoswap.d")
DEF_AMO(amoadd_d, "amoadd.d")
DEF_AMO(amoxor_d, "amoxor.d")
DEF_AMO(amoand_d, "amoand.d")
DEF_AMO(amoor_d, "amoor.d")
DEF_AMO(amomin_d, "amomin.d")
DEF_AMO(amomax_d, "amomax.d")
DEF_AMO(amominu_d, "amominu.d")
DEF_AMO(amomaxu_d, "amomaxu.d")
DEF_AMO(amoadd_w_aq, "amoadd.w.aq")
DEF_AMO(amoadd_d_rl, "amoadd.d.rl")
DEF_AMO(amoswap_d_aqrl, "amoswap.d.aqrl")

typedef uint64_t (*amo_fn)(volatile void*, uint64_t);
static const struct {
  const char* name;
  amo_fn fn;
  int word;
} amos[] = {
    {"amoswap.w", amoswap_w, 1}, {"amoadd.w", amoadd_w, 1},   {"amoxor.w", amoxor_w, 1},
    {"amoand.w", amoand_w, 1},   {"amoor.w", amoor_w, 1},     {"amomin.w", amomin_w, 1},
    {"amomax.w", amomax_w, 1},   {"amominu.w", amominu_w, 1}, {"amomaxu.w", amomaxu_w, 1},
    {"amoswap.d", amoswap_d, 0}, {"amoadd.d", amoadd_d, 0},   {"amoxor.d", amoxor_d, 0},
    {"amoand.d", amoand_d, 0},   {"amoor.d", amoor_d, 0},     {"amomin.d", amomin_d, 0},
    {"amomax.d", amomax_d, 0},   {"amominu.d", amominu_d, 0}, {"amomaxu.d", amomaxu_d, 0},
    {"amoadd.w.aq", amoadd_w_aq, 1}, {"amoadd.d.rl", amoadd_d_rl, 0},
    {"amoswap.d.aqrl", amoswap_d_aqrl, 0},
};

static void test_amos(void) {
  const uint64_t guard = 0x5a5a5a5a5a5a5a5a;
  for (unsigned k = 0; k < COUNT(amos); k++)
    for (unsigned i = 0; i < COUNT(vals); i++)
      for (unsigned j = 0; j < COUNT(vals); j++) {
        cell[0] = vals[i];
        cell[1] = guard;
        uint64_t old = amos[k].fn(&cell[0], vals[j]);
        printf("%s v%u v%u old %016lx mem %016lx\n", amos[k].name, i, j, old, cell[0]);
        if (cell[1] != guard) printf("  wrote past the operand: %016lx\n", cell[1]);
      }
  // .w on the upper word of a doubleword leaves the lower word alone.
  cell[0] = 0x1111111180000000;
  uint64_t old = amoadd_w((volatile uint8_t*)&cell[0] + 4, 0xffffffff);
  printf("amoadd.w upper half old %016lx mem %016lx\n", old, cell[0]);
  // rd = x0 still performs the write.
  cell[0] = 5;
  asm volatile("amoadd.d x0, %1, (%0)" ::"r"(&cell[0]), "r"(7ul) : "memory");
  printf("amoadd.d rd=x0 mem %lx\n", cell[0]);
  // rd == rs2.
  uint64_t v = 3;
  cell[0] = 10;
  asm volatile("amoswap.d %0, %0, (%1)" : "+r"(v) : "r"(&cell[0]) : "memory");
  printf("amoswap.d rd==rs2 rd %lx mem %lx\n", v, cell[0]);
}

static volatile uint64_t far_cell[2] __attribute__((aligned(4096)));

static void test_lrsc(void) {
  uint64_t lr, sc;
  cell[0] = 0x8000000012345678;
  asm volatile("lr.d %0, (%2)\n sc.d %1, %3, (%2)" : "=&r"(lr), "=&r"(sc)
               : "r"(&cell[0]), "r"(0x42ul) : "memory");
  printf("lr.d/sc.d: lr %016lx sc %lx mem %016lx\n", lr, sc, cell[0]);

  cell[0] = 0x00000000fffffff0;
  asm volatile("lr.w %0, (%2)\n sc.w %1, %3, (%2)" : "=&r"(lr), "=&r"(sc)
               : "r"(&cell[0]), "r"(0xabcdef0123456789ul) : "memory");
  printf("lr.w/sc.w: lr %016lx sc %lx mem %016lx\n", lr, sc, cell[0]);

  // An SC always clears the reservation, so a second SC fails.
  cell[0] = 1;
  uint64_t sc2;
  asm volatile("lr.d %0, (%3)\n sc.d %1, %4, (%3)\n sc.d %2, %5, (%3)"
               : "=&r"(lr), "=&r"(sc), "=&r"(sc2)
               : "r"(&cell[0]), "r"(2ul), "r"(3ul) : "memory");
  printf("sc twice: first %lx second %s mem %lx\n", sc, sc2 ? "failed" : "succeeded", cell[0]);

  // SC to an address outside the reservation set fails and writes nothing,
  // and it still clears the reservation on the LR's address.
  cell[0] = 7;
  far_cell[0] = 8;
  asm volatile("lr.d %0, (%3)\n sc.d %1, %5, (%4)\n sc.d %2, %5, (%3)"
               : "=&r"(lr), "=&r"(sc), "=&r"(sc2)
               : "r"(&cell[0]), "r"(&far_cell[0]), "r"(9ul) : "memory");
  printf("sc elsewhere: %s, then sc at lr address: %s, mem %lx far %lx\n",
         sc ? "failed" : "succeeded", sc2 ? "failed" : "succeeded", cell[0], far_cell[0]);

  // An LR/SC loop: atomic increment, as compilers emit it.
  cell[0] = 100;
  for (int i = 0; i < 50; i++) {
    uint64_t tmp, fail;
    asm volatile(
        "1: lr.d.aq %0, (%2)\n"
        "   addi %0, %0, 3\n"
        "   sc.d.rl %1, %0, (%2)\n"
        "   bnez %1, 1b\n"
        : "=&r"(tmp), "=&r"(fail)
        : "r"(&cell[0])
        : "memory");
  }
  printf("lr/sc loop result %lu\n", cell[0]);
  // lr.w sign-extends; rd == rs1.
  cell[0] = 0x00000000deadbeef;
  uint64_t p = (uint64_t)&cell[0];
  asm volatile("lr.w %0, (%0)" : "+r"(p)::"memory");
  printf("lr.w rd==rs1 %016lx\n", p);
}

int main(void) {
  print_values("values", vals, COUNT(vals));
  test_amos();
  test_lrsc();
  printf("amo done\n");
  return 0;
}
