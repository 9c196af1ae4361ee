// The memory translated blocks live in (jit.cc): one host mapping per
// hart, filled from the start and emptied as a whole when full, after
// every Block::jit pointer into it was cleared.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::cpu {

class JitCode {
 public:
  // 16 MiB holds some 100,000 translated blocks of a typical size; a
  // Linux boot translates a few thousand.
  static constexpr size_t kSize = size_t{16} << 20;
  JitCode();
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  bool ok() const { return base_ != nullptr; }
  uint8_t* free_space() const { return base_ + used_; }
  size_t free_bytes() const { return kSize - used_; }
  void commit(size_t bytes) { used_ += bytes; }
  void clear() { used_ = 0; }

 private:
  uint8_t* base_ = nullptr;
  size_t used_ = 0;
};

}  // namespace tandem::cpu
