// Software binary32/binary64 arithmetic. Each operation forms its exact
// result, or a truncation of it whose last bit is "jammed" (OR-ed with
// every bit shifted out, so inexactness survives), in one common form and
// rounds exactly once in round_pack(). That single rounding place is what
// makes all five rounding modes and the flags right by construction:
// overflow per mode (IEEE 754-2008 7.4), tininess detected after rounding
// (RISC-V's choice, as in QEMU's SoftFloat), UF only when also inexact.
#include "cpu/fpu_soft.h"

#include <bit>
#include <cmath>
#include <utility>

#include "cpu/fpu.h"

namespace tandem::cpu::fpu::soft {
namespace {

using u128 = unsigned __int128;

template <typename T>
struct Layout;
template <>
struct Layout<uint32_t> {
  static constexpr int kExpBits = 8, kFracBits = 23;
};
template <>
struct Layout<uint64_t> {
  static constexpr int kExpBits = 11, kFracBits = 52;
};

// Field layout and class tests of one interchange format.
template <typename T>
struct Fmt {
  static constexpr int kFracBits = Layout<T>::kFracBits;
  static constexpr int kBias = (1 << (Layout<T>::kExpBits - 1)) - 1;
  static constexpr int kExpMax = (1 << Layout<T>::kExpBits) - 1;  // inf/NaN
  static constexpr int kPrecision = kFracBits + 1;
  // Bits below the last kept one when the leading bit sits at bit 62.
  static constexpr int kExtra = 62 - kFracBits;
  static constexpr T kSign = T(1) << (sizeof(T) * 8 - 1);
  static constexpr T kInf = T(kExpMax) << kFracBits;
  static constexpr T kQuiet = T(1) << (kFracBits - 1);
  static constexpr T kNaN = kInf | kQuiet;  // the canonical NaN (spec 11.3)
  static constexpr T kFracMask = (T(1) << kFracBits) - 1;

  static bool sign(T x) { return x & kSign; }
  static T abs(T x) { return x & ~kSign; }
  static bool is_nan(T x) { return abs(x) > kInf; }
  static bool is_snan(T x) { return is_nan(x) && !(x & kQuiet); }
  static bool is_inf(T x) { return abs(x) == kInf; }
  static bool is_zero(T x) { return abs(x) == 0; }
  static T zero(bool negative) { return negative ? kSign : 0; }
};

// A finite nonzero value sig * 2^(exp - 62) with bit 62 of sig set; bit 0
// may be a jammed (sticky) bit. Independent of the format, so converting
// between formats is unpack + round_pack.
struct Norm {
  bool sign;
  int exp;
  uint64_t sig;
};

template <typename T>
Norm unpack(T x) {
  using F = Fmt<T>;
  int e = int(F::abs(x) >> F::kFracBits);
  uint64_t frac = x & F::kFracMask;
  if (e != 0) {
    return {F::sign(x), e - F::kBias, (frac | (uint64_t{1} << F::kFracBits)) << F::kExtra};
  }
  int shift = std::countl_zero(frac) - 1;  // subnormal: normalize
  return {F::sign(x), 1 - F::kBias + F::kExtra - shift, frac << shift};
}

// An integer magnitude (nonzero) as a Norm.
Norm norm_u64(bool sign, uint64_t mag) {
  int lead = 63 - std::countl_zero(mag);
  if (lead == 63) return {sign, 63, (mag >> 1) | (mag & 1)};
  return {sign, lead, mag << (62 - lead)};
}

uint64_t jam64(uint64_t x, int n) {
  if (n == 0) return x;
  if (n >= 64) return x != 0;
  return (x >> n) | ((x << (64 - n)) != 0);
}

u128 jam128(u128 x, int n) {
  if (n == 0) return x;
  if (n >= 128) return x != 0;
  return (x >> n) | ((x << (128 - n)) != 0);
}

int clz128(u128 x) {
  uint64_t hi = uint64_t(x >> 64);
  return hi ? std::countl_zero(hi) : 64 + std::countl_zero(uint64_t(x));
}

// Whether dropping `rem` (the low `shift` bits, shift in 1..63) from a value
// whose kept part is `kept` rounds the magnitude up.
bool round_up(bool sign, uint64_t kept, uint64_t rem, int shift, unsigned rm) {
  uint64_t half = uint64_t{1} << (shift - 1);
  switch (rm) {
    case kRNE: return rem > half || (rem == half && (kept & 1));
    case kRTZ: return false;
    case kRDN: return rem != 0 && sign;
    case kRUP: return rem != 0 && !sign;
    default: return rem >= half;  // kRMM: ties away from zero
  }
}

// Overflow (IEEE 754 7.4): infinity or the largest finite value, by mode.
template <typename T>
T overflow(bool sign, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  flags |= kOF | kNX;
  bool to_inf = rm == kRNE || rm == kRMM || (rm == kRDN && sign) || (rm == kRUP && !sign);
  return F::zero(sign) | (to_inf ? F::kInf : F::kInf - 1);
}

// Rounds sig * 2^(exp - 62) (bit 62 of sig set) to format T.
template <typename T>
T round_pack(bool sign, int exp, uint64_t sig, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  int e = exp + F::kBias;  // the biased exponent, if normal
  if (e >= 1) {
    uint64_t kept = sig >> F::kExtra;
    uint64_t rem = sig & ((uint64_t{1} << F::kExtra) - 1);
    kept += round_up(sign, kept, rem, F::kExtra, rm);
    if (kept >> F::kPrecision) {  // rounded up into the next binade
      kept >>= 1;
      ++e;
    }
    if (e >= F::kExpMax) return overflow<T>(sign, rm, flags);
    if (rem) flags |= kNX;
    // kept carries the implicit bit, which adds the missing 1 to e - 1.
    return F::zero(sign) | ((T(e - 1) << F::kFracBits) + T(kept));
  }
  // Below the normal range. Tiny after rounding: rounding to full precision
  // with an unbounded exponent would still give less than 2^emin.
  bool tiny = true;
  if (e == 0) {
    uint64_t kept = sig >> F::kExtra;
    uint64_t rem = sig & ((uint64_t{1} << F::kExtra) - 1);
    tiny = ((kept + round_up(sign, kept, rem, F::kExtra, rm)) >> F::kPrecision) == 0;
  }
  int shift = F::kExtra + 1 - e;
  uint64_t kept = 0;
  uint64_t rem = 1;  // far below half an ulp, but not exact
  if (shift < 64) {
    kept = sig >> shift;
    rem = sig & ((uint64_t{1} << shift) - 1);
  } else {
    shift = 63;
  }
  kept += round_up(sign, kept, rem, shift, rm);
  if (rem) flags |= tiny ? kNX | kUF : kNX;
  // A carry into the exponent field yields the smallest normal number.
  return F::zero(sign) | T(kept);
}

template <typename T>
T nan_result(T a, T b, uint32_t& flags) {
  if (Fmt<T>::is_snan(a) || Fmt<T>::is_snan(b)) flags |= kNV;
  return Fmt<T>::kNaN;
}

template <typename T>
T add(T a, T b, bool negate_b, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  if (F::is_nan(a) || F::is_nan(b)) return nan_result(a, b, flags);
  if (negate_b) b ^= F::kSign;
  if (F::is_inf(a)) {
    if (F::is_inf(b) && F::sign(a) != F::sign(b)) {
      flags |= kNV;
      return F::kNaN;
    }
    return a;
  }
  if (F::is_inf(b)) return b;
  if (F::is_zero(b)) {
    // x + (-x) style exact zeros are +0, except -0 when rounding down
    // (IEEE 754 6.3).
    if (F::is_zero(a) && F::sign(a) != F::sign(b)) return F::zero(rm == kRDN);
    return a;
  }
  if (F::is_zero(a)) return b;
  Norm x = unpack(a), y = unpack(b);
  if (x.exp < y.exp || (x.exp == y.exp && x.sig < y.sig)) std::swap(x, y);
  y.sig = jam64(y.sig, x.exp - y.exp);
  if (x.sign == y.sign) {
    uint64_t sum = x.sig + y.sig;
    if (sum >> 63) {
      sum = (sum >> 1) | (sum & 1);
      ++x.exp;
    }
    return round_pack<T>(x.sign, x.exp, sum, rm, flags);
  }
  // With a jammed y the difference cancels at most one bit, so the sticky
  // bit stays far below the rounding position.
  uint64_t diff = x.sig - y.sig;
  if (diff == 0) return F::zero(rm == kRDN);
  int shift = std::countl_zero(diff) - 1;
  return round_pack<T>(x.sign, x.exp - shift, diff << shift, rm, flags);
}

// The 126-bit product p of two Norm significands (value p * 2^(exp - 124))
// reduced to a Norm.
template <typename T>
T round_product(bool sign, int exp, u128 p, unsigned rm, uint32_t& flags) {
  if (p >> 125) return round_pack<T>(sign, exp + 1, uint64_t(jam128(p, 63)), rm, flags);
  return round_pack<T>(sign, exp, uint64_t(jam128(p, 62)), rm, flags);
}

template <typename T>
T mul(T a, T b, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  if (F::is_nan(a) || F::is_nan(b)) return nan_result(a, b, flags);
  bool sign = F::sign(a) != F::sign(b);
  if (F::is_inf(a) || F::is_inf(b)) {
    if (F::is_zero(a) || F::is_zero(b)) {
      flags |= kNV;
      return F::kNaN;
    }
    return F::zero(sign) | F::kInf;
  }
  if (F::is_zero(a) || F::is_zero(b)) return F::zero(sign);
  Norm x = unpack(a), y = unpack(b);
  return round_product<T>(sign, x.exp + y.exp, u128(x.sig) * y.sig, rm, flags);
}

template <typename T>
T div(T a, T b, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  if (F::is_nan(a) || F::is_nan(b)) return nan_result(a, b, flags);
  bool sign = F::sign(a) != F::sign(b);
  if (F::is_inf(a)) {
    if (F::is_inf(b)) {
      flags |= kNV;
      return F::kNaN;
    }
    return F::zero(sign) | F::kInf;
  }
  if (F::is_inf(b)) return F::zero(sign);
  if (F::is_zero(b)) {
    if (F::is_zero(a)) {
      flags |= kNV;
      return F::kNaN;
    }
    flags |= kDZ;
    return F::zero(sign) | F::kInf;
  }
  if (F::is_zero(a)) return F::zero(sign);
  Norm x = unpack(a), y = unpack(b);
  // Scale so the quotient lands in [2^62, 2^63); the remainder is sticky.
  int exp = x.exp - y.exp;
  u128 n = u128(x.sig) << 62;
  if (x.sig < y.sig) {
    n <<= 1;
    --exp;
  }
  uint64_t q = uint64_t(n / y.sig);
  bool rest = uint64_t(n % y.sig) != 0;
  return round_pack<T>(sign, exp, q | rest, rm, flags);
}

// floor(sqrt(n)) for n < 2^128.
uint64_t isqrt128(u128 n) {
  // A double estimate (good to ~2^-52), one Newton step, then exact fixup.
  u128 r = u128(std::sqrt(double(n)));
  if (r == 0) r = 1;
  r = (r + n / r) / 2;
  while (r * r > n) --r;
  while ((r + 1) * (r + 1) <= n) ++r;
  return uint64_t(r);
}

template <typename T>
T sqrt(T a, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  if (F::is_nan(a)) return nan_result(a, a, flags);
  if (F::is_zero(a)) return a;  // sqrt(-0) = -0
  if (F::sign(a)) {
    flags |= kNV;
    return F::kNaN;
  }
  if (F::is_inf(a)) return a;
  Norm x = unpack(a);
  // Make the power of two even, then take the integer root of the scaled
  // significand; a nonzero remainder is sticky.
  if (x.exp & 1) {
    u128 n = u128(x.sig) << 63;
    uint64_t r = isqrt128(n);  // in [2^62, 2^63)
    bool rest = n != u128(r) * r;
    return round_pack<T>(false, (x.exp - 1) / 2, r | rest, rm, flags);
  }
  u128 n = u128(x.sig) << 64;
  uint64_t r = isqrt128(n);  // in [2^63, 2^63.5)
  bool rest = n != u128(r) * r;
  return round_pack<T>(false, x.exp / 2, (r >> 1) | (r & 1) | rest, rm, flags);
}

template <typename T>
T muladd(T a, T b, T c, bool negate_product, bool negate_c, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  bool inf_zero = (F::is_inf(a) && F::is_zero(b)) || (F::is_zero(a) && F::is_inf(b));
  if (F::is_nan(a) || F::is_nan(b) || F::is_nan(c)) {
    // RISC-V signals inf*0 even with a quiet NaN addend (spec 11.6).
    if (F::is_snan(a) || F::is_snan(b) || F::is_snan(c) || inf_zero) flags |= kNV;
    return F::kNaN;
  }
  if (inf_zero) {
    flags |= kNV;
    return F::kNaN;
  }
  bool sp = (F::sign(a) != F::sign(b)) != negate_product;
  if (negate_c) c ^= F::kSign;
  bool sc = F::sign(c);
  if (F::is_inf(a) || F::is_inf(b)) {
    if (F::is_inf(c) && sc != sp) {
      flags |= kNV;
      return F::kNaN;
    }
    return F::zero(sp) | F::kInf;
  }
  if (F::is_inf(c)) return c;
  if (F::is_zero(a) || F::is_zero(b)) {
    if (F::is_zero(c) && sp != sc) return F::zero(rm == kRDN);
    return F::is_zero(c) ? F::zero(sp) : c;
  }
  Norm x = unpack(a), y = unpack(b);
  u128 p = u128(x.sig) * y.sig;  // p * 2^(ep - 124), p < 2^126
  int ep = x.exp + y.exp;
  if (F::is_zero(c)) return round_product<T>(sp, ep, p, rm, flags);
  Norm z = unpack(c);
  u128 q = u128(z.sig) << 62;  // same scale as p
  // Align to the larger exponent. Bits are lost only when the shift exceeds
  // the operand's trailing zeros, and then the other operand dominates so
  // that cancellation is at most one bit: the jammed sum rounds like the
  // exact one.
  int e = ep;
  if (ep >= z.exp) {
    q = jam128(q, ep - z.exp);
  } else {
    p = jam128(p, z.exp - ep);
    e = z.exp;
  }
  u128 s;
  bool sign;
  if (sp == sc) {
    s = p + q;
    sign = sp;
  } else if (p != q) {
    s = p > q ? p - q : q - p;
    sign = p > q ? sp : sc;
  } else {
    return F::zero(rm == kRDN);
  }
  int lead = 127 - clz128(s);
  uint64_t sig = lead > 62 ? uint64_t(jam128(s, lead - 62)) : uint64_t(s) << (62 - lead);
  return round_pack<T>(sign, e - 124 + lead, sig, rm, flags);
}

// Float to integer (spec 11.7, Table 11.4), with QEMU's flag rules: an
// invalid result sets NV alone; a valid one sets NX when inexact. A
// negative value that rounds to 0 is valid for the unsigned forms.
template <typename T>
uint64_t to_int(T a, bool is_signed, int width, unsigned rm, uint32_t& flags) {
  using F = Fmt<T>;
  const uint64_t umax = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  const uint64_t smax = umax >> 1;
  auto finish = [&](uint64_t r) {
    return width == 64 ? r : uint64_t(int64_t(int32_t(uint32_t(r))));
  };
  auto invalid = [&](bool negative) {
    flags |= kNV;
    if (!negative) return finish(is_signed ? smax : umax);
    return finish(is_signed ? ~smax : 0);  // ~smax is -2^(width-1)
  };
  if (F::is_nan(a)) return invalid(false);
  if (F::is_inf(a)) return invalid(F::sign(a));
  if (F::is_zero(a)) return 0;
  Norm x = unpack(a);
  if (x.exp > 63) return invalid(x.sign);
  uint64_t mag, rem = 0;
  if (x.exp >= 62) {
    mag = x.sig << (x.exp - 62);
  } else {
    int shift = 62 - x.exp;
    uint64_t kept = 0;
    rem = 1;  // less than half, not exact
    if (shift < 64) {
      kept = x.sig >> shift;
      rem = x.sig & ((uint64_t{1} << shift) - 1);
    } else {
      shift = 63;
    }
    mag = kept + round_up(x.sign, kept, rem, shift, rm);
  }
  uint64_t limit = x.sign ? (is_signed ? smax + 1 : 0) : (is_signed ? smax : umax);
  if (mag > limit) return invalid(x.sign);
  if (rem) flags |= kNX;
  return finish(x.sign ? 0 - mag : mag);
}

template <typename T>
T from_int(bool sign, uint64_t mag, unsigned rm, uint32_t& flags) {
  if (mag == 0) return 0;
  Norm n = norm_u64(sign, mag);
  return round_pack<T>(n.sign, n.exp, n.sig, rm, flags);
}

// Widening or narrowing between formats; NaNs become canonical.
template <typename To, typename From>
To convert(From a, unsigned rm, uint32_t& flags) {
  using F = Fmt<From>;
  using G = Fmt<To>;
  if (F::is_nan(a)) {
    if (F::is_snan(a)) flags |= kNV;
    return G::kNaN;
  }
  if (F::is_inf(a)) return G::zero(F::sign(a)) | G::kInf;
  if (F::is_zero(a)) return G::zero(F::sign(a));
  Norm x = unpack(a);
  return round_pack<To>(x.sign, x.exp, x.sig, rm, flags);
}

// Sign and magnitude of the low 32 bits (the .w forms) or all 64 bits.
bool neg32(uint64_t v) { return int32_t(uint32_t(v)) < 0; }
uint64_t abs32(uint64_t v) {
  uint64_t x = uint64_t(int64_t(int32_t(uint32_t(v))));
  return neg32(v) ? 0 - x : x;
}
bool neg64(uint64_t v) { return int64_t(v) < 0; }
uint64_t abs64(uint64_t v) { return neg64(v) ? 0 - v : v; }

}  // namespace

uint32_t f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return add(a, b, false, rm, flags);
}
uint32_t f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return add(a, b, true, rm, flags);
}
uint32_t f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return mul(a, b, rm, flags);
}
uint32_t f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags) {
  return div(a, b, rm, flags);
}
uint32_t f32_sqrt(uint32_t a, unsigned rm, uint32_t& flags) { return sqrt(a, rm, flags); }
uint32_t f32_muladd(uint32_t a, uint32_t b, uint32_t c, bool negate_product, bool negate_c,
                    unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, negate_product, negate_c, rm, flags);
}
uint64_t f32_to_i32(uint32_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, true, 32, rm, flags);
}
uint64_t f32_to_u32(uint32_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, false, 32, rm, flags);
}
uint64_t f32_to_i64(uint32_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, true, 64, rm, flags);
}
uint64_t f32_to_u64(uint32_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, false, 64, rm, flags);
}
uint32_t i32_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint32_t>(neg32(v), abs32(v), rm, flags);
}
uint32_t u32_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint32_t>(false, uint32_t(v), rm, flags);
}
uint32_t i64_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint32_t>(neg64(v), abs64(v), rm, flags);
}
uint32_t u64_to_f32(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint32_t>(false, v, rm, flags);
}
uint64_t f32_to_f64(uint32_t a, uint32_t& flags) { return convert<uint64_t>(a, kRNE, flags); }
uint32_t f64_to_f32(uint64_t a, unsigned rm, uint32_t& flags) {
  return convert<uint32_t>(a, rm, flags);
}

uint64_t f64_add(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return add(a, b, false, rm, flags);
}
uint64_t f64_sub(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return add(a, b, true, rm, flags);
}
uint64_t f64_mul(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return mul(a, b, rm, flags);
}
uint64_t f64_div(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags) {
  return div(a, b, rm, flags);
}
uint64_t f64_sqrt(uint64_t a, unsigned rm, uint32_t& flags) { return sqrt(a, rm, flags); }
uint64_t f64_muladd(uint64_t a, uint64_t b, uint64_t c, bool negate_product, bool negate_c,
                    unsigned rm, uint32_t& flags) {
  return muladd(a, b, c, negate_product, negate_c, rm, flags);
}
uint64_t f64_to_i32(uint64_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, true, 32, rm, flags);
}
uint64_t f64_to_u32(uint64_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, false, 32, rm, flags);
}
uint64_t f64_to_i64(uint64_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, true, 64, rm, flags);
}
uint64_t f64_to_u64(uint64_t a, unsigned rm, uint32_t& flags) {
  return to_int(a, false, 64, rm, flags);
}
uint64_t i32_to_f64(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint64_t>(neg32(v), abs32(v), rm, flags);
}
uint64_t u32_to_f64(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint64_t>(false, uint32_t(v), rm, flags);
}
uint64_t i64_to_f64(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint64_t>(neg64(v), abs64(v), rm, flags);
}
uint64_t u64_to_f64(uint64_t v, unsigned rm, uint32_t& flags) {
  return from_int<uint64_t>(false, v, rm, flags);
}

}  // namespace tandem::cpu::fpu::soft
