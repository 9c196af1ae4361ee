// The memory translated blocks live in (jit.cc): one host mapping per
// hart, filled from the start and emptied as a whole when full, after
// every Block::jit pointer into it was cleared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace tandem::cpu {

class JitCode {
 public:
  // 16 MiB holds some 100,000 translated blocks of a typical size; a
  // Linux boot translates a few thousand.
  static constexpr size_t kSize = size_t{16} << 20;
  explicit JitCode(size_t size = kSize);
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  bool ok() const { return base_ != nullptr; }
  uint8_t* free_space() const { return base_ + used_; }
  size_t free_bytes() const { return size_ - used_; }
  void commit(size_t bytes) { used_ += bytes; }
  void clear() { used_ = 0; }
  size_t used() const { return used_; }
  // With TANDEM_PERF_MAP set: /tmp/perf-PID.map, where each translation
  // is named for perf report (jit_GPA, jit_GPA_chain, jit_GPA_slow).
  FILE* perf_map() const { return perf_map_; }

 private:
  const size_t size_;
  uint8_t* base_ = nullptr;
  size_t used_ = 0;
  FILE* perf_map_ = nullptr;
};

}  // namespace tandem::cpu
