#include "state/codec.h"

namespace tandem::state {

void Encoder::bytes(const void* p, size_t n) {
  if (n == 0) return;
  const auto* b = static_cast<const uint8_t*>(p);
  buf_.insert(buf_.end(), b, b + n);
}

void Encoder::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  bytes(s.data(), s.size());
}

bool Decoder::fits(std::string_view field, uint64_t n) {
  if (!ok()) return false;
  if (n > remaining()) {
    fail(field, "truncated");
    return false;
  }
  return true;
}

bool Decoder::boolean(std::string_view field) {
  uint8_t v = u8(field);
  if (v > 1) fail(field, "is " + std::to_string(v) + ", not a boolean");
  return v == 1;
}

void Decoder::bytes(std::string_view field, void* dst, size_t n) {
  if (n == 0) return;
  if (!fits(field, n)) {
    std::memset(dst, 0, n);
    return;
  }
  std::memcpy(dst, p_, n);
  p_ += n;
}

std::span<const uint8_t> Decoder::view(std::string_view field, size_t n) {
  if (!fits(field, n)) return {};
  std::span<const uint8_t> v(p_, n);
  p_ += n;
  return v;
}

std::string Decoder::str(std::string_view field) {
  uint32_t n = u32(field);
  auto v = view(field, n);
  return std::string(v.begin(), v.end());
}

uint32_t Decoder::version(std::string_view field, uint32_t supported) {
  uint32_t v = u32(field);
  if (ok() && (v == 0 || v > supported))
    fail(field, std::to_string(v) + " is not supported (this build reads up to " +
                    std::to_string(supported) + ")");
  return v;
}

void Decoder::fail(std::string_view field, std::string_view why) {
  if (!ok()) return;
  error_.clear();
  if (!scope_.empty()) error_.append(scope_).append(".");
  error_.append(field).append(": ").append(why);
}

Status Decoder::status() const {
  if (!ok()) return Error(error_);
  return Ok();
}

Status Decoder::finish() const {
  TANDEM_TRY(status());
  if (!at_end())
    return Error(std::to_string(remaining()) + " unexpected bytes after the last field");
  return Ok();
}

}  // namespace tandem::state
