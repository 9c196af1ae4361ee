// M extension: multiply high/low in every signedness, division and
// remainder including division by zero and the overflow case
// (most-negative / -1), and the W forms' sign extension.
#include "ops.h"

static const uint64_t vals[] = {
    0,          1,          2,          3,          0x7fffffff,         0x80000000,
    0xffffffff, 0x100000000, 0x7fffffffffffffff, 0x8000000000000000, 0xfedcba9876543210,
    0xfffffffffffffffd, 0xffffffffffffffff, 0xffffffff80000000,
};

DEF_RR(op_mul, "mul")
DEF_RR(op_mulh, "mulh")
DEF_RR(op_mulhsu, "mulhsu")
DEF_RR(op_mulhu, "mulhu")
DEF_RR(op_mulw, "mulw")
DEF_RR(op_div, "div")
DEF_RR(op_divu, "divu")
DEF_RR(op_rem, "rem")
DEF_RR(op_remu, "remu")
DEF_RR(op_divw, "divw")
DEF_RR(op_divuw, "divuw")
DEF_RR(op_remw, "remw")
DEF_RR(op_remuw, "remuw")

static const struct op ops[] = {
    {"mul", op_mul},   {"mulh", op_mulh}, {"mulhsu", op_mulhsu}, {"mulhu", op_mulhu},
    {"mulw", op_mulw}, {"div", op_div},   {"divu", op_divu},     {"rem", op_rem},
    {"remu", op_remu}, {"divw", op_divw}, {"divuw", op_divuw},   {"remw", op_remw},
    {"remuw", op_remuw},
};

int main(void) {
  print_values("values", vals, COUNT(vals));
  run_binary(ops, COUNT(ops), vals, COUNT(vals));
  // The recommended mulh/mul fusion order and rd overlapping a source.
  uint64_t hi, lo, a = 0x8000000000000001, b = 0x7fffffffffffffff;
  asm volatile("mulh %0, %2, %3\n mul %1, %2, %3" : "=&r"(hi), "=&r"(lo) : "r"(a), "r"(b));
  printf("mulh;mul %016lx %016lx\n", hi, lo);
  asm volatile("div %0, %0, %1" : "+r"(a) : "r"(b));
  printf("div rd==rs1 %016lx\n", a);
  printf("rv64m done\n");
  return 0;
}
