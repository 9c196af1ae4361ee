// Helpers for the floating-point tests: operand tables and inline-asm
// wrappers that run one instruction with a static rounding mode from
// integer bit patterns and return the result bits and fflags.
#pragma once

#include "ops.h"

// Rounding-mode suffixes in rm-field order 0..4.
#define RM_LIST(X) X(rne, 0) X(rtz, 1) X(rdn, 2) X(rup, 3) X(rmm, 4)
static const char* const rm_names[5] = {"rne", "rtz", "rdn", "rup", "rmm"};

struct fres {
  uint64_t bits;
  uint64_t flags;
};

// Single-precision operands: zeros, ones, halfway makers, extremes,
// subnormals, infinities, quiet/signalling NaNs.
static const uint64_t f32_vals[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3f000000, 0x3fc00000, 0x40400000,
    0x3f800001, 0x33800000, 0x3eaaaaab, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x007fffff,
    0x00000001, 0x80000001, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc12345,
};

// The same kinds of values in double precision.
static const uint64_t f64_vals[] = {
    0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
    0x3fe0000000000000, 0x3ff8000000000000, 0x4008000000000000, 0x3ff0000000000001,
    0x3ca0000000000000, 0x3fd5555555555555, 0x7fefffffffffffff, 0xffefffffffffffff,
    0x0010000000000000, 0x000fffffffffffff, 0x0000000000000001, 0x8000000000000001,
    0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0x7ff0000000000001,
    0xfff8000000012345,
};

// Two-operand arithmetic: rd = insn(a, b) with rounding mode rm.
#define DEF_F2(fn, insn, mvin, mvout, rm)                                               \
  static struct fres fn(uint64_t a, uint64_t b) {                                       \
    struct fres r;                                                                      \
    asm volatile(mvin " ft0, %2\n" mvin " ft1, %3\n csrw fflags, zero\n" insn          \
                 " ft2, ft0, ft1, " #rm "\n" mvout " %0, ft2\n csrr %1, fflags\n"        \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); \
    return r;                                                                           \
  }
// Three-operand fused multiply-add family.
#define DEF_F3(fn, insn, mvin, mvout, rm)                                                 \
  static struct fres fn(uint64_t a, uint64_t b, uint64_t c) {                             \
    struct fres r;                                                                        \
    asm volatile(mvin " ft0, %2\n" mvin " ft1, %3\n" mvin " ft2, %4\n csrw fflags, zero\n" \
                 insn " ft3, ft0, ft1, ft2, " #rm "\n" mvout " %0, ft3\n csrr %1, fflags\n" \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a), "r"(b), "r"(c)                   \
                 : "ft0", "ft1", "ft2", "ft3");                                           \
    return r;                                                                             \
  }
// One operand with a rounding mode (fsqrt, conversions between formats).
#define DEF_F1(fn, insn, mvin, mvout, rm)                                      \
  static struct fres fn(uint64_t a) {                                          \
    struct fres r;                                                             \
    asm volatile(mvin " ft0, %2\n csrw fflags, zero\n" insn " ft1, ft0, " #rm \
                 "\n" mvout " %0, ft1\n csrr %1, fflags\n"                     \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a) : "ft0", "ft1");       \
    return r;                                                                  \
  }
// Float -> integer register with a rounding mode.
#define DEF_FX(fn, insn, mvin, rm)                                                   \
  static struct fres fn(uint64_t a) {                                                \
    struct fres r;                                                                   \
    asm volatile(mvin " ft0, %2\n csrw fflags, zero\n" insn " %0, ft0, " #rm        \
                 "\n csrr %1, fflags\n"                                              \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a) : "ft0");                    \
    return r;                                                                        \
  }
// Integer register -> float with a rounding mode.
#define DEF_XF(fn, insn, mvout, rm)                                                  \
  static struct fres fn(uint64_t a) {                                                \
    struct fres r;                                                                   \
    asm volatile("csrw fflags, zero\n" insn " ft0, %2, " #rm "\n" mvout " %0, ft0\n" \
                 " csrr %1, fflags\n"                                                \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a) : "ft0");                    \
    return r;                                                                        \
  }
// Two operands without rounding (min/max, compares, sign injection).
#define DEF_F2N(fn, insn, mvin, mvout)                                                  \
  static struct fres fn(uint64_t a, uint64_t b) {                                       \
    struct fres r;                                                                      \
    asm volatile(mvin " ft0, %2\n" mvin " ft1, %3\n csrw fflags, zero\n" insn          \
                 " ft2, ft0, ft1\n" mvout " %0, ft2\n csrr %1, fflags\n"                 \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); \
    return r;                                                                           \
  }
#define DEF_FCMP(fn, insn, mvin)                                                        \
  static struct fres fn(uint64_t a, uint64_t b) {                                       \
    struct fres r;                                                                      \
    asm volatile(mvin " ft0, %2\n" mvin " ft1, %3\n csrw fflags, zero\n" insn          \
                 " %0, ft0, ft1\n csrr %1, fflags\n"                                     \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a), "r"(b) : "ft0", "ft1");        \
    return r;                                                                           \
  }

// Width of a printed result: 8 hex digits for single, 16 for double.
static inline void print_fres(struct fres r, int single) {
  if (single)
    printf(" %08lx/%02lx", r.bits & 0xffffffff, r.flags);
  else
    printf(" %016lx/%02lx", r.bits, r.flags);
}
