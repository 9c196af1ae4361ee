// Conversions: float -> int (w, wu, l, lu; saturation and NV for NaN and
// out-of-range values, sign extension of 32-bit results) and int -> float
// under all five rounding modes, single <-> double, and the bit moves
// fmv.x.w (sign-extending), fmv.w.x, fmv.x.d, fmv.d.x, loads and stores.
#include "fpu.h"

#define DEF_FX5(name, insn, mvin)       \
  DEF_FX(name##_rne, insn, mvin, rne)   \
  DEF_FX(name##_rtz, insn, mvin, rtz)   \
  DEF_FX(name##_rdn, insn, mvin, rdn)   \
  DEF_FX(name##_rup, insn, mvin, rup)   \
  DEF_FX(name##_rmm, insn, mvin, rmm)   \
  static struct fres (*const name[5])(uint64_t) = {name##_rne, name##_rtz, name##_rdn, name##_rup, name##_rmm};
#define DEF_XF5(name, insn, mvout)      \
  DEF_XF(name##_rne, insn, mvout, rne)  \
  DEF_XF(name##_rtz, insn, mvout, rtz)  \
  DEF_XF(name##_rdn, insn, mvout, rdn)  \
  DEF_XF(name##_rup, insn, mvout, rup)  \
  DEF_XF(name##_rmm, insn, mvout, rmm)  \
  static struct fres (*const name[5])(uint64_t) = {name##_rne, name##_rtz, name##_rdn, name##_rup, name##_rmm};
#define DEF_F15(name, insn, mvin, mvout)     \
  DEF_F1(name##_rne, insn, mvin, mvout, rne) \
  DEF_F1(name##_rtz, insn, mvin, mvout, rtz) \
  DEF_F1(name##_rdn, insn, mvin, mvout, rdn) \
  DEF_F1(name##_rup, insn, mvin, mvout, rup) \
  DEF_F1(name##_rmm, insn, mvin, mvout, rmm) \
  static struct fres (*const name[5])(uint64_t) = {name##_rne, name##_rtz, name##_rdn, name##_rup, name##_rmm};

DEF_FX5(cvt_w_s, "fcvt.w.s", "fmv.w.x")
DEF_FX5(cvt_wu_s, "fcvt.wu.s", "fmv.w.x")
DEF_FX5(cvt_l_s, "fcvt.l.s", "fmv.w.x")
DEF_FX5(cvt_lu_s, "fcvt.lu.s", "fmv.w.x")
DEF_FX5(cvt_w_d, "fcvt.w.d", "fmv.d.x")
DEF_FX5(cvt_wu_d, "fcvt.wu.d", "fmv.d.x")
DEF_FX5(cvt_l_d, "fcvt.l.d", "fmv.d.x")
DEF_FX5(cvt_lu_d, "fcvt.lu.d", "fmv.d.x")
DEF_XF5(cvt_s_w, "fcvt.s.w", "fmv.x.w")
DEF_XF5(cvt_s_wu, "fcvt.s.wu", "fmv.x.w")
DEF_XF5(cvt_s_l, "fcvt.s.l", "fmv.x.w")
DEF_XF5(cvt_s_lu, "fcvt.s.lu", "fmv.x.w")
// fcvt.d.w, fcvt.d.wu and fcvt.d.s are exact: the assembler takes no rm.
#define DEF_XF_EXACT(fn, insn, mvout)                                                   \
  static struct fres fn(uint64_t a) {                                                  \
    struct fres r;                                                                     \
    asm volatile("csrw fflags, zero\n" insn " ft0, %2\n" mvout " %0, ft0\n csrr %1, fflags\n" \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a) : "ft0");                      \
    return r;                                                                          \
  }
DEF_XF_EXACT(cvt_d_w1, "fcvt.d.w", "fmv.x.d")
DEF_XF_EXACT(cvt_d_wu1, "fcvt.d.wu", "fmv.x.d")
static struct fres (*const cvt_d_w[5])(uint64_t) = {cvt_d_w1, cvt_d_w1, cvt_d_w1, cvt_d_w1, cvt_d_w1};
static struct fres (*const cvt_d_wu[5])(uint64_t) = {cvt_d_wu1, cvt_d_wu1, cvt_d_wu1, cvt_d_wu1,
                                                     cvt_d_wu1};
DEF_XF5(cvt_d_l, "fcvt.d.l", "fmv.x.d")
DEF_XF5(cvt_d_lu, "fcvt.d.lu", "fmv.x.d")
DEF_F15(cvt_s_d, "fcvt.s.d", "fmv.d.x", "fmv.x.w")
static struct fres cvt_d_s(uint64_t a) {
  struct fres r;
  asm volatile("fmv.w.x ft0, %2\n csrw fflags, zero\n fcvt.d.s ft1, ft0\n fmv.x.d %0, ft1\n csrr %1, fflags\n"
               : "=r"(r.bits), "=r"(r.flags) : "r"(a) : "ft0", "ft1");
  return r;
}

static const uint64_t s_in[] = {
    0x00000000, 0x80000000, 0x3f000000, 0xbf000000, 0x3fc00000, 0xbfc00000, 0x40200000, 0xc0200000,
    0x3f7fffff, 0xbf800000, 0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001, 0x4f7fffff, 0x4f800000,
    0x5effffff, 0x5f000000, 0xdf000000, 0xdf000001, 0x5f7fffff, 0x5f800000, 0x7f7fffff, 0xff7fffff,
    0x00000001, 0x80000001, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00000,
};
static const uint64_t d_in[] = {
    0x0000000000000000, 0x8000000000000000, 0x3fe0000000000000, 0xbfe0000000000000,
    0x3ff8000000000000, 0xbff8000000000000, 0x4004000000000000, 0xc004000000000000,
    0x3fefffffffffffff, 0xbff0000000000000, 0x41dfffffffc00000, 0x41dfffffffe00000,
    0x41e0000000000000, 0xc1e0000000000000, 0xc1e0000000200000, 0xc1e0000000100000,
    0x41efffffffe00000, 0x41efffffffffffff, 0x41f0000000000000, 0x43dfffffffffffff,
    0x43e0000000000000, 0xc3e0000000000000, 0xc3e0000000000001, 0x43efffffffffffff,
    0x43f0000000000000, 0x7fefffffffffffff, 0x0000000000000001, 0x8000000000000001,
    0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0x7ff0000000000001,
    0x380fffffe0000000, 0x36a0000000000000, 0x47efffffe0000000, 0x47efffffefffffff,
    0x47effffff0000000, 0x3ff0000010000000, 0x3ff0000030000000, 0x3ff0000010000001,
};
static const uint64_t ints[] = {
    0, 1, 0xffffffffffffffff, 0x1000001, 0x1000003, 0x7fffffff, 0x80000000, 0xffffffff,
    0x80000001, 0x100000000, 0x20000000000001, 0x20000000000003, 0x7fffffffffffffff,
    0x8000000000000000, 0x8000000000000001, 0x123456789abcdef0, 0xfffffffffefffffd,
    0x00000000fffffff7,
};

static void row(const char* name, unsigned idx, struct fres (*const fns[5])(uint64_t), uint64_t in,
                int single) {
  printf("%s %u:", name, idx);
  for (int rm = 0; rm < 5; rm++) print_fres(fns[rm](in), single);
  printf("\n");
}

static void test_to_int(void) {
  print_values("single inputs", s_in, COUNT(s_in));
  for (unsigned i = 0; i < COUNT(s_in); i++) {
    row("fcvt.w.s", i, cvt_w_s, s_in[i], 0);
    row("fcvt.wu.s", i, cvt_wu_s, s_in[i], 0);
    row("fcvt.l.s", i, cvt_l_s, s_in[i], 0);
    row("fcvt.lu.s", i, cvt_lu_s, s_in[i], 0);
  }
  print_values("double inputs", d_in, COUNT(d_in));
  for (unsigned i = 0; i < COUNT(d_in); i++) {
    row("fcvt.w.d", i, cvt_w_d, d_in[i], 0);
    row("fcvt.wu.d", i, cvt_wu_d, d_in[i], 0);
    row("fcvt.l.d", i, cvt_l_d, d_in[i], 0);
    row("fcvt.lu.d", i, cvt_lu_d, d_in[i], 0);
  }
}

static void test_from_int(void) {
  print_values("integer inputs", ints, COUNT(ints));
  for (unsigned i = 0; i < COUNT(ints); i++) {
    row("fcvt.s.w", i, cvt_s_w, ints[i], 1);
    row("fcvt.s.wu", i, cvt_s_wu, ints[i], 1);
    row("fcvt.s.l", i, cvt_s_l, ints[i], 1);
    row("fcvt.s.lu", i, cvt_s_lu, ints[i], 1);
    row("fcvt.d.w", i, cvt_d_w, ints[i], 0);
    row("fcvt.d.wu", i, cvt_d_wu, ints[i], 0);
    row("fcvt.d.l", i, cvt_d_l, ints[i], 0);
    row("fcvt.d.lu", i, cvt_d_lu, ints[i], 0);
  }
}

static void test_between_formats(void) {
  for (unsigned i = 0; i < COUNT(d_in); i++) row("fcvt.s.d", i, cvt_s_d, d_in[i], 1);
  for (unsigned i = 0; i < COUNT(f32_vals); i++) {
    printf("fcvt.d.s %08lx:", f32_vals[i]);
    print_fres(cvt_d_s(f32_vals[i]), 0);
    printf("\n");
  }
}

static void test_moves(void) {
  static const uint64_t w[] = {0x80000000, 0x7fffffff, 0xffc00001, 0x12345678, 0xffffffff80000000};
  for (unsigned i = 0; i < COUNT(w); i++) {
    uint64_t x, d;
    asm volatile("fmv.w.x ft0, %2\n fmv.x.w %0, ft0\n fmv.x.d %1, ft0" : "=r"(x), "=r"(d) : "r"(w[i]) : "ft0");
    printf("fmv.w.x %lx: fmv.x.w %016lx fmv.x.d %016lx\n", w[i], x, d);
  }
  static const uint64_t dv[] = {0x7ff0000000000001, 0xfff8000000012345, 0x0000000080000000};
  for (unsigned i = 0; i < COUNT(dv); i++) {
    uint64_t x, lo;
    asm volatile("fmv.d.x ft0, %2\n fmv.x.d %0, ft0\n fmv.x.w %1, ft0" : "=r"(x), "=r"(lo) : "r"(dv[i]) : "ft0");
    printf("fmv.d.x %lx: fmv.x.d %016lx fmv.x.w %016lx\n", dv[i], x, lo);
  }
  // Loads and stores move bits unchanged, signalling NaNs included.
  static volatile uint64_t mem[4];
  mem[0] = 0x7ff0000000000001;
  mem[1] = 0xaaaaaaaa7f800001;
  uint64_t a, b, c;
  asm volatile(
      "fld ft0, 0(%3)\n fsd ft0, 16(%3)\n"
      "flw ft1, 8(%3)\n fsw ft1, 24(%3)\n"
      "fmv.x.d %0, ft0\n fmv.x.d %1, ft1\n csrr %2, fflags\n"
      : "=r"(a), "=r"(b), "=r"(c) : "r"(mem) : "ft0", "ft1", "memory");
  printf("fld/fsd %016lx -> %016lx; flw/fsw -> %016lx, register %016lx; fflags %lx\n", a, mem[2],
         mem[3], b, c);
}

int main(void) {
  test_to_int();
  test_from_int();
  test_between_formats();
  test_moves();
  printf("fpu_conv done\n");
  return 0;
}
