// The public API (host FPU paths on x86-64) against the software reference
// on many generated operands, in every rounding mode the host handles, with
// fflags starting empty and with NX already set (the cheaper RNE path). On
// other hosts both sides are the software and this degenerates to a smoke
// test. Deterministic: a fixed seed.
#include <gtest/gtest.h>

#include <random>

#include "fpu_test_ops.h"

namespace tandem::cpu::fpu::testing {
namespace {

// Operands that hit the edges far more often than uniform bits would:
// zeros, subnormals, infinities, NaNs, the extremes of the exponent range,
// the integer conversion range, and fractions with long runs of 0s or 1s
// (ties, carries).
class Operands {
 public:
  explicit Operands(uint64_t seed) : rng_(seed) {}

  uint64_t f32() { return make(8, 23); }
  uint64_t f64() { return make(11, 52); }
  uint64_t integer() {
    switch (rng_() % 6) {
      case 0: return rng_() & 0xffffffff;
      case 1: return uint64_t(int64_t(int32_t(rng_())));
      case 2: return rng_() >> (rng_() % 64);
      case 3: return 0 - (rng_() >> (rng_() % 64));
      case 4: return (uint64_t{1} << (rng_() % 64)) + rng_() % 5 - 2;
      default: return rng_();
    }
  }
  bool coin() { return rng_() & 1; }
  uint64_t below(uint64_t n) { return rng_() % n; }

 private:
  uint64_t make(int exp_bits, int frac_bits) {
    const uint64_t frac_mask = (uint64_t{1} << frac_bits) - 1;
    const uint64_t exp_max = (uint64_t{1} << exp_bits) - 1, bias = exp_max / 2;
    uint64_t e;
    switch (rng_() % 12) {
      case 0: e = 0; break;
      case 1: e = exp_max; break;
      case 2: e = 1 + rng_() % 3; break;
      case 3: e = exp_max - 1 - rng_() % 3; break;
      case 4: e = bias + rng_() % 66; break;
      case 5: e = bias - 2 + rng_() % 5; break;
      default: e = rng_() % exp_max; break;
    }
    uint64_t f;
    switch (rng_() % 8) {
      case 0: f = 0; break;
      case 1: f = frac_mask; break;
      case 2: f = uint64_t{1} << (rng_() % frac_bits); break;
      case 3: f = frac_mask ^ (uint64_t{1} << (rng_() % frac_bits)); break;
      case 4: f = rng_() & frac_mask & ~((uint64_t{1} << (rng_() % frac_bits)) - 1); break;
      case 5: f = rng_() & ((uint64_t{1} << (rng_() % frac_bits + 1)) - 1); break;
      default: f = rng_() & frac_mask; break;
    }
    return (uint64_t(rng_() & 1) << (exp_bits + frac_bits)) | (e << frac_bits) | f;
  }

  std::mt19937_64 rng_;
};

bool is_double_op(uint32_t op) { return op >= kAddD; }
bool takes_integer(uint32_t op) {
  return (op >= kCvtSW && op <= kCvtSLu) || (op >= kCvtDW && op <= kCvtDLu);
}
bool is_fma(uint32_t op) {
  return (op >= kMaddS && op <= kNmaddS) || (op >= kMaddD && op <= kNmaddD);
}

void check_op(uint32_t op, int count, uint64_t seed) {
  Operands gen(seed);
  int failures = 0;
  for (int i = 0; i < count && failures < 10; ++i) {
    uint64_t v[3];
    for (uint64_t& x : v) {
      if (takes_integer(op)) x = gen.integer();
      else if (op == kCvtSD) x = gen.f64();
      else x = is_double_op(op) ? gen.f64() : gen.f32();
    }
    // Near-cancellation: b close to -a for add/sub, c close to -(a*b) for
    // the fused ops.
    if (gen.below(3) == 0 && (op == kAddS || op == kSubS || op == kAddD || op == kSubD)) {
      v[1] = (v[0] ^ (gen.coin() ? (is_double_op(op) ? 1ull << 63 : 1ull << 31) : 0)) + gen.below(7) - 3;
    } else if (gen.below(3) == 0 && is_fma(op)) {
      uint32_t fl = 0;
      uint64_t p = is_double_op(op) ? soft::f64_mul(v[0], v[1], kRNE, fl)
                                    : soft::f32_mul(uint32_t(v[0]), uint32_t(v[1]), kRNE, fl);
      v[2] = (p ^ (gen.coin() ? (is_double_op(op) ? 1ull << 63 : 1ull << 31) : 0)) + gen.below(7) - 3;
    }
    if (!is_double_op(op) && !takes_integer(op) && op != kCvtSD) {
      for (uint64_t& x : v) x &= 0xffffffff;
    }
    for (unsigned rm = kRNE; rm <= kRUP; ++rm) {
      for (uint32_t start : {0u, kNX}) {
        uint32_t want_fl = start, got_fl = start;
        uint64_t want = apply(op, rm, v[0], v[1], v[2], want_fl, true);
        uint64_t got = apply(op, rm, v[0], v[1], v[2], got_fl, false);
        if (want != got || want_fl != got_fl) {
          ++failures;
          ADD_FAILURE() << describe({Op(op), rm, v[0], v[1], v[2], 0, 0}) << " start " << start
                        << ": soft " << std::hex << want << "/" << want_fl << " public " << got
                        << "/" << got_fl;
        }
      }
    }
  }
}

constexpr int kPerOp = 40000;

TEST(FpuDifferential, Binary32Arithmetic) {
  for (uint32_t op : {kAddS, kSubS, kMulS, kDivS, kSqrtS, kMaddS, kMsubS, kNmsubS, kNmaddS}) {
    check_op(op, kPerOp, 1000 + op);
  }
}

TEST(FpuDifferential, Binary64Arithmetic) {
  for (uint32_t op : {kAddD, kSubD, kMulD, kDivD, kSqrtD, kMaddD, kMsubD, kNmsubD, kNmaddD}) {
    check_op(op, kPerOp, 1000 + op);
  }
}

TEST(FpuDifferential, Conversions) {
  for (uint32_t op : {kCvtSW, kCvtSWu, kCvtSL, kCvtSLu, kCvtDS, kCvtSD, kCvtDW, kCvtDWu, kCvtDL,
                      kCvtDLu}) {
    check_op(op, kPerOp, 1000 + op);
  }
}

// A plain sum in the cheaper RNE path must still notice every edge that
// needs a flag: results at the smallest normal (possible UF), subnormal or
// zero results, overflow.
TEST(FpuDifferential, FastPathEdges) {
  struct Edge {
    uint32_t op;
    uint64_t a, b;
  } edges[] = {
      {kMulS, 0x3f7fffff, 0x00800000},                  // rounds to min normal, tiny
      {kMulS, 0x3f800001, 0x00800000},                  // just above min normal
      {kMulD, 0x3fefffffffffffff, 0x0010000000000000},  // binary64 twin
      {kDivD, 0x0010000000000000, 0x3ff0000000000001},
      {kDivS, 0x00ffffff, 0x40000000},
      {kMulS, 0x7f7fffff, 0x3f800001},  // overflow
      {kAddD, 0x7fefffffffffffff, 0x7ca0000000000000},
      {kMulS, 0x00000001, 0x3f000000},  // to zero
      {kSubS, 0x3f800000, 0x3f800000},  // exact zero
  };
  for (const Edge& e : edges) {
    uint32_t want_fl = kNX, got_fl = kNX;
    uint64_t want = apply(e.op, kRNE, e.a, e.b, 0, want_fl, true);
    uint64_t got = apply(e.op, kRNE, e.a, e.b, 0, got_fl, false);
    EXPECT_EQ(got, want) << describe({Op(e.op), kRNE, e.a, e.b, 0, 0, 0});
    EXPECT_EQ(got_fl, want_fl) << describe({Op(e.op), kRNE, e.a, e.b, 0, 0, 0});
  }
}

}  // namespace
}  // namespace tandem::cpu::fpu::testing
