// Hand-picked F/D vectors with expected bits and flags, derived from the
// spec and IEEE 754 (reasoning in the comments) and cross-checked against
// QEMU 7.2 running the same instructions on a bare-metal rv64 hart.
#include <gtest/gtest.h>

#include "fpu_test_ops.h"

namespace tandem::cpu::fpu::testing {
namespace {

constexpr unsigned kAll = 5;  // the same expectation in every rounding mode
constexpr uint32_t kUFNX = kUF | kNX;
constexpr uint32_t kOFNX = kOF | kNX;
constexpr uint64_t kQNaN32 = 0x7fc00000, kSNaN32 = 0x7f800001, kNegQNaN32 = 0xffc00000;
constexpr uint64_t kQNaN64 = 0x7ff8000000000000, kSNaN64 = 0x7ff0000000000001;

const Case kArith[] = {
    // 1 + 2^-24: exactly half an ulp above 1. Ties go to even (1) in RNE,
    // away (1+ulp) in RMM.
    {kAddS, kRNE, 0x3f800000, 0x33800000, 0, 0x3f800000, kNX},
    {kAddS, kRTZ, 0x3f800000, 0x33800000, 0, 0x3f800000, kNX},
    {kAddS, kRDN, 0x3f800000, 0x33800000, 0, 0x3f800000, kNX},
    {kAddS, kRUP, 0x3f800000, 0x33800000, 0, 0x3f800001, kNX},
    {kAddS, kRMM, 0x3f800000, 0x33800000, 0, 0x3f800001, kNX},
    // (1+ulp) + half ulp: the tie now rounds up in RNE too (odd -> even).
    {kAddS, kRNE, 0x3f800001, 0x33800000, 0, 0x3f800002, kNX},
    {kAddS, kRTZ, 0x3f800001, 0x33800000, 0, 0x3f800001, kNX},
    {kAddS, kRMM, 0x3f800001, 0x33800000, 0, 0x3f800002, kNX},
    // Negative tie: RDN moves away from zero, RUP toward it.
    {kAddS, kRNE, 0xbf800000, 0xb3800000, 0, 0xbf800000, kNX},
    {kAddS, kRTZ, 0xbf800000, 0xb3800000, 0, 0xbf800000, kNX},
    {kAddS, kRDN, 0xbf800000, 0xb3800000, 0, 0xbf800001, kNX},
    {kAddS, kRUP, 0xbf800000, 0xb3800000, 0, 0xbf800000, kNX},
    {kAddS, kRMM, 0xbf800000, 0xb3800000, 0, 0xbf800001, kNX},
    // The same in binary64: 1 + 2^-53.
    {kAddD, kRNE, 0x3ff0000000000000, 0x3ca0000000000000, 0, 0x3ff0000000000000, kNX},
    {kAddD, kRTZ, 0x3ff0000000000000, 0x3ca0000000000000, 0, 0x3ff0000000000000, kNX},
    {kAddD, kRDN, 0x3ff0000000000000, 0x3ca0000000000000, 0, 0x3ff0000000000000, kNX},
    {kAddD, kRUP, 0x3ff0000000000000, 0x3ca0000000000000, 0, 0x3ff0000000000001, kNX},
    {kAddD, kRMM, 0x3ff0000000000000, 0x3ca0000000000000, 0, 0x3ff0000000000001, kNX},
    {kSubD, kRNE, 0x3ff0000000000001, 0xbca0000000000000, 0, 0x3ff0000000000002, kNX},
    {kSubD, kRMM, 0x3ff0000000000001, 0xbca0000000000000, 0, 0x3ff0000000000002, kNX},
    {kSubD, kRDN, 0x3ff0000000000001, 0xbca0000000000000, 0, 0x3ff0000000000001, kNX},

    // Overflow: inf in RNE/RMM and toward the sign's infinity, else the
    // largest finite number; always OF|NX.
    {kAddS, kRNE, 0x7f7fffff, 0x7f7fffff, 0, 0x7f800000, kOFNX},
    {kAddS, kRTZ, 0x7f7fffff, 0x7f7fffff, 0, 0x7f7fffff, kOFNX},
    {kAddS, kRDN, 0x7f7fffff, 0x7f7fffff, 0, 0x7f7fffff, kOFNX},
    {kAddS, kRUP, 0x7f7fffff, 0x7f7fffff, 0, 0x7f800000, kOFNX},
    {kAddS, kRMM, 0x7f7fffff, 0x7f7fffff, 0, 0x7f800000, kOFNX},
    {kAddS, kRNE, 0xff7fffff, 0xff7fffff, 0, 0xff800000, kOFNX},
    {kAddS, kRTZ, 0xff7fffff, 0xff7fffff, 0, 0xff7fffff, kOFNX},
    {kAddS, kRDN, 0xff7fffff, 0xff7fffff, 0, 0xff800000, kOFNX},
    {kAddS, kRUP, 0xff7fffff, 0xff7fffff, 0, 0xff7fffff, kOFNX},
    {kAddS, kRMM, 0xff7fffff, 0xff7fffff, 0, 0xff800000, kOFNX},
    {kMulD, kRNE, 0x7fefffffffffffff, 0x4000000000000000, 0, 0x7ff0000000000000, kOFNX},
    {kMulD, kRTZ, 0x7fefffffffffffff, 0x4000000000000000, 0, 0x7fefffffffffffff, kOFNX},
    {kMulD, kRDN, 0x7fefffffffffffff, 0x4000000000000000, 0, 0x7fefffffffffffff, kOFNX},
    {kMulD, kRUP, 0x7fefffffffffffff, 0x4000000000000000, 0, 0x7ff0000000000000, kOFNX},
    {kMulD, kRMM, 0x7fefffffffffffff, 0x4000000000000000, 0, 0x7ff0000000000000, kOFNX},
    {kMulD, kRDN, 0xffefffffffffffff, 0x4000000000000000, 0, 0xfff0000000000000, kOFNX},
    {kMulD, kRUP, 0xffefffffffffffff, 0x4000000000000000, 0, 0xffefffffffffffff, kOFNX},

    // Signed zeros (IEEE 754 6.3): x - x is +0 except -0 under RDN.
    {kSubS, kRNE, 0x3f800000, 0x3f800000, 0, 0x00000000, 0},
    {kSubS, kRTZ, 0x3f800000, 0x3f800000, 0, 0x00000000, 0},
    {kSubS, kRDN, 0x3f800000, 0x3f800000, 0, 0x80000000, 0},
    {kSubS, kRUP, 0x3f800000, 0x3f800000, 0, 0x00000000, 0},
    {kSubS, kRMM, 0x3f800000, 0x3f800000, 0, 0x00000000, 0},
    {kAddD, kRNE, 0x4008000000000000, 0xc008000000000000, 0, 0, 0},
    {kAddD, kRDN, 0x4008000000000000, 0xc008000000000000, 0, 0x8000000000000000, 0},
    {kAddS, kAll, 0x80000000, 0x80000000, 0, 0x80000000, 0},  // -0 + -0
    {kAddS, kRNE, 0x00000000, 0x80000000, 0, 0x00000000, 0},
    {kAddS, kRDN, 0x00000000, 0x80000000, 0, 0x80000000, 0},
    {kMulS, kAll, 0x80000000, 0x3f800000, 0, 0x80000000, 0},
    {kAddS, kAll, 0x80000000, 0x00000001, 0, 0x00000001, 0},  // -0 + min subnormal

    // Underflow. Exact subnormal results raise nothing.
    {kMulS, kAll, 0x00800000, 0x3f000000, 0, 0x00400000, 0},
    // 2^-150: half the smallest subnormal, a tie between 0 and 2^-149.
    {kMulS, kRNE, 0x00000001, 0x3f000000, 0, 0x00000000, kUFNX},
    {kMulS, kRTZ, 0x00000001, 0x3f000000, 0, 0x00000000, kUFNX},
    {kMulS, kRDN, 0x00000001, 0x3f000000, 0, 0x00000000, kUFNX},
    {kMulS, kRUP, 0x00000001, 0x3f000000, 0, 0x00000001, kUFNX},
    {kMulS, kRMM, 0x00000001, 0x3f000000, 0, 0x00000001, kUFNX},
    {kMulS, kRDN, 0x80000001, 0x3f000000, 0, 0x80000001, kUFNX},
    {kMulD, kRNE, 0x0000000000000001, 0x3fe0000000000000, 0, 0, kUFNX},
    {kMulD, kRMM, 0x0000000000000001, 0x3fe0000000000000, 0, 1, kUFNX},
    // (1 - 2^-24) * 2^-126 = 2^-126 - 2^-150 is exact at full precision
    // with an unbounded exponent, hence tiny after rounding: UF is raised
    // even where the result rounds up to the smallest normal.
    {kMulS, kRNE, 0x3f7fffff, 0x00800000, 0, 0x00800000, kUFNX},
    {kMulS, kRTZ, 0x3f7fffff, 0x00800000, 0, 0x007fffff, kUFNX},
    {kMulS, kRUP, 0x3f7fffff, 0x00800000, 0, 0x00800000, kUFNX},
    {kMulS, kRMM, 0x3f7fffff, 0x00800000, 0, 0x00800000, kUFNX},
    // Subnormal sums are exact: no UF.
    {kSubS, kAll, 0x00800001, 0x00800000, 0, 0x00000001, 0},
    {kAddD, kAll, 0x000fffffffffffff, 0x0000000000000001, 0, 0x0010000000000000, 0},

    // Division.
    {kDivS, kRNE, 0x3f800000, 0x40400000, 0, 0x3eaaaaab, kNX},  // 1/3
    {kDivS, kRTZ, 0x3f800000, 0x40400000, 0, 0x3eaaaaaa, kNX},
    {kDivS, kRDN, 0x3f800000, 0x40400000, 0, 0x3eaaaaaa, kNX},
    {kDivS, kRUP, 0x3f800000, 0x40400000, 0, 0x3eaaaaab, kNX},
    {kDivS, kRMM, 0x3f800000, 0x40400000, 0, 0x3eaaaaab, kNX},
    {kDivD, kRNE, 0x3ff0000000000000, 0x4008000000000000, 0, 0x3fd5555555555555, kNX},
    {kDivD, kRUP, 0x3ff0000000000000, 0x4008000000000000, 0, 0x3fd5555555555556, kNX},
    {kDivD, kRMM, 0x3ff0000000000000, 0x4008000000000000, 0, 0x3fd5555555555555, kNX},
    {kDivS, kAll, 0x3f800000, 0x00000000, 0, 0x7f800000, kDZ},
    {kDivS, kAll, 0xbf800000, 0x00000000, 0, 0xff800000, kDZ},
    {kDivD, kAll, 0x3ff0000000000000, 0x8000000000000000, 0, 0xfff0000000000000, kDZ},
    {kDivS, kAll, 0x00000000, 0x00000000, 0, kQNaN32, kNV},
    {kDivD, kAll, 0x7ff0000000000000, 0xfff0000000000000, 0, kQNaN64, kNV},
    {kDivS, kAll, 0x7f800000, 0x00000000, 0, 0x7f800000, 0},  // inf/0: no DZ
    {kDivS, kAll, 0x3f800000, 0xff800000, 0, 0x80000000, 0},

    // Square root.
    {kSqrtS, kRNE, 0x40000000, 0, 0, 0x3fb504f3, kNX},  // sqrt(2) lies above ...f3
    {kSqrtS, kRTZ, 0x40000000, 0, 0, 0x3fb504f3, kNX},
    {kSqrtS, kRUP, 0x40000000, 0, 0, 0x3fb504f4, kNX},
    {kSqrtS, kRMM, 0x40000000, 0, 0, 0x3fb504f3, kNX},
    {kSqrtD, kRNE, 0x4000000000000000, 0, 0, 0x3ff6a09e667f3bcd, kNX},  // ... below ...cd
    {kSqrtD, kRDN, 0x4000000000000000, 0, 0, 0x3ff6a09e667f3bcc, kNX},
    {kSqrtD, kRMM, 0x4000000000000000, 0, 0, 0x3ff6a09e667f3bcd, kNX},
    {kSqrtS, kAll, 0x40800000, 0, 0, 0x40000000, 0},
    {kSqrtS, kAll, 0xbf800000, 0, 0, kQNaN32, kNV},
    {kSqrtD, kAll, 0xbff0000000000000, 0, 0, kQNaN64, kNV},
    {kSqrtD, kAll, 0xfff0000000000000, 0, 0, kQNaN64, kNV},
    {kSqrtS, kAll, 0x80000000, 0, 0, 0x80000000, 0},  // sqrt(-0) = -0
    {kSqrtS, kAll, 0x7f800000, 0, 0, 0x7f800000, 0},
    {kSqrtS, kRNE, 0x00000001, 0, 0, 0x1a3504f3, kNX},  // subnormal input
    {kSqrtD, kAll, 0x0000000000000004, 0, 0, 0x1e70000000000000, 0},  // sqrt(2^-1072)

    // NaNs: canonical result; NV only for signaling inputs.
    {kAddS, kAll, kNegQNaN32, 0x3f800000, 0, kQNaN32, 0},
    {kAddS, kAll, 0x7fc12345, 0x3f800000, 0, kQNaN32, 0},
    {kMulS, kAll, kSNaN32, 0x3f800000, 0, kQNaN32, kNV},
    {kSubD, kAll, 0x3ff0000000000000, kSNaN64, 0, kQNaN64, kNV},
    {kAddD, kAll, 0x7ff0000000000000, 0xfff0000000000000, 0, kQNaN64, kNV},
    {kMulD, kAll, 0x0000000000000000, 0xfff0000000000000, 0, kQNaN64, kNV},
    {kSqrtS, kAll, 0x7fc00001, 0, 0, kQNaN32, 0},
    {kSqrtS, kAll, 0xff800001, 0, 0, kQNaN32, kNV},

    // Fused multiply-add: one rounding. (1+2^-12)^2 = 1 + 2^-11 + 2^-24;
    // minus (1 + 2^-11) leaves 2^-24 exactly (unfused RNE would give 0).
    {kMaddS, kAll, 0x3f800800, 0x3f800800, 0xbf801000, 0x33800000, 0},
    // (1+2^-27)^2 - (1+2^-26) = 2^-54, below binary64's ulp of 1.
    {kMaddD, kAll, 0x3ff0000002000000, 0x3ff0000002000000, 0xbff0000004000000,
     0x3c90000000000000, 0},
    // 1*1 + 2^-24: the tie again, now inside an fma.
    {kMaddS, kRNE, 0x3f800000, 0x3f800000, 0x33800000, 0x3f800000, kNX},
    {kMaddS, kRMM, 0x3f800000, 0x3f800000, 0x33800000, 0x3f800001, kNX},
    {kMaddS, kRUP, 0x3f800000, 0x3f800000, 0x33800000, 0x3f800001, kNX},
    // The four sign variants with 2, 3, 1.
    {kMaddS, kAll, 0x40000000, 0x40400000, 0x3f800000, 0x40e00000, 0},   // 7
    {kMsubS, kAll, 0x40000000, 0x40400000, 0x3f800000, 0x40a00000, 0},   // 5
    {kNmsubS, kAll, 0x40000000, 0x40400000, 0x3f800000, 0xc0a00000, 0},  // -5
    {kNmaddS, kAll, 0x40000000, 0x40400000, 0x3f800000, 0xc0e00000, 0},  // -7
    {kMaddD, kAll, 0x4000000000000000, 0x4008000000000000, 0x3ff0000000000000,
     0x401c000000000000, 0},
    {kNmaddD, kAll, 0x4000000000000000, 0x4008000000000000, 0x3ff0000000000000,
     0xc01c000000000000, 0},
    // Exact cancellation: +0, or -0 in RDN.
    {kMaddS, kRNE, 0x3f800000, 0x3f800000, 0xbf800000, 0x00000000, 0},
    {kMaddS, kRDN, 0x3f800000, 0x3f800000, 0xbf800000, 0x80000000, 0},
    {kMaddS, kRNE, 0x00000000, 0x3f800000, 0x80000000, 0x00000000, 0},
    {kMaddS, kRDN, 0x00000000, 0x3f800000, 0x80000000, 0x80000000, 0},
    {kNmaddS, kAll, 0x00000000, 0x3f800000, 0x00000000, 0x80000000, 0},  // -(+0) - (+0)
    // inf * 0 is invalid even with a quiet NaN addend (spec 11.6).
    {kMaddS, kAll, 0x00000000, 0x7f800000, kQNaN32, kQNaN32, kNV},
    {kMaddD, kAll, 0x7ff0000000000000, 0x0000000000000000, 0x3ff0000000000000, kQNaN64, kNV},
    {kMaddS, kAll, 0x3f800000, 0x3f800000, kQNaN32, kQNaN32, 0},
    {kMaddS, kAll, 0x3f800000, 0x3f800000, kSNaN32, kQNaN32, kNV},
    {kMaddS, kAll, 0x7f800000, 0x3f800000, 0xff800000, kQNaN32, kNV},  // inf - inf
    {kMsubS, kAll, 0x7f800000, 0x3f800000, 0x7f800000, kQNaN32, kNV},
    {kMaddS, kAll, 0x7f800000, 0x3f800000, 0x7f800000, 0x7f800000, 0},
    {kMaddS, kAll, 0x3f800000, 0x3f800000, 0xff800000, 0xff800000, 0},
    // Overflow and underflow inside an fma.
    {kMaddS, kRNE, 0x7f7fffff, 0x40000000, 0x3f800000, 0x7f800000, kOFNX},
    {kMaddS, kRTZ, 0x7f7fffff, 0x40000000, 0x3f800000, 0x7f7fffff, kOFNX},
    {kMaddS, kRNE, 0x00000001, 0x3f000000, 0x00000000, 0x00000000, kUFNX},
    {kMaddS, kRUP, 0x00000001, 0x3f000000, 0x80000000, 0x00000001, kUFNX},
};

const Case kConvert[] = {
    // fcvt.w.* saturates with NV alone; the result is sign-extended.
    {kCvtWS, kAll, 0x4f000000, 0, 0, 0x000000007fffffff, kNV},  // 2^31
    {kCvtWS, kAll, 0xcf000000, 0, 0, 0xffffffff80000000, 0},    // -2^31
    {kCvtWD, kAll, 0xc1e0000000200000, 0, 0, 0xffffffff80000000, kNV},  // -2^31-1
    {kCvtWD, kAll, 0x41dfffffffc00000, 0, 0, 0x000000007fffffff, 0},   // 2^31-1
    // -2^31 - 0.5 is in range only if it rounds toward zero or to even.
    {kCvtWD, kRNE, 0xc1e0000000100000, 0, 0, 0xffffffff80000000, kNX},
    {kCvtWD, kRTZ, 0xc1e0000000100000, 0, 0, 0xffffffff80000000, kNX},
    {kCvtWD, kRDN, 0xc1e0000000100000, 0, 0, 0xffffffff80000000, kNV},
    {kCvtWD, kRUP, 0xc1e0000000100000, 0, 0, 0xffffffff80000000, kNX},
    {kCvtWD, kRMM, 0xc1e0000000100000, 0, 0, 0xffffffff80000000, kNV},
    // 2^31 - 0.5: the tie goes to 2^31 (even) in RNE, out of range.
    {kCvtWD, kRNE, 0x41dfffffffe00000, 0, 0, 0x7fffffff, kNV},
    {kCvtWD, kRTZ, 0x41dfffffffe00000, 0, 0, 0x7fffffff, kNX},
    {kCvtWD, kRDN, 0x41dfffffffe00000, 0, 0, 0x7fffffff, kNX},
    {kCvtWD, kRUP, 0x41dfffffffe00000, 0, 0, 0x7fffffff, kNV},
    {kCvtWD, kRMM, 0x41dfffffffe00000, 0, 0, 0x7fffffff, kNV},
    {kCvtWS, kAll, kQNaN32, 0, 0, 0x7fffffff, kNV},  // NaN -> max positive
    {kCvtWS, kAll, kNegQNaN32, 0, 0, 0x7fffffff, kNV},
    {kCvtWS, kAll, 0x7f800000, 0, 0, 0x7fffffff, kNV},
    {kCvtWS, kAll, 0xff800000, 0, 0, 0xffffffff80000000, kNV},
    {kCvtWS, kAll, 0x80000000, 0, 0, 0, 0},
    // -0.5 under each mode.
    {kCvtWS, kRNE, 0xbf000000, 0, 0, 0, kNX},
    {kCvtWS, kRTZ, 0xbf000000, 0, 0, 0, kNX},
    {kCvtWS, kRDN, 0xbf000000, 0, 0, 0xffffffffffffffff, kNX},
    {kCvtWS, kRUP, 0xbf000000, 0, 0, 0, kNX},
    {kCvtWS, kRMM, 0xbf000000, 0, 0, 0xffffffffffffffff, kNX},
    // Unsigned: -0.5 is fine when it rounds to 0, invalid when to -1.
    {kCvtWuS, kRNE, 0xbf000000, 0, 0, 0, kNX},
    {kCvtWuS, kRTZ, 0xbf000000, 0, 0, 0, kNX},
    {kCvtWuS, kRDN, 0xbf000000, 0, 0, 0, kNV},
    {kCvtWuS, kRUP, 0xbf000000, 0, 0, 0, kNX},
    {kCvtWuS, kRMM, 0xbf000000, 0, 0, 0, kNV},
    {kCvtLuD, kRDN, 0xbfe0000000000000, 0, 0, 0, kNV},
    {kCvtLuD, kRTZ, 0xbfe0000000000000, 0, 0, 0, kNX},
    // Ties to integers.
    {kCvtWD, kRNE, 0x4004000000000000, 0, 0, 2, kNX},  // 2.5
    {kCvtWD, kRMM, 0x4004000000000000, 0, 0, 3, kNX},
    {kCvtWD, kRNE, 0x3ff8000000000000, 0, 0, 2, kNX},  // 1.5
    {kCvtWD, kRMM, 0xc004000000000000, 0, 0, 0xfffffffffffffffd, kNX},  // -2.5 -> -3
    {kCvtWD, kRUP, 0x3fe0000000000000, 0, 0, 1, kNX},  // 0.5
    {kCvtLS, kRNE, 0x3f000000, 0, 0, 0, kNX},
    // fcvt.wu: results are sign-extended from 32 bits too.
    {kCvtWuS, kAll, 0x4f000000, 0, 0, 0xffffffff80000000, 0},    // 2^31
    {kCvtWuS, kAll, 0x4f800000, 0, 0, 0xffffffffffffffff, kNV},  // 2^32
    {kCvtWuS, kAll, kQNaN32, 0, 0, 0xffffffffffffffff, kNV},
    {kCvtWuS, kAll, 0xff800000, 0, 0, 0, kNV},
    {kCvtWuS, kAll, 0xbf800000, 0, 0, 0, kNV},
    {kCvtWuD, kAll, 0x41efffffffe00000, 0, 0, 0xffffffffffffffff, 0},  // 2^32-1
    // 64-bit bounds.
    {kCvtLS, kAll, 0x5f000000, 0, 0, 0x7fffffffffffffff, kNV},  // 2^63
    {kCvtLS, kAll, 0xdf000000, 0, 0, 0x8000000000000000, 0},    // -2^63
    {kCvtLD, kAll, 0x43dfffffffffffff, 0, 0, 0x7ffffffffffffc00, 0},
    {kCvtLD, kAll, 0xc3e0000000000001, 0, 0, 0x8000000000000000, kNV},
    {kCvtLD, kAll, kQNaN64, 0, 0, 0x7fffffffffffffff, kNV},
    {kCvtLuS, kAll, 0x5f000000, 0, 0, 0x8000000000000000, 0},   // 2^63
    {kCvtLuS, kAll, 0x5f800000, 0, 0, 0xffffffffffffffff, kNV},  // 2^64
    {kCvtLuD, kAll, 0x43efffffffffffff, 0, 0, 0xfffffffffffff800, 0},
    {kCvtLuD, kAll, 0xfff0000000000000, 0, 0, 0, kNV},
    {kCvtLuD, kAll, kSNaN64, 0, 0, 0xffffffffffffffff, kNV},
    {kCvtLD, kRNE, 0x0000000000000001, 0, 0, 0, kNX},  // tiny
    {kCvtLD, kRTZ, 0x0000000000000001, 0, 0, 0, kNX},
    {kCvtLD, kRUP, 0x0000000000000001, 0, 0, 1, kNX},
    {kCvtLD, kRDN, 0x8000000000000001, 0, 0, 0xffffffffffffffff, kNX},

    // Integer to float: 2^24 + 1 is a tie in binary32.
    {kCvtSW, kRNE, 0x01000001, 0, 0, 0x4b800000, kNX},
    {kCvtSW, kRTZ, 0x01000001, 0, 0, 0x4b800000, kNX},
    {kCvtSW, kRDN, 0x01000001, 0, 0, 0x4b800000, kNX},
    {kCvtSW, kRUP, 0x01000001, 0, 0, 0x4b800001, kNX},
    {kCvtSW, kRMM, 0x01000001, 0, 0, 0x4b800001, kNX},
    {kCvtSW, kRDN, 0xfeffffff, 0, 0, 0xcb800001, kNX},  // -(2^24+1)
    {kCvtSW, kRUP, 0xfeffffff, 0, 0, 0xcb800000, kNX},
    {kCvtSW, kAll, 0x1234567800000001, 0, 0, 0x3f800000, 0},  // low 32 bits only
    {kCvtSW, kAll, 0x0, 0, 0, 0x00000000, 0},
    {kCvtSWu, kRNE, 0xffffffff, 0, 0, 0x4f800000, kNX},
    {kCvtSWu, kRTZ, 0xffffffff, 0, 0, 0x4f7fffff, kNX},
    {kCvtSWu, kAll, 0xffffffff00000003, 0, 0, 0x40400000, 0},
    {kCvtSL, kAll, 0x8000000000000000, 0, 0, 0xdf000000, 0},
    {kCvtSLu, kRNE, 0xffffffffffffffff, 0, 0, 0x5f800000, kNX},
    {kCvtSLu, kRDN, 0xffffffffffffffff, 0, 0, 0x5f7fffff, kNX},
    {kCvtDW, kAll, 0xffffffff, 0, 0, 0xbff0000000000000, 0},
    {kCvtDWu, kAll, 0xffffffff, 0, 0, 0x41efffffffe00000, 0},
    {kCvtDL, kRNE, 0x0020000000000001, 0, 0, 0x4340000000000000, kNX},  // 2^53+1
    {kCvtDL, kRMM, 0x0020000000000001, 0, 0, 0x4340000000000001, kNX},
    {kCvtDL, kRDN, 0xffdfffffffffffff, 0, 0, 0xc340000000000001, kNX},
    {kCvtDLu, kRNE, 0xffffffffffffffff, 0, 0, 0x43f0000000000000, kNX},
    {kCvtDLu, kRTZ, 0xffffffffffffffff, 0, 0, 0x43efffffffffffff, kNX},

    // Between formats.
    {kCvtDS, kAll, kSNaN32, 0, 0, kQNaN64, kNV},
    {kCvtDS, kAll, kNegQNaN32, 0, 0, kQNaN64, 0},
    {kCvtDS, kAll, 0x00000001, 0, 0, 0x36a0000000000000, 0},  // 2^-149
    {kCvtDS, kAll, 0x80000000, 0, 0, 0x8000000000000000, 0},
    {kCvtDS, kAll, 0xff800000, 0, 0, 0xfff0000000000000, 0},
    {kCvtSD, kAll, kSNaN64, 0, 0, kQNaN32, kNV},
    {kCvtSD, kRNE, 0x3ff0000010000000, 0, 0, 0x3f800000, kNX},  // 1 + 2^-24
    {kCvtSD, kRMM, 0x3ff0000010000000, 0, 0, 0x3f800001, kNX},
    {kCvtSD, kRNE, 0x7fefffffffffffff, 0, 0, 0x7f800000, kOFNX},
    {kCvtSD, kRTZ, 0x7fefffffffffffff, 0, 0, 0x7f7fffff, kOFNX},
    {kCvtSD, kRNE, 0x3690000000000000, 0, 0, 0x00000000, kUFNX},  // 2^-150
    {kCvtSD, kRMM, 0x3690000000000000, 0, 0, 0x00000001, kUFNX},
    // 2^-126 * (1 - 2^-25): rounding to 24 bits with an unbounded exponent
    // reaches 2^-126 in RNE/RUP/RMM (not tiny: NX only) but not in
    // RTZ/RDN (tiny: UF too).
    {kCvtSD, kRNE, 0x380ffffff0000000, 0, 0, 0x00800000, kNX},
    {kCvtSD, kRTZ, 0x380ffffff0000000, 0, 0, 0x007fffff, kUFNX},
    {kCvtSD, kRDN, 0x380ffffff0000000, 0, 0, 0x007fffff, kUFNX},
    {kCvtSD, kRUP, 0x380ffffff0000000, 0, 0, 0x00800000, kNX},
    {kCvtSD, kRMM, 0x380ffffff0000000, 0, 0, 0x00800000, kNX},
};

const Case kCompare[] = {
    {kEqS, kAll, kQNaN32, 0x3f800000, 0, 0, 0},
    {kEqS, kAll, kSNaN32, 0x3f800000, 0, 0, kNV},
    {kEqS, kAll, kQNaN32, kQNaN32, 0, 0, 0},
    {kEqS, kAll, 0x00000000, 0x80000000, 0, 1, 0},
    {kEqD, kAll, 0x3ff0000000000000, 0x3ff0000000000000, 0, 1, 0},
    {kEqD, kAll, 0x3ff0000000000000, kSNaN64, 0, 0, kNV},
    {kLtS, kAll, kQNaN32, 0x3f800000, 0, 0, kNV},
    {kLtS, kAll, 0x80000000, 0x00000000, 0, 0, 0},
    {kLtS, kAll, 0xbf800000, 0x3f800000, 0, 1, 0},
    {kLtS, kAll, 0xc0000000, 0xbf800000, 0, 1, 0},
    {kLtS, kAll, 0xbf800000, 0xc0000000, 0, 0, 0},
    {kLtS, kAll, 0x3f800000, 0x3f800000, 0, 0, 0},
    {kLtD, kAll, 0xfff0000000000000, 0x7ff0000000000000, 0, 1, 0},
    {kLtD, kAll, 0x0000000000000001, 0x0000000000000002, 0, 1, 0},
    {kLeS, kAll, 0x3f800000, kQNaN32, 0, 0, kNV},
    {kLeS, kAll, 0x80000000, 0x00000000, 0, 1, 0},
    {kLeS, kAll, 0x00000000, 0x80000000, 0, 1, 0},
    {kLeS, kAll, 0x3f800000, 0x3f800000, 0, 1, 0},
    {kLeD, kAll, 0x4000000000000000, 0x3ff0000000000000, 0, 0, 0},
    {kLeD, kAll, 0xc000000000000000, 0xbff0000000000000, 0, 1, 0},
    // min/max: -0 < +0; a quiet NaN loses silently, a signaling one with
    // NV; two NaNs give the canonical NaN.
    {kMinS, kAll, 0x00000000, 0x80000000, 0, 0x80000000, 0},
    {kMinS, kAll, 0x80000000, 0x00000000, 0, 0x80000000, 0},
    {kMaxS, kAll, 0x80000000, 0x00000000, 0, 0x00000000, 0},
    {kMaxS, kAll, 0x00000000, 0x80000000, 0, 0x00000000, 0},
    {kMinS, kAll, kQNaN32, 0x3f800000, 0, 0x3f800000, 0},
    {kMinS, kAll, 0x3f800000, kSNaN32, 0, 0x3f800000, kNV},
    {kMaxS, kAll, kNegQNaN32, 0xff800000, 0, 0xff800000, 0},
    {kMinS, kAll, kNegQNaN32, kQNaN32, 0, kQNaN32, 0},
    {kMaxS, kAll, kSNaN32, kQNaN32, 0, kQNaN32, kNV},
    {kMinS, kAll, 0x3f800000, 0x40000000, 0, 0x3f800000, 0},
    {kMaxS, kAll, 0xbf800000, 0xc0000000, 0, 0xbf800000, 0},
    {kMinD, kAll, 0x0000000000000000, 0x8000000000000000, 0, 0x8000000000000000, 0},
    {kMaxD, kAll, 0x8000000000000000, 0x0000000000000000, 0, 0x0000000000000000, 0},
    {kMinD, kAll, kSNaN64, 0xbff0000000000000, 0, 0xbff0000000000000, kNV},
    {kMaxD, kAll, kQNaN64, kSNaN64, 0, kQNaN64, kNV},
    {kMaxD, kAll, 0xfff0000000000000, 0x0000000000000001, 0, 0x0000000000000001, 0},
    // fclass, every class (spec Table 11.5).
    {kClassS, kAll, 0xff800000, 0, 0, 1 << 0, 0},
    {kClassS, kAll, 0xbf800000, 0, 0, 1 << 1, 0},
    {kClassS, kAll, 0x807fffff, 0, 0, 1 << 2, 0},
    {kClassS, kAll, 0x80000000, 0, 0, 1 << 3, 0},
    {kClassS, kAll, 0x00000000, 0, 0, 1 << 4, 0},
    {kClassS, kAll, 0x00000001, 0, 0, 1 << 5, 0},
    {kClassS, kAll, 0x00800000, 0, 0, 1 << 6, 0},
    {kClassS, kAll, 0x7f800000, 0, 0, 1 << 7, 0},
    {kClassS, kAll, kSNaN32, 0, 0, 1 << 8, 0},
    {kClassS, kAll, 0xffbfffff, 0, 0, 1 << 8, 0},
    {kClassS, kAll, kQNaN32, 0, 0, 1 << 9, 0},
    {kClassS, kAll, kNegQNaN32, 0, 0, 1 << 9, 0},
    {kClassD, kAll, 0xfff0000000000000, 0, 0, 1 << 0, 0},
    {kClassD, kAll, 0xffefffffffffffff, 0, 0, 1 << 1, 0},
    {kClassD, kAll, 0x8000000000000001, 0, 0, 1 << 2, 0},
    {kClassD, kAll, 0x8000000000000000, 0, 0, 1 << 3, 0},
    {kClassD, kAll, 0x0000000000000000, 0, 0, 1 << 4, 0},
    {kClassD, kAll, 0x000fffffffffffff, 0, 0, 1 << 5, 0},
    {kClassD, kAll, 0x3ff0000000000000, 0, 0, 1 << 6, 0},
    {kClassD, kAll, 0x7ff0000000000000, 0, 0, 1 << 7, 0},
    {kClassD, kAll, kSNaN64, 0, 0, 1 << 8, 0},
    {kClassD, kAll, kQNaN64, 0, 0, 1 << 9, 0},
};

// Runs each case through the public API and the software reference, with
// fflags starting empty and starting with NX (which enables the cheaper
// round-to-nearest paths), and checks that flags are only ever OR-ed in.
template <size_t N>
void run_cases(const Case (&cases)[N]) {
  for (const Case& t : cases) {
    for (unsigned rm = 0; rm < 5; ++rm) {
      if (t.rm != kAll && t.rm != rm) continue;
      Case c = t;
      c.rm = rm;
      for (bool soft : {false, true}) {
        for (uint32_t start : {0u, kNX, kNV | kDZ}) {
          uint32_t fl = start;
          uint64_t got = apply(c.op, rm, c.a, c.b, c.c, fl, soft);
          EXPECT_EQ(got, c.want) << describe(c) << (soft ? " soft" : "") << " start " << start;
          EXPECT_EQ(fl, c.flags | start) << describe(c) << (soft ? " soft" : "") << " start " << start;
        }
      }
    }
  }
}

TEST(FpuVectors, Arithmetic) { run_cases(kArith); }
TEST(FpuVectors, Conversions) { run_cases(kConvert); }
TEST(FpuVectors, CompareMinMaxClassify) { run_cases(kCompare); }

// The table format is shared with the QEMU cross-check; make sure the
// harness's numbering is what the tables assume.
TEST(FpuVectors, OpNumbering) {
  EXPECT_EQ(kCvtSD, 24u);
  EXPECT_EQ(kCvtDLu, 54u);
  EXPECT_FALSE(valid_op(25));
  EXPECT_TRUE(valid_op(kAddD));
}

}  // namespace
}  // namespace tandem::cpu::fpu::testing
