// Public F/D arithmetic: picks, per call, the fastest path that is exact.
//
// Why this design: exactness first. fpu_soft.cc is a complete software
// implementation, correct for every rounding mode by construction and
// portable; it is the reference. On x86-64 the SSE unit computes the same
// IEEE-754 results for add/sub/mul/div/sqrt/fma/narrowing in RNE, RTZ, RDN
// and RUP, with the same flags (x86, like RISC-V, detects tininess after
// rounding and raises UF only when also inexact), so those run on the host
// with MXCSR set for the one instruction, inside one asm statement so that
// the compiler can neither fold nor move the operation across the mode
// change. Only NaN results need fixing (x86 returns its own default NaN;
// RISC-V wants the canonical one; the flags already agree). What the host
// cannot do goes to software: RMM, fused ops on NaN/inf operands (RISC-V
// signals inf*0+qNaN), integer conversions (saturation rules differ).
//
// The common case gets cheaper still: RNE with NX already set in fflags
// (nearly every FP-heavy program after its first inexact result). Then the
// only flag an op with a normal result could raise is already set, so the
// plain instruction in the host's default mode suffices; anything near the
// edges (NaN, inf, zero, subnormal, or the smallest normal, which may carry
// UF under after-rounding tininess) falls back to the exact paths.
#include "cpu/fpu.h"

#include <bit>

#include "cpu/fpu_soft.h"

namespace tandem::cpu::fpu {
namespace {

constexpr uint32_t kSign32 = 0x80000000u;
constexpr uint64_t kSign64 = 0x8000000000000000ull;

uint32_t canon(uint32_t r) { return (r & ~kSign32) > 0x7f800000u ? kCanonicalNaN32 : r; }
uint64_t canon(uint64_t r) { return (r & ~kSign64) > 0x7ff0000000000000ull ? kCanonicalNaN64 : r; }
bool finite(uint32_t x) { return (x & 0x7f800000u) != 0x7f800000u; }
bool finite(uint64_t x) { return (x & 0x7ff0000000000000ull) != 0x7ff0000000000000ull; }
// Normal and above the smallest normal magnitude: no flag but NX possible.
bool plain_result(uint32_t r) { return (r & ~kSign32) - 0x00800001u < 0x7f800000u - 0x00800001u; }
bool plain_result(uint64_t r) {
  return (r & ~kSign64) - 0x0010000000000001ull < 0x7ff0000000000000ull - 0x0010000000000001ull;
}

#if defined(__x86_64__)
#define TANDEM_FPU_X86 1

// MXCSR (Intel SDM vol. 1, 10.2.3): exceptions masked (bits 7-12), DAZ and
// FTZ off, flags clear, rounding control (bits 13-14) 00 nearest, 01 down,
// 10 up, 11 toward zero; indexed by RISC-V rm RNE, RTZ, RDN, RUP.
alignas(16) constexpr uint32_t kMxcsr[4] = {0x1f80, 0x7f80, 0x3f80, 0x5f80};
constexpr uint32_t kMxcsrControl = 0xffc0;

// MXCSR flags IE DE ZE OE UE PE (bits 0-5) to fflags; DE has no
// RISC-V counterpart.
constexpr uint8_t flag_map(unsigned m) {
  return uint8_t(((m & 1) ? kNV : 0) | ((m & 4) ? kDZ : 0) | ((m & 8) ? kOF : 0) |
                 ((m & 16) ? kUF : 0) | ((m & 32) ? kNX : 0));
}
constexpr auto kFlagMap = [] {
  struct Table {
    uint8_t v[64];
  } t{};
  for (unsigned i = 0; i < 64; ++i) t.v[i] = flag_map(i);
  return t;
}();

bool detect_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("fma");
}
const bool kHostFma = detect_fma();

// True when this thread's MXCSR is the default one (RNE, no DAZ/FTZ), so
// that plain instructions give IEEE results (a library built with
// -ffast-math can set FTZ/DAZ at startup). Reading MXCSR costs more than
// the operation on some cores, so each thread checks once: nothing in
// tandem changes MXCSR outside the asm statements below, which restore it.
thread_local int8_t t_default_mode = -1;

inline bool default_mode() {
  if (t_default_mode < 0) [[unlikely]] {
    uint32_t m;
    asm volatile("stmxcsr %0" : "=m"(m));
    t_default_mode = (m & kMxcsrControl) == kMxcsr[kRNE];
  }
  return t_default_mode;
}

// One instruction under kMxcsr[rm]; the caller's MXCSR is restored.
#define TANDEM_SSE(insn, dst, src, rm, flags)                                        \
  do {                                                                               \
    uint32_t saved_, out_;                                                           \
    asm volatile("stmxcsr %[s]\n\tldmxcsr %[m]\n\t" insn                             \
                 " %[y], %[x]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"                       \
                 : [x] "+x"(dst), [s] "=m"(saved_), [o] "=m"(out_)                   \
                 : [y] "x"(src), [m] "m"(kMxcsr[rm]));                               \
    flags |= kFlagMap.v[out_ & 63];                                                  \
  } while (0)

// acc = x*y + acc, fused, under kMxcsr[rm].
#define TANDEM_FMA(insn, acc, x, y, rm, flags)                                       \
  do {                                                                               \
    uint32_t saved_, out_;                                                           \
    asm volatile("stmxcsr %[s]\n\tldmxcsr %[m]\n\t" insn                             \
                 " %[b], %[a], %[c]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"                 \
                 : [c] "+x"(acc), [s] "=m"(saved_), [o] "=m"(out_)                   \
                 : [a] "x"(x), [b] "x"(y), [m] "m"(kMxcsr[rm]));                     \
    flags |= kFlagMap.v[out_ & 63];                                                  \
  } while (0)

// The binary ops: plain path, then host under rm, then software.
#define TANDEM_BINOP(name, T, F, insn)                                               \
  T name(T a, T b, unsigned rm, uint32_t& flags) {                                   \
    F x = std::bit_cast<F>(a), y = std::bit_cast<F>(b);                              \
    if (rm == kRNE && (flags & kNX)) {                                               \
      F r = x;                                                                       \
      asm(insn " %[y], %[x]" : [x] "+x"(r) : [y] "x"(y));                            \
      if (plain_result(std::bit_cast<T>(r)) && default_mode()) return std::bit_cast<T>(r); \
    }                                                                                \
    if (rm == kRMM) return soft::name(a, b, rm, flags);                              \
    TANDEM_SSE(insn, x, y, rm, flags);                                               \
    return canon(std::bit_cast<T>(x));                                               \
  }

#else
#define TANDEM_FPU_X86 0
#define TANDEM_BINOP(name, T, F, insn) \
  T name(T a, T b, unsigned rm, uint32_t& flags) { return soft::name(a, b, rm, flags); }
#endif

}  // namespace

TANDEM_BINOP(f32_add, uint32_t, float, "addss")
TANDEM_BINOP(f32_sub, uint32_t, float, "subss")
TANDEM_BINOP(f32_mul, uint32_t, float, "mulss")
TANDEM_BINOP(f32_div, uint32_t, float, "divss")
TANDEM_BINOP(f64_add, uint64_t, double, "addsd")
TANDEM_BINOP(f64_sub, uint64_t, double, "subsd")
TANDEM_BINOP(f64_mul, uint64_t, double, "mulsd")
TANDEM_BINOP(f64_div, uint64_t, double, "divsd")

uint32_t f32_sqrt(uint32_t a, unsigned rm, uint32_t& flags) {
#if TANDEM_FPU_X86
  if (rm != kRMM) {
    float x = std::bit_cast<float>(a), r = 0;
    TANDEM_SSE("sqrtss", r, x, rm, flags);
    return canon(std::bit_cast<uint32_t>(r));
  }
#endif
  return soft::f32_sqrt(a, rm, flags);
}

uint64_t f64_sqrt(uint64_t a, unsigned rm, uint32_t& flags) {
#if TANDEM_FPU_X86
  if (rm != kRMM) {
    double x = std::bit_cast<double>(a), r = 0;
    TANDEM_SSE("sqrtsd", r, x, rm, flags);
    return canon(std::bit_cast<uint64_t>(r));
  }
#endif
  return soft::f64_sqrt(a, rm, flags);
}

namespace {

// Fused multiply-add with the product and/or c negated (spec 11.6). The
// host handles finite operands only: for them the negations are plain sign
// flips and no NaN can come out.
uint32_t muladd(uint32_t a, uint32_t b, uint32_t c, bool neg_prod, bool neg_c, unsigned rm,
                uint32_t& flags) {
#if TANDEM_FPU_X86
  if (rm != kRMM && kHostFma && finite(a) && finite(b) && finite(c)) {
    float x = std::bit_cast<float>(neg_prod ? a ^ kSign32 : a);
    float y = std::bit_cast<float>(b);
    float acc = std::bit_cast<float>(neg_c ? c ^ kSign32 : c);
    TANDEM_FMA("vfmadd231ss", acc, x, y, rm, flags);
    return std::bit_cast<uint32_t>(acc);
  }
#endif
  return soft::f32_muladd(a, b, c, neg_prod, neg_c, rm, flags);
}

uint64_t muladd(uint64_t a, uint64_t b, uint64_t c, bool neg_prod, bool neg_c, unsigned rm,
                uint32_t& flags) {
#if TANDEM_FPU_X86
  if (rm != kRMM && kHostFma && finite(a) && finite(b) && finite(c)) {
    double x = std::bit_cast<double>(neg_prod ? a ^ kSign64 : a);
    double y = std::bit_cast<double>(b);
    double acc = std::bit_cast<double>(neg_c ? c ^ kSign64 : c);
    TANDEM_FMA("vfmadd231sd", acc, x, y, rm, flags);
    return std::bit_cast<uint64_t>(acc);
  }
#endif
  return soft::f64_muladd(a, b, c, neg_prod, neg_c, rm, flags);
}

}  // namespace

uint32_t f32_madd(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, false, false, rm, flags);
}
uint32_t f32_msub(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, false, true, rm, flags);
}
uint32_t f32_nmsub(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, true, false, rm, flags);
}
uint32_t f32_nmadd(uint32_t a, uint32_t b, uint32_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, true, true, rm, flags);
}
uint64_t f64_madd(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, false, false, rm, flags);
}
uint64_t f64_msub(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, false, true, rm, flags);
}
uint64_t f64_nmsub(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, true, false, rm, flags);
}
uint64_t f64_nmadd(uint64_t a, uint64_t b, uint64_t c, unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, true, true, rm, flags);
}

uint64_t f32_to_f64(uint32_t a, uint32_t& flags) {
  // Widening is exact: only NaNs need care, and subnormals go to software
  // so that a host DAZ setting cannot touch them.
  if ((a & ~kSign32) > 0x7f800000u) {
    if (!(a & 0x00400000u)) flags |= kNV;
    return kCanonicalNaN64;
  }
  if ((a & 0x7f800000u) == 0) return soft::f32_to_f64(a, flags);
  return std::bit_cast<uint64_t>(double(std::bit_cast<float>(a)));
}

uint32_t f64_to_f32(uint64_t a, unsigned rm, uint32_t& flags) {
#if TANDEM_FPU_X86
  if (rm != kRMM) {
    double x = std::bit_cast<double>(a);
    float r = 0;
    TANDEM_SSE("cvtsd2ss", r, x, rm, flags);
    return canon(std::bit_cast<uint32_t>(r));
  }
#endif
  return soft::f64_to_f32(a, rm, flags);
}

// Integer conversions: software (saturation and the flag rules of spec
// Table 11.4 differ from x86), except int -> float when exact.
uint64_t f32_to_i32(uint32_t a, unsigned rm, uint32_t& flags) { return soft::f32_to_i32(a, rm, flags); }
uint64_t f32_to_u32(uint32_t a, unsigned rm, uint32_t& flags) { return soft::f32_to_u32(a, rm, flags); }
uint64_t f32_to_i64(uint32_t a, unsigned rm, uint32_t& flags) { return soft::f32_to_i64(a, rm, flags); }
uint64_t f32_to_u64(uint32_t a, unsigned rm, uint32_t& flags) { return soft::f32_to_u64(a, rm, flags); }
uint64_t f64_to_i32(uint64_t a, unsigned rm, uint32_t& flags) { return soft::f64_to_i32(a, rm, flags); }
uint64_t f64_to_u32(uint64_t a, unsigned rm, uint32_t& flags) { return soft::f64_to_u32(a, rm, flags); }
uint64_t f64_to_i64(uint64_t a, unsigned rm, uint32_t& flags) { return soft::f64_to_i64(a, rm, flags); }
uint64_t f64_to_u64(uint64_t a, unsigned rm, uint32_t& flags) { return soft::f64_to_u64(a, rm, flags); }

uint32_t i32_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  int32_t x = int32_t(uint32_t(v));
  if (x >= -(1 << 24) && x <= (1 << 24)) return std::bit_cast<uint32_t>(float(x));
  return soft::i32_to_f32(v, rm, flags);
}
uint32_t u32_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  uint32_t x = uint32_t(v);
  if (x <= (1u << 24)) return std::bit_cast<uint32_t>(float(x));
  return soft::u32_to_f32(v, rm, flags);
}
uint32_t i64_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  int64_t x = int64_t(v);
  if (x >= -(1 << 24) && x <= (1 << 24)) return std::bit_cast<uint32_t>(float(x));
  return soft::i64_to_f32(v, rm, flags);
}
uint32_t u64_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  if (v <= (1u << 24)) return std::bit_cast<uint32_t>(float(v));
  return soft::u64_to_f32(v, rm, flags);
}
uint64_t i32_to_f64(uint64_t v, unsigned, uint32_t&) {
  return std::bit_cast<uint64_t>(double(int32_t(uint32_t(v))));  // always exact
}
uint64_t u32_to_f64(uint64_t v, unsigned, uint32_t&) {
  return std::bit_cast<uint64_t>(double(uint32_t(v)));  // always exact
}
uint64_t i64_to_f64(uint64_t v, unsigned rm, uint32_t& flags) {
  int64_t x = int64_t(v);
  if (x >= -(int64_t{1} << 53) && x <= (int64_t{1} << 53)) return std::bit_cast<uint64_t>(double(x));
  return soft::i64_to_f64(v, rm, flags);
}
uint64_t u64_to_f64(uint64_t v, unsigned rm, uint32_t& flags) {
  if (v <= (uint64_t{1} << 53)) return std::bit_cast<uint64_t>(double(v));
  return soft::u64_to_f64(v, rm, flags);
}

}  // namespace tandem::cpu::fpu
