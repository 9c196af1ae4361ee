// Comparisons, min/max and fclass: pure bit logic on the encodings, the
// same on every host, so there is only this one implementation.
#include <cstdint>

#include "cpu/fpu.h"

namespace tandem::cpu::fpu {
namespace {

template <typename T>
struct Enc {
  static constexpr int kFracBits = sizeof(T) == 4 ? 23 : 52;
  static constexpr T kSign = T(1) << (sizeof(T) * 8 - 1);
  static constexpr T kInf = (kSign - 1) >> kFracBits << kFracBits;
  static constexpr T kQuiet = T(1) << (kFracBits - 1);
  static constexpr T kNaN = kInf | kQuiet;

  static bool is_nan(T x) { return (x & ~kSign) > kInf; }
  static bool is_snan(T x) { return is_nan(x) && !(x & kQuiet); }
};

// a < b as numbers, both non-NaN; with total_zero, -0 < +0.
template <typename T>
bool less(T a, T b, bool total_zero) {
  using E = Enc<T>;
  bool sa = a & E::kSign, sb = b & E::kSign;
  if (sa != sb) {
    // Opposite signs: a < b iff a is the negative one, unless both are 0.
    return sa && (total_zero || ((a | b) & ~E::kSign) != 0);
  }
  // Same sign: sign-magnitude encodings order like their magnitudes.
  return sa ? a > b : a < b;
}

template <typename T>
bool eq(T a, T b, uint32_t& flags) {
  using E = Enc<T>;
  if (E::is_nan(a) || E::is_nan(b)) {
    if (E::is_snan(a) || E::is_snan(b)) flags |= kNV;
    return false;
  }
  return a == b || ((a | b) & ~E::kSign) == 0;
}

template <typename T>
bool lt(T a, T b, uint32_t& flags) {
  if (Enc<T>::is_nan(a) || Enc<T>::is_nan(b)) {
    flags |= kNV;
    return false;
  }
  return less(a, b, false);
}

template <typename T>
bool le(T a, T b, uint32_t& flags) {
  if (Enc<T>::is_nan(a) || Enc<T>::is_nan(b)) {
    flags |= kNV;
    return false;
  }
  return !less(b, a, false);
}

// IEEE 754-2019 minimumNumber/maximumNumber (spec 11.6).
template <typename T>
T minmax(T a, T b, bool want_max, uint32_t& flags) {
  using E = Enc<T>;
  bool na = E::is_nan(a), nb = E::is_nan(b);
  if (na || nb) {
    if (E::is_snan(a) || E::is_snan(b)) flags |= kNV;
    if (na && nb) return E::kNaN;
    return na ? b : a;
  }
  return less(a, b, true) != want_max ? a : b;
}

// fclass (spec 11.9, Table 11.5): one bit set.
template <typename T>
uint64_t classify(T a) {
  using E = Enc<T>;
  bool neg = a & E::kSign;
  T mag = a & ~E::kSign;
  if (mag == E::kInf) return neg ? 1u << 0 : 1u << 7;
  if (mag > E::kInf) return (a & E::kQuiet) ? 1u << 9 : 1u << 8;
  if (mag == 0) return neg ? 1u << 3 : 1u << 4;
  if ((mag >> E::kFracBits) == 0) return neg ? 1u << 2 : 1u << 5;  // subnormal
  return neg ? 1u << 1 : 1u << 6;
}

}  // namespace

uint32_t f32_min(uint32_t a, uint32_t b, uint32_t& flags) { return minmax(a, b, false, flags); }
uint32_t f32_max(uint32_t a, uint32_t b, uint32_t& flags) { return minmax(a, b, true, flags); }
bool f32_eq(uint32_t a, uint32_t b, uint32_t& flags) { return eq(a, b, flags); }
bool f32_lt(uint32_t a, uint32_t b, uint32_t& flags) { return lt(a, b, flags); }
bool f32_le(uint32_t a, uint32_t b, uint32_t& flags) { return le(a, b, flags); }
uint64_t f32_classify(uint32_t a) { return classify(a); }

uint64_t f64_min(uint64_t a, uint64_t b, uint32_t& flags) { return minmax(a, b, false, flags); }
uint64_t f64_max(uint64_t a, uint64_t b, uint32_t& flags) { return minmax(a, b, true, flags); }
bool f64_eq(uint64_t a, uint64_t b, uint32_t& flags) { return eq(a, b, flags); }
bool f64_lt(uint64_t a, uint64_t b, uint32_t& flags) { return lt(a, b, flags); }
bool f64_le(uint64_t a, uint64_t b, uint32_t& flags) { return le(a, b, flags); }
uint64_t f64_classify(uint64_t a) { return classify(a); }

}  // namespace tandem::cpu::fpu
