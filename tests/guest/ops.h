// Helpers for instruction tables: a test defines small functions that run
// one instruction on their operands, lists them, and prints every result.
#pragma once

#include "rt.h"

typedef uint64_t (*op_fn)(uint64_t a, uint64_t b);
struct op {
  const char* name;
  op_fn fn;
};

// rd = insn rs1, rs2
#define DEF_RR(fn, insn)                                                   \
  static uint64_t fn(uint64_t a, uint64_t b) {                            \
    uint64_t r;                                                           \
    asm volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));          \
    return r;                                                             \
  }
// rd = insn rs1, imm (b unused)
#define DEF_RI(fn, insn, imm)                                              \
  static uint64_t fn(uint64_t a, uint64_t b) {                            \
    (void)b;                                                              \
    uint64_t r;                                                           \
    asm volatile(insn " %0, %1, " #imm : "=r"(r) : "r"(a));               \
    return r;                                                             \
  }
// rd = insn rs1 (b unused)
#define DEF_R1(fn, insn)                                                   \
  static uint64_t fn(uint64_t a, uint64_t b) {                            \
    (void)b;                                                              \
    uint64_t r;                                                           \
    asm volatile(insn " %0, %1" : "=r"(r) : "r"(a));                      \
    return r;                                                             \
  }

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

// Prints the operand table once, then "name i j result" for every pair
// (i, j index the table), so a difference names the operands exactly.
static inline void print_values(const char* title, const uint64_t* v, unsigned n) {
  printf("%s:\n", title);
  for (unsigned i = 0; i < n; i++) printf("  v%u = %016lx\n", i, v[i]);
}

static inline void run_binary(const struct op* ops, unsigned nops, const uint64_t* v, unsigned n) {
  for (unsigned k = 0; k < nops; k++)
    for (unsigned i = 0; i < n; i++)
      for (unsigned j = 0; j < n; j++)
        printf("%s v%u v%u %016lx\n", ops[k].name, i, j, ops[k].fn(v[i], v[j]));
}

static inline void run_unary(const struct op* ops, unsigned nops, const uint64_t* v, unsigned n) {
  for (unsigned k = 0; k < nops; k++)
    for (unsigned i = 0; i < n; i++) printf("%s v%u %016lx\n", ops[k].name, i, ops[k].fn(v[i], 0));
}
