// One field list per component serves both directions: a component's
// serializer is written once as `template <typename Io, typename S> void
// fields(Io& io, S& s)` calling io("name", s.member) for every member, and
// instantiated with FieldWriter (encode) and FieldReader (decode), so that
// the two can never disagree on order or width. Private to src/state/.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "state/codec.h"

namespace tandem::state {

class FieldWriter {
 public:
  explicit FieldWriter(Encoder& e) : e_(e) {}
  static constexpr bool kReading = false;

  void version(uint32_t current) { e_.u32(current); }
  template <CodecInt T>
  void operator()(std::string_view, T v) { e_.integer(v); }
  void operator()(std::string_view, bool v) { e_.boolean(v); }
  template <CodecInt T>
  void operator()(std::string_view, const std::vector<T>& v) { e_.vec(v); }
  template <CodecInt T, size_t N>
  void operator()(std::string_view, const std::array<T, N>& v) { e_.vec(v); }
  template <CodecInt T, size_t N>
  void operator()(std::string_view, const T (&v)[N]) { e_.vec(std::span<const T>(v, N)); }
  // For vectors of structs: writes the count, returns it.
  size_t count(std::string_view, size_t n, size_t /*min_bytes*/ = 1) {
    e_.u32(static_cast<uint32_t>(n));
    return n;
  }

 private:
  Encoder& e_;
};

class FieldReader {
 public:
  explicit FieldReader(Decoder& d) : d_(d) {}
  static constexpr bool kReading = true;

  void version(uint32_t current) { version_ = d_.version("version", current); }
  uint32_t read_version() const { return version_; }
  template <CodecInt T>
  void operator()(std::string_view f, T& v) { v = d_.integer<T>(f); }
  void operator()(std::string_view f, bool& v) { v = d_.boolean(f); }
  template <CodecInt T>
  void operator()(std::string_view f, std::vector<T>& v) { v = d_.vec<T>(f); }
  template <CodecInt T, size_t N>
  void operator()(std::string_view f, std::array<T, N>& v) { d_.array(f, std::span<T>(v)); }
  template <CodecInt T, size_t N>
  void operator()(std::string_view f, T (&v)[N]) { d_.array(f, std::span<T>(v, N)); }
  // For vectors of structs: reads the count. Each element takes at least
  // `min_bytes`, so a count larger than the bytes left is refused here.
  size_t count(std::string_view f, size_t /*n*/, size_t min_bytes = 1) {
    uint32_t n = d_.u32(f);
    if (d_.ok() && uint64_t{n} * min_bytes > d_.remaining()) d_.fail(f, "truncated");
    return d_.ok() ? n : 0;
  }
  Decoder& decoder() { return d_; }

 private:
  Decoder& d_;
  uint32_t version_ = 0;
};

// Counts the members a field list visits (a vector of structs counts once,
// its elements not at all): tests compare it with the State's member count.
class FieldCounter {
 public:
  static constexpr bool kReading = false;
  void version(uint32_t) {}
  template <typename T>
  void operator()(std::string_view, const T&) { n++; }
  size_t count(std::string_view, size_t, size_t = 1) {
    n++;
    return 0;
  }
  size_t n = 0;
};

}  // namespace tandem::state
