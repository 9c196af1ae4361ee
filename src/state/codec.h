// A small binary encoder/decoder for state sections (docs/snapshot-format.md,
// "Encoding"): little-endian integers, raw bytes, and vectors and strings
// prefixed by a u32 count.
//
// The decoder never reads past its buffer. A get that does not fit, or a
// value the caller refuses with fail(), makes it fail: the first error is
// kept ("uart.rx_fifo: truncated"), every later get returns zero/empty, and
// the caller checks status() once at the end instead of after every field.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace tandem::state {

template <typename T>
concept CodecInt = std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t> ||
                   std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>;

class Encoder {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  template <CodecInt T>
  void integer(T v) { put(v); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  // Raw bytes, no length: the reader must know how many.
  void bytes(const void* p, size_t n);
  void str(std::string_view s);
  // u32 count, then the elements.
  template <CodecInt T>
  void vec(std::span<const T> v) {
    u32(static_cast<uint32_t>(v.size()));
    for (T x : v) put(x);
  }
  template <CodecInt T>
  void vec(const std::vector<T>& v) { vec(std::span<const T>(v)); }
  template <CodecInt T, size_t N>
  void vec(const std::array<T, N>& v) { vec(std::span<const T>(v)); }

  size_t size() const { return buf_.size(); }
  const std::vector<uint8_t>& data() const { return buf_; }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  template <CodecInt T>
  void put(T v) {
    size_t at = buf_.size();
    buf_.resize(at + sizeof v);
    store_le<T>(buf_.data() + at, v);  // hosts are little-endian (base/bytes.h)
  }
  std::vector<uint8_t> buf_;
};

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  explicit Decoder(std::span<const uint8_t> data) : Decoder(data.data(), data.size()) {}

  uint8_t u8(std::string_view field) { return get<uint8_t>(field); }
  uint16_t u16(std::string_view field) { return get<uint16_t>(field); }
  uint32_t u32(std::string_view field) { return get<uint32_t>(field); }
  uint64_t u64(std::string_view field) { return get<uint64_t>(field); }
  template <CodecInt T>
  T integer(std::string_view field) { return get<T>(field); }
  // A u8 that must be 0 or 1.
  bool boolean(std::string_view field);
  // Exactly `n` raw bytes into dst (zeroed when they are not there).
  void bytes(std::string_view field, void* dst, size_t n);
  // A view of the next `n` bytes (empty when they are not there).
  std::span<const uint8_t> view(std::string_view field, size_t n);
  std::string str(std::string_view field);

  // A count-prefixed vector. The count is checked against the bytes left
  // before anything is allocated, so a corrupt count cannot exhaust memory.
  template <CodecInt T>
  std::vector<T> vec(std::string_view field) {
    uint32_t n = u32(field);
    std::vector<T> out;
    if (!fits(field, uint64_t{n} * sizeof(T))) return out;
    out.resize(n);
    for (auto& x : out) x = get<T>(field);
    return out;
  }
  // A count-prefixed vector into a fixed-size array: the count must match
  // (it changes only with a new section version).
  template <CodecInt T>
  void array(std::string_view field, std::span<T> out) {
    uint32_t n = u32(field);
    if (ok() && n != out.size()) {
      fail(field, "has " + std::to_string(n) + " entries, expected " + std::to_string(out.size()));
    }
    for (auto& x : out) x = get<T>(field);
  }

  // A section's u32 version, which must be in [1, supported]; returns it
  // so that a decoder can read older layouts.
  uint32_t version(std::string_view field, uint32_t supported);

  // Records a failure (only the first one is kept) as
  // "<scope>.<field>: <why>".
  void fail(std::string_view field, std::string_view why);

  // Names the component being decoded in errors while it lives:
  //   Decoder::Scope scope(d, "uart");  ...  d.u8("ier")  -> "uart.ier: truncated"
  class Scope {
   public:
    Scope(Decoder& d, std::string_view name) : d_(d), saved_(d.scope_) { d.scope_ = name; }
    ~Scope() { d_.scope_ = saved_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Decoder& d_;
    std::string_view saved_;
  };
  bool ok() const { return error_.empty(); }
  Status status() const;
  // status(), and every byte consumed.
  Status finish() const;

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }

 private:
  bool fits(std::string_view field, uint64_t n);
  template <CodecInt T>
  T get(std::string_view field) {
    if (!fits(field, sizeof(T))) return 0;
    T v = load_le<T>(p_);
    p_ += sizeof(T);
    return v;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  std::string_view scope_;  // must outlive the Scope that set it (string literals do)
  std::string error_;
};

}  // namespace tandem::state
