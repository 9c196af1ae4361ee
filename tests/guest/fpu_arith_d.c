// D extension arithmetic: fadd/fsub/fmul/fdiv/fsqrt and the four fused
// multiply-adds under all five rounding modes over the double-precision
// operand table, with fflags after each (template in fpu_arith.inc).
#include "fpu.h"

#define SUF "d"
#define MVIN "fmv.d.x"
#define MVOUT "fmv.x.d"
#define VALS f64_vals
#define SINGLE 0

static const uint64_t special_fma[][3] = {
    {0x0000000000000000, 0x7ff0000000000000, 0x7ff8000000000000},
    {0x7ff0000000000000, 0x8000000000000000, 0x7ff0000000000001},
    {0x3ff0000000000001, 0x3fefffffffffffff, 0xbff0000000000000},
    {0x3ff0000000000000, 0x8000000000000000, 0x0000000000000000},
    {0x7fefffffffffffff, 0x4000000000000000, 0xffefffffffffffff},
    {0x0010000000000000, 0x3fe0000000000000, 0x0000000000000000},
    {0x0000000000000001, 0x3fe0000000000000, 0x8000000000000000},
    {0x7ff0000000000000, 0x3ff0000000000000, 0xfff0000000000000},
};
static const uint64_t sqrt_extra[] = {0x4000000000000000, 0x4010000000000000, 0x0000000000000002,
                                      0x0010000000000001, 0x43f0000000000000, 0x3ff0000000000001,
                                      0x7feffffffffffffe, 0xc010000000000000};
static const uint64_t dyn_pairs[][2] = {
    {0x3ff0000000000000, 0x3ca0000000000000}, {0x3ff0000000000001, 0x3ca0000000000000},
    {0xbff0000000000001, 0xbca0000000000000}, {0x7fefffffffffffff, 0x7fefffffffffffff},
    {0x0000000000000001, 0x8000000000000001},
};

#include "fpu_arith.inc"
