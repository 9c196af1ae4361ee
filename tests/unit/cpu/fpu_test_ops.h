// Test support for the fpu_*_test.cc files: every F/D operation behind one
// table-friendly call, through the public API or the software reference.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "cpu/fpu.h"
#include "cpu/fpu_soft.h"

namespace tandem::cpu::fpu::testing {

// Numbered as in the QEMU oracle harness that produced the reference
// vectors: binary32 ops from 0, binary64 ops from 32.
enum Op : uint32_t {
  kAddS = 0, kSubS, kMulS, kDivS, kSqrtS, kMaddS, kMsubS, kNmsubS, kNmaddS, kMinS, kMaxS,
  kEqS, kLtS, kLeS, kClassS, kCvtWS, kCvtWuS, kCvtLS, kCvtLuS, kCvtSW, kCvtSWu, kCvtSL,
  kCvtSLu, kCvtDS, kCvtSD,
  kAddD = 32, kSubD, kMulD, kDivD, kSqrtD, kMaddD, kMsubD, kNmsubD, kNmaddD, kMinD, kMaxD,
  kEqD, kLtD, kLeD, kClassD, kCvtWD, kCvtWuD, kCvtLD, kCvtLuD, kCvtDW, kCvtDWu, kCvtDL,
  kCvtDLu,
};

struct Case {
  Op op;
  unsigned rm;
  uint64_t a, b, c;
  uint64_t want;  // binary32 results in the low 32 bits
  uint32_t flags;
};

inline bool valid_op(uint32_t op) { return op <= kCvtSD || (op >= kAddD && op <= kCvtDLu); }

// Runs `op`; soft selects the software reference where one exists (the
// compare/classify ops have a single implementation).
inline uint64_t apply(uint32_t op, unsigned rm, uint64_t a, uint64_t b, uint64_t c, uint32_t& fl,
                      bool soft = false) {
  namespace S = tandem::cpu::fpu::soft;
  const uint32_t x = uint32_t(a), y = uint32_t(b), z = uint32_t(c);
  switch (op) {
    case kAddS: return soft ? S::f32_add(x, y, rm, fl) : f32_add(x, y, rm, fl);
    case kSubS: return soft ? S::f32_sub(x, y, rm, fl) : f32_sub(x, y, rm, fl);
    case kMulS: return soft ? S::f32_mul(x, y, rm, fl) : f32_mul(x, y, rm, fl);
    case kDivS: return soft ? S::f32_div(x, y, rm, fl) : f32_div(x, y, rm, fl);
    case kSqrtS: return soft ? S::f32_sqrt(x, rm, fl) : f32_sqrt(x, rm, fl);
    case kMaddS: return soft ? S::f32_muladd(x, y, z, false, false, rm, fl) : f32_madd(x, y, z, rm, fl);
    case kMsubS: return soft ? S::f32_muladd(x, y, z, false, true, rm, fl) : f32_msub(x, y, z, rm, fl);
    case kNmsubS: return soft ? S::f32_muladd(x, y, z, true, false, rm, fl) : f32_nmsub(x, y, z, rm, fl);
    case kNmaddS: return soft ? S::f32_muladd(x, y, z, true, true, rm, fl) : f32_nmadd(x, y, z, rm, fl);
    case kMinS: return f32_min(x, y, fl);
    case kMaxS: return f32_max(x, y, fl);
    case kEqS: return f32_eq(x, y, fl);
    case kLtS: return f32_lt(x, y, fl);
    case kLeS: return f32_le(x, y, fl);
    case kClassS: return f32_classify(x);
    case kCvtWS: return soft ? S::f32_to_i32(x, rm, fl) : f32_to_i32(x, rm, fl);
    case kCvtWuS: return soft ? S::f32_to_u32(x, rm, fl) : f32_to_u32(x, rm, fl);
    case kCvtLS: return soft ? S::f32_to_i64(x, rm, fl) : f32_to_i64(x, rm, fl);
    case kCvtLuS: return soft ? S::f32_to_u64(x, rm, fl) : f32_to_u64(x, rm, fl);
    case kCvtSW: return soft ? S::i32_to_f32(a, rm, fl) : i32_to_f32(a, rm, fl);
    case kCvtSWu: return soft ? S::u32_to_f32(a, rm, fl) : u32_to_f32(a, rm, fl);
    case kCvtSL: return soft ? S::i64_to_f32(a, rm, fl) : i64_to_f32(a, rm, fl);
    case kCvtSLu: return soft ? S::u64_to_f32(a, rm, fl) : u64_to_f32(a, rm, fl);
    case kCvtDS: return soft ? S::f32_to_f64(x, fl) : f32_to_f64(x, fl);
    case kCvtSD: return soft ? S::f64_to_f32(a, rm, fl) : f64_to_f32(a, rm, fl);
    case kAddD: return soft ? S::f64_add(a, b, rm, fl) : f64_add(a, b, rm, fl);
    case kSubD: return soft ? S::f64_sub(a, b, rm, fl) : f64_sub(a, b, rm, fl);
    case kMulD: return soft ? S::f64_mul(a, b, rm, fl) : f64_mul(a, b, rm, fl);
    case kDivD: return soft ? S::f64_div(a, b, rm, fl) : f64_div(a, b, rm, fl);
    case kSqrtD: return soft ? S::f64_sqrt(a, rm, fl) : f64_sqrt(a, rm, fl);
    case kMaddD: return soft ? S::f64_muladd(a, b, c, false, false, rm, fl) : f64_madd(a, b, c, rm, fl);
    case kMsubD: return soft ? S::f64_muladd(a, b, c, false, true, rm, fl) : f64_msub(a, b, c, rm, fl);
    case kNmsubD: return soft ? S::f64_muladd(a, b, c, true, false, rm, fl) : f64_nmsub(a, b, c, rm, fl);
    case kNmaddD: return soft ? S::f64_muladd(a, b, c, true, true, rm, fl) : f64_nmadd(a, b, c, rm, fl);
    case kMinD: return f64_min(a, b, fl);
    case kMaxD: return f64_max(a, b, fl);
    case kEqD: return f64_eq(a, b, fl);
    case kLtD: return f64_lt(a, b, fl);
    case kLeD: return f64_le(a, b, fl);
    case kClassD: return f64_classify(a);
    case kCvtWD: return soft ? S::f64_to_i32(a, rm, fl) : f64_to_i32(a, rm, fl);
    case kCvtWuD: return soft ? S::f64_to_u32(a, rm, fl) : f64_to_u32(a, rm, fl);
    case kCvtLD: return soft ? S::f64_to_i64(a, rm, fl) : f64_to_i64(a, rm, fl);
    case kCvtLuD: return soft ? S::f64_to_u64(a, rm, fl) : f64_to_u64(a, rm, fl);
    case kCvtDW: return soft ? S::i32_to_f64(a, rm, fl) : i32_to_f64(a, rm, fl);
    case kCvtDWu: return soft ? S::u32_to_f64(a, rm, fl) : u32_to_f64(a, rm, fl);
    case kCvtDL: return soft ? S::i64_to_f64(a, rm, fl) : i64_to_f64(a, rm, fl);
    case kCvtDLu: return soft ? S::u64_to_f64(a, rm, fl) : u64_to_f64(a, rm, fl);
  }
  return ~uint64_t{0};
}

inline std::string describe(const Case& t) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "op %u rm %u a %#llx b %#llx c %#llx", unsigned(t.op), t.rm,
                (unsigned long long)t.a, (unsigned long long)t.b, (unsigned long long)t.c);
  return buf;
}

}  // namespace tandem::cpu::fpu::testing
