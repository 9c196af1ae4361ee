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
// Reading MXCSR back is slow on some cores (about 6 ns here, more than the
// operation), so round-to-nearest, by far the common mode, avoids MXCSR:
// the plain instruction in the thread's default mode, and when the result
// is normal and above the smallest normal (so no flag but NX is possible;
// the smallest normal may carry UF under after-rounding tininess), NX comes
// from an error-free transformation, or needs no test when fflags already
// has NX. Anything near an edge (NaN, inf, zero, subnormal) falls back to
// the MXCSR path.
#include "cpu/fpu.h"

#include <bit>
#include <type_traits>

#include "cpu/fpu_soft.h"

// The plain-instruction paths rely on IEEE semantics of C++ float
// expressions (no reassociation, NaNs compare unequal).
#ifdef __FAST_MATH__
#error "src/cpu/fpu*.cc must not be built with -ffast-math"
#endif

namespace tandem::cpu::fpu {
namespace {

// Encoding constants of the format held in T (uint32_t or uint64_t).
template <typename T>
struct Enc {
  static constexpr int kFracBits = sizeof(T) == 4 ? 23 : 52;
  static constexpr T kSign = T(1) << (sizeof(T) * 8 - 1);
  static constexpr T kInf = (kSign - 1) >> kFracBits << kFracBits;
  static constexpr T kNaN = sizeof(T) == 4 ? T(kCanonicalNaN32) : T(kCanonicalNaN64);
  static constexpr T kMinNormal = T(1) << kFracBits;
  // 2^(emin + 2p): from here up, the FMA residuals of a product, quotient
  // or root are exactly representable, far from underflow (their unit is at
  // least 2^(emin+1)), so they tell exactness.
  static constexpr T kResidualMin = T(1 + 2 * (kFracBits + 1)) << kFracBits;
};

template <typename T>
T canon(T r) {
  return (r & ~Enc<T>::kSign) > Enc<T>::kInf ? Enc<T>::kNaN : r;
}
template <typename T>
bool finite(T x) {
  return (x & Enc<T>::kInf) != Enc<T>::kInf;
}
// Normal and above the smallest normal magnitude: a result that can carry
// no flag but NX. (The smallest normal itself may carry UF: tininess is
// judged after rounding.)
template <typename T>
bool plain_result(T r) {
  using E = Enc<T>;
  return (r & ~E::kSign) - (E::kMinNormal + 1) < E::kInf - (E::kMinNormal + 1);
}

enum class Bin { kAdd, kSub, kMul, kDiv };

template <typename T>
T soft_binop(Bin op, T a, T b, unsigned rm, uint32_t& flags) {
  if constexpr (sizeof(T) == 4) {
    switch (op) {
      case Bin::kAdd: return soft::f32_add(a, b, rm, flags);
      case Bin::kSub: return soft::f32_sub(a, b, rm, flags);
      case Bin::kMul: return soft::f32_mul(a, b, rm, flags);
      case Bin::kDiv: break;
    }
    return soft::f32_div(a, b, rm, flags);
  } else {
    switch (op) {
      case Bin::kAdd: return soft::f64_add(a, b, rm, flags);
      case Bin::kSub: return soft::f64_sub(a, b, rm, flags);
      case Bin::kMul: return soft::f64_mul(a, b, rm, flags);
      case Bin::kDiv: break;
    }
    return soft::f64_div(a, b, rm, flags);
  }
}

// TANDEM_FPU_SOFT_ONLY forces the portable path (used to test it on x86).
#if defined(__x86_64__) && !defined(TANDEM_FPU_SOFT_ONLY)

template <typename T>
using Host = std::conditional_t<sizeof(T) == 4, float, double>;

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

// One instruction under kMxcsr[rm], its flags OR-ed into `flags`; the
// caller's MXCSR is restored. Mode change, operation and flag read sit in
// one asm statement, so the compiler can neither fold the operation nor
// move it across the mode change.
#define TANDEM_SSE(insn, dst, src, rm, flags)                          \
  do {                                                                 \
    uint32_t saved_, out_;                                             \
    asm volatile("stmxcsr %[s]\n\tldmxcsr %[m]\n\t" insn               \
                 " %[y], %[x]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"         \
                 : [x] "+x"(dst), [s] "=m"(saved_), [o] "=m"(out_)     \
                 : [y] "x"(src), [m] "m"(kMxcsr[rm]));                 \
    flags |= kFlagMap.v[out_ & 63];                                    \
  } while (0)

// acc = x*y + acc, fused, under kMxcsr[rm].
#define TANDEM_FMA(insn, acc, x, y, rm, flags)                         \
  do {                                                                 \
    uint32_t saved_, out_;                                             \
    asm volatile("stmxcsr %[s]\n\tldmxcsr %[m]\n\t" insn               \
                 " %[b], %[a], %[c]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"   \
                 : [c] "+x"(acc), [s] "=m"(saved_), [o] "=m"(out_)     \
                 : [a] "x"(x), [b] "x"(y), [m] "m"(kMxcsr[rm]));       \
    flags |= kFlagMap.v[out_ & 63];                                    \
  } while (0)

template <typename F>
F sse_binop(Bin op, F x, F y, unsigned rm, uint32_t& flags) {
  constexpr bool s = sizeof(F) == 4;
  switch (op) {
    case Bin::kAdd:
      if (s) TANDEM_SSE("addss", x, y, rm, flags); else TANDEM_SSE("addsd", x, y, rm, flags);
      break;
    case Bin::kSub:
      if (s) TANDEM_SSE("subss", x, y, rm, flags); else TANDEM_SSE("subsd", x, y, rm, flags);
      break;
    case Bin::kMul:
      if (s) TANDEM_SSE("mulss", x, y, rm, flags); else TANDEM_SSE("mulsd", x, y, rm, flags);
      break;
    case Bin::kDiv:
      if (s) TANDEM_SSE("divss", x, y, rm, flags); else TANDEM_SSE("divsd", x, y, rm, flags);
      break;
  }
  return x;
}

// In the thread's (default) mode, no flags wanted.
template <typename F>
F fnma_plain(F x, F y, F acc) {  // -(x*y) + acc, fused
  if constexpr (sizeof(F) == 4) {
    asm("vfnmadd231ss %[b], %[a], %[c]" : [c] "+x"(acc) : [a] "x"(x), [b] "x"(y));
  } else {
    asm("vfnmadd231sd %[b], %[a], %[c]" : [c] "+x"(acc) : [a] "x"(x), [b] "x"(y));
  }
  return acc;
}
template <typename F>
F fma_plain(F x, F y, F acc) {  // x*y + acc, fused
  if constexpr (sizeof(F) == 4) {
    asm("vfmadd231ss %[b], %[a], %[c]" : [c] "+x"(acc) : [a] "x"(x), [b] "x"(y));
  } else {
    asm("vfmadd231sd %[b], %[a], %[c]" : [c] "+x"(acc) : [a] "x"(x), [b] "x"(y));
  }
  return acc;
}
template <typename F>
F sqrt_plain(F x) {
  F r = x;
  if constexpr (sizeof(F) == 4) {
    asm("sqrtss %[x], %[r]" : [r] "+x"(r) : [x] "x"(x));
  } else {
    asm("sqrtsd %[x], %[r]" : [r] "+x"(r) : [x] "x"(x));
  }
  return r;
}

// Whether r = RNE(x op y), a plain result, was inexact: 1 or 0, or -1 when
// that cannot be told cheaply. Error-free transformations: Knuth's 2Sum
// gives the exact rounding error of a sum in RNE (an overflowing
// intermediate shows as a non-finite error); FMA residuals are exact above
// kResidualMin.
template <typename F>
int inexact_rne(Bin op, F x, F y, F r) {
  using T = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
  switch (op) {
    case Bin::kSub:
      y = -y;
      [[fallthrough]];
    case Bin::kAdd: {
      F xr = r - y, yr = r - xr;
      F err = (x - xr) + (y - yr);
      if (!finite(std::bit_cast<T>(err))) return -1;
      return err != 0;
    }
    case Bin::kMul:
      if (!kHostFma || (std::bit_cast<T>(r) & ~Enc<T>::kSign) < Enc<T>::kResidualMin) return -1;
      return fma_plain(x, y, -r) != 0;
    case Bin::kDiv:
      if (!kHostFma || (std::bit_cast<T>(x) & ~Enc<T>::kSign) < Enc<T>::kResidualMin) return -1;
      return fnma_plain(r, y, x) != 0;
  }
  return -1;
}

template <typename T>
T binop(Bin op, T a, T b, unsigned rm, uint32_t& flags) {
  using F = Host<T>;
  F x = std::bit_cast<F>(a), y = std::bit_cast<F>(b);
  if (rm == kRNE) {
    F r = op == Bin::kAdd ? x + y : op == Bin::kSub ? x - y : op == Bin::kMul ? x * y : x / y;
    T bits = std::bit_cast<T>(r);
    if (plain_result(bits) && default_mode()) {
      if (flags & kNX) return bits;
      int inexact = inexact_rne(op, x, y, r);
      if (inexact >= 0) {
        if (inexact) flags |= kNX;
        return bits;
      }
    }
  }
  if (rm == kRMM) return soft_binop(op, a, b, rm, flags);
  return canon(std::bit_cast<T>(sse_binop(op, x, y, rm, flags)));
}

template <typename T>
T sqrt_op(T a, unsigned rm, uint32_t& flags) {
  using F = Host<T>;
  F x = std::bit_cast<F>(a);
  if (rm == kRNE) {
    F r = sqrt_plain(x);
    T bits = std::bit_cast<T>(r);
    if (plain_result(bits) && default_mode()) {
      if (flags & kNX) return bits;
      if (kHostFma && a >= Enc<T>::kResidualMin) {  // a is positive here
        if (fnma_plain(r, r, x) != 0) flags |= kNX;
        return bits;
      }
    }
  }
  F r = 0;
  if constexpr (sizeof(T) == 4) {
    if (rm == kRMM) return soft::f32_sqrt(a, rm, flags);
    TANDEM_SSE("sqrtss", r, x, rm, flags);
  } else {
    if (rm == kRMM) return soft::f64_sqrt(a, rm, flags);
    TANDEM_SSE("sqrtsd", r, x, rm, flags);
  }
  return canon(std::bit_cast<T>(r));
}

// Fused multiply-add with the product and/or c negated (spec 11.6). The
// host handles finite operands only: for them the negations are plain sign
// flips and no NaN can come out; RISC-V's inf*0+qNaN rule stays in software.
template <typename T>
T muladd(T a, T b, T c, bool neg_prod, bool neg_c, unsigned rm, uint32_t& flags) {
  using F = Host<T>;
  if (rm != kRMM && kHostFma && finite(a) && finite(b) && finite(c)) {
    F x = std::bit_cast<F>(neg_prod ? a ^ Enc<T>::kSign : a);
    F y = std::bit_cast<F>(b);
    F acc = std::bit_cast<F>(neg_c ? c ^ Enc<T>::kSign : c);
    if (rm == kRNE && (flags & kNX)) {
      T bits = std::bit_cast<T>(fma_plain(x, y, acc));
      if (plain_result(bits) && default_mode()) return bits;
    }
    if constexpr (sizeof(T) == 4) {
      TANDEM_FMA("vfmadd231ss", acc, x, y, rm, flags);
    } else {
      TANDEM_FMA("vfmadd231sd", acc, x, y, rm, flags);
    }
    return std::bit_cast<T>(acc);
  }
  if constexpr (sizeof(T) == 4) {
    return soft::f32_muladd(a, b, c, neg_prod, neg_c, rm, flags);
  } else {
    return soft::f64_muladd(a, b, c, neg_prod, neg_c, rm, flags);
  }
}

uint32_t narrow(uint64_t a, unsigned rm, uint32_t& flags) {
  double x = std::bit_cast<double>(a);
  if (rm == kRNE) {
    float r = float(x);
    uint32_t bits = std::bit_cast<uint32_t>(r);
    if (plain_result(bits) && default_mode()) {
      if (double(r) != x) flags |= kNX;
      return bits;
    }
  }
  if (rm == kRMM) return soft::f64_to_f32(a, rm, flags);
  float r = 0;
  TANDEM_SSE("cvtsd2ss", r, x, rm, flags);
  return canon(std::bit_cast<uint32_t>(r));
}

#else  // portable: everything in software

template <typename T>
T binop(Bin op, T a, T b, unsigned rm, uint32_t& flags) {
  return soft_binop(op, a, b, rm, flags);
}
template <typename T>
T sqrt_op(T a, unsigned rm, uint32_t& flags) {
  if constexpr (sizeof(T) == 4) {
    return soft::f32_sqrt(a, rm, flags);
  } else {
    return soft::f64_sqrt(a, rm, flags);
  }
}
template <typename T>
T muladd(T a, T b, T c, bool neg_prod, bool neg_c, unsigned rm, uint32_t& flags) {
  if constexpr (sizeof(T) == 4) {
    return soft::f32_muladd(a, b, c, neg_prod, neg_c, rm, flags);
  } else {
    return soft::f64_muladd(a, b, c, neg_prod, neg_c, rm, flags);
  }
}
uint32_t narrow(uint64_t a, unsigned rm, uint32_t& flags) { return soft::f64_to_f32(a, rm, flags); }
#endif

}  // namespace

uint32_t f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kAdd, a, b, rm, flags);
}
uint32_t f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kSub, a, b, rm, flags);
}
uint32_t f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kMul, a, b, rm, flags);
}
uint32_t f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kDiv, a, b, rm, flags);
}
uint32_t f32_sqrt(uint32_t a, unsigned rm, uint32_t& flags) { return sqrt_op(a, rm, flags); }
uint64_t f64_add(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kAdd, a, b, rm, flags);
}
uint64_t f64_sub(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kSub, a, b, rm, flags);
}
uint64_t f64_mul(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kMul, a, b, rm, flags);
}
uint64_t f64_div(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return binop(Bin::kDiv, a, b, rm, flags);
}
uint64_t f64_sqrt(uint64_t a, unsigned rm, uint32_t& flags) { return sqrt_op(a, rm, flags); }

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

uint32_t f64_to_f32(uint64_t a, unsigned rm, uint32_t& flags) { return narrow(a, rm, flags); }

uint64_t f32_to_f64(uint32_t a, uint32_t& flags) {
  // Widening is exact: only NaNs need care, and subnormals go to software
  // so that a host DAZ setting cannot touch them.
  if ((a & ~Enc<uint32_t>::kSign) > Enc<uint32_t>::kInf) {
    if (!(a & 0x00400000u)) flags |= kNV;
    return kCanonicalNaN64;
  }
  if ((a & 0x7f800000u) == 0) return soft::f32_to_f64(a, flags);
  return std::bit_cast<uint64_t>(double(std::bit_cast<float>(a)));
}

// Integer conversions: software (saturation and the flag rules of spec
// Table 11.4 differ from x86), except int -> float when exact.
uint64_t f32_to_i32(uint32_t a, unsigned rm, uint32_t& flags) {
  return soft::f32_to_i32(a, rm, flags);
}
uint64_t f32_to_u32(uint32_t a, unsigned rm, uint32_t& flags) {
  return soft::f32_to_u32(a, rm, flags);
}
uint64_t f32_to_i64(uint32_t a, unsigned rm, uint32_t& flags) {
  return soft::f32_to_i64(a, rm, flags);
}
uint64_t f32_to_u64(uint32_t a, unsigned rm, uint32_t& flags) {
  return soft::f32_to_u64(a, rm, flags);
}
uint64_t f64_to_i32(uint64_t a, unsigned rm, uint32_t& flags) {
  return soft::f64_to_i32(a, rm, flags);
}
uint64_t f64_to_u32(uint64_t a, unsigned rm, uint32_t& flags) {
  return soft::f64_to_u32(a, rm, flags);
}
uint64_t f64_to_i64(uint64_t a, unsigned rm, uint32_t& flags) {
  return soft::f64_to_i64(a, rm, flags);
}
uint64_t f64_to_u64(uint64_t a, unsigned rm, uint32_t& flags) {
  return soft::f64_to_u64(a, rm, flags);
}

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
