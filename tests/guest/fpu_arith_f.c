// F extension arithmetic: fadd/fsub/fmul/fdiv/fsqrt and the four fused
// multiply-adds under all five rounding modes over the single-precision
// operand table, with fflags after each (template in fpu_arith.inc).
#include "fpu.h"

#define SUF "s"
#define MVIN "fmv.w.x"
#define MVOUT "fmv.x.w"
#define VALS f32_vals
#define SINGLE 1

static const uint64_t special_fma[][3] = {
    {0x00000000, 0x7f800000, 0x7fc00000},  // 0 * inf + qNaN: NV
    {0x7f800000, 0x80000000, 0x7f800001},  // inf * -0 + sNaN
    {0x3f800001, 0x3f7fffff, 0xbf800000},  // single rounding
    {0x3f800000, 0x80000000, 0x00000000},  // 1 * -0 + +0: -0 only under rdn
    {0x7f7fffff, 0x40000000, 0xff7fffff},  // max * 2 - max: no overflow
    {0x00800000, 0x3f000000, 0x00000000},  // subnormal result, exact
    {0x00000001, 0x3f000000, 0x80000000},  // tiny tie: underflow
    {0x7f800000, 0x3f800000, 0xff800000},  // inf - inf: NV
};
static const uint64_t sqrt_extra[] = {0x40000000, 0x40800000, 0x00000002, 0x00800001, 0x4f800000,
                                      0x3f800001, 0x7f7ffffe, 0xc0800000};
static const uint64_t dyn_pairs[][2] = {
    {0x3f800000, 0x33800000}, {0x3f800001, 0x33800000}, {0xbf800001, 0xb3800000},
    {0x7f7fffff, 0x7f7fffff}, {0x00000001, 0x80000001},
};

#include "fpu_arith.inc"
