// F and D operations without rounding: fmin/fmax (minimumNumber with
// -0 < +0, NV only for signalling NaNs), feq (quiet) and flt/fle
// (signalling), fclass of every class, and sign injection.
#include "fpu.h"

DEF_F2N(fmin_s, "fmin.s", "fmv.w.x", "fmv.x.w")
DEF_F2N(fmax_s, "fmax.s", "fmv.w.x", "fmv.x.w")
DEF_F2N(fsgnj_s, "fsgnj.s", "fmv.w.x", "fmv.x.w")
DEF_F2N(fsgnjn_s, "fsgnjn.s", "fmv.w.x", "fmv.x.w")
DEF_F2N(fsgnjx_s, "fsgnjx.s", "fmv.w.x", "fmv.x.w")
DEF_FCMP(feq_s, "feq.s", "fmv.w.x")
DEF_FCMP(flt_s, "flt.s", "fmv.w.x")
DEF_FCMP(fle_s, "fle.s", "fmv.w.x")
DEF_F2N(fmin_d, "fmin.d", "fmv.d.x", "fmv.x.d")
DEF_F2N(fmax_d, "fmax.d", "fmv.d.x", "fmv.x.d")
DEF_F2N(fsgnj_d, "fsgnj.d", "fmv.d.x", "fmv.x.d")
DEF_F2N(fsgnjn_d, "fsgnjn.d", "fmv.d.x", "fmv.x.d")
DEF_F2N(fsgnjx_d, "fsgnjx.d", "fmv.d.x", "fmv.x.d")
DEF_FCMP(feq_d, "feq.d", "fmv.d.x")
DEF_FCMP(flt_d, "flt.d", "fmv.d.x")
DEF_FCMP(fle_d, "fle.d", "fmv.d.x")

typedef struct fres (*f2)(uint64_t, uint64_t);
static const struct {
  const char* name;
  f2 s, d;
} ops[] = {
    {"fmin", fmin_s, fmin_d}, {"fmax", fmax_s, fmax_d}, {"feq", feq_s, feq_d},
    {"flt", flt_s, flt_d},    {"fle", fle_s, fle_d},    {"fsgnj", fsgnj_s, fsgnj_d},
    {"fsgnjn", fsgnjn_s, fsgnjn_d}, {"fsgnjx", fsgnjx_s, fsgnjx_d},
};

static uint64_t fclass_s(uint64_t a) {
  uint64_t r;
  asm volatile("fmv.w.x ft0, %1\n fclass.s %0, ft0" : "=r"(r) : "r"(a) : "ft0");
  return r;
}
static uint64_t fclass_d(uint64_t a) {
  uint64_t r;
  asm volatile("fmv.d.x ft0, %1\n fclass.d %0, ft0" : "=r"(r) : "r"(a) : "ft0");
  return r;
}

static void run(int single) {
  const uint64_t* v = single ? f32_vals : f64_vals;
  unsigned n = single ? COUNT(f32_vals) : COUNT(f64_vals);
  const char* suf = single ? "s" : "d";
  print_values(single ? "single values" : "double values", v, n);
  for (unsigned i = 0; i < n; i++) printf("fclass.%s v%u: %03lx\n", suf, i, single ? fclass_s(v[i]) : fclass_d(v[i]));
  for (unsigned i = 0; i < n; i++)
    for (unsigned j = 0; j < n; j++) {
      printf("%s v%u v%u:", suf, i, j);
      for (unsigned k = 0; k < COUNT(ops); k++) {
        struct fres r = single ? ops[k].s(v[i], v[j]) : ops[k].d(v[i], v[j]);
        if (k >= 2 && k <= 4)
          printf(" %s %lu/%02lx", ops[k].name, r.bits, r.flags);
        else {
          printf(" %s", ops[k].name);
          print_fres(r, single);
        }
      }
      printf("\n");
    }
}

int main(void) {
  run(1);
  run(0);
  // More fclass inputs: every class once more with other payloads.
  static const uint64_t more_s[] = {0xff7fffff, 0x807fffff, 0x80000000, 0x00000000, 0x00400000,
                                    0x7f800000, 0x7fbfffff, 0x7fffffff, 0xff800001, 0xbf800000};
  for (unsigned i = 0; i < COUNT(more_s); i++) printf("fclass.s %08lx: %03lx\n", more_s[i], fclass_s(more_s[i]));
  static const uint64_t more_d[] = {0xffefffffffffffff, 0x800fffffffffffff, 0x0008000000000000,
                                    0x7ff7ffffffffffff, 0x7fffffffffffffff, 0xfff0000000000001};
  for (unsigned i = 0; i < COUNT(more_d); i++) printf("fclass.d %016lx: %03lx\n", more_d[i], fclass_d(more_d[i]));
  printf("fpu_cmp done\n");
  return 0;
}
