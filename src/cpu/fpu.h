// IEEE-754 binary32/binary64 arithmetic for the F and D extensions
// (unprivileged spec ch. 11-12), bit-exact with QEMU 7.2 (SoftFloat
// semantics): canonical NaN results, tininess detected after rounding,
// subnormals kept, flags accumulated into fflags.
//
// Operands are raw bit patterns; NaN-unboxing of singles is the caller's
// job. `rm` is an already resolved rounding mode (kRNE..kRMM, never DYN).
// `flags` is OR-ed into, never cleared. Pass the hart's fflags itself, not a
// zeroed temporary: once NX is set, round-to-nearest operations skip the
// inexactness test (for the fused ops that is what keeps them fast).
#pragma once

#include <cstdint>

namespace tandem::cpu::fpu {

// fflags bits (spec 11.2, Table 11.2).
constexpr uint32_t kNX = 1;   // inexact
constexpr uint32_t kUF = 2;   // underflow
constexpr uint32_t kOF = 4;   // overflow
constexpr uint32_t kDZ = 8;   // divide by zero
constexpr uint32_t kNV = 16;  // invalid operation

// Rounding modes (spec Table 11.1).
constexpr unsigned kRNE = 0;
constexpr unsigned kRTZ = 1;
constexpr unsigned kRDN = 2;
constexpr unsigned kRUP = 3;
constexpr unsigned kRMM = 4;

constexpr uint32_t kCanonicalNaN32 = 0x7fc00000u;
constexpr uint64_t kCanonicalNaN64 = 0x7ff8000000000000ull;

// ---- binary32 ----
uint32_t f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_sqrt(uint32_t a, unsigned rm, uint32_t& flags);
// Fused, one rounding: madd (a*b)+c, msub (a*b)-c, nmsub -(a*b)+c,
// nmadd -(a*b)-c.
uint32_t f32_madd(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags);
uint32_t f32_msub(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags);
uint32_t f32_nmsub(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags);
uint32_t f32_nmadd(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags);
// minimumNumber/maximumNumber (spec 11.6, v2.2+): -0 < +0, NV only for a
// signaling input, two NaNs give the canonical NaN.
uint32_t f32_min(uint32_t a, uint32_t b, uint32_t& flags);
uint32_t f32_max(uint32_t a, uint32_t b, uint32_t& flags);
// feq is quiet (NV only for sNaN); flt/fle signal on any NaN (spec 11.8).
bool f32_eq(uint32_t a, uint32_t b, uint32_t& flags);
bool f32_lt(uint32_t a, uint32_t b, uint32_t& flags);
bool f32_le(uint32_t a, uint32_t b, uint32_t& flags);
uint64_t f32_classify(uint32_t a);  // fclass mask (spec Table 11.5)
// The value for rd: 32-bit results sign-extended (also fcvt.wu.s); out of
// range and NaN saturate with NV (spec Table 11.4), else NX if inexact.
uint64_t f32_to_i32(uint32_t a, unsigned rm, uint32_t& flags);
uint64_t f32_to_u32(uint32_t a, unsigned rm, uint32_t& flags);
uint64_t f32_to_i64(uint32_t a, unsigned rm, uint32_t& flags);
uint64_t f32_to_u64(uint32_t a, unsigned rm, uint32_t& flags);
// The 32-bit forms use the low 32 bits of v.
uint32_t i32_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint32_t u32_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint32_t i64_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint32_t u64_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t f32_to_f64(uint32_t a, uint32_t& flags);
uint32_t f64_to_f32(uint64_t a, unsigned rm, uint32_t& flags);

// ---- binary64 ----
uint64_t f64_add(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_sub(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_mul(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_div(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_sqrt(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_madd(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags);
uint64_t f64_msub(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags);
uint64_t f64_nmsub(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags);
uint64_t f64_nmadd(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags);
uint64_t f64_min(uint64_t a, uint64_t b, uint32_t& flags);
uint64_t f64_max(uint64_t a, uint64_t b, uint32_t& flags);
bool f64_eq(uint64_t a, uint64_t b, uint32_t& flags);
bool f64_lt(uint64_t a, uint64_t b, uint32_t& flags);
bool f64_le(uint64_t a, uint64_t b, uint32_t& flags);
uint64_t f64_classify(uint64_t a);
uint64_t f64_to_i32(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_to_u32(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_to_i64(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_to_u64(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t i32_to_f64(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t u32_to_f64(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t i64_to_f64(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t u64_to_f64(uint64_t v, unsigned rm, uint32_t& flags);

}  // namespace tandem::cpu::fpu
