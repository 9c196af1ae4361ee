// The memory translated blocks live in (jit.cc): one host mapping per
// hart, filled from the start and emptied as a whole when full, after
// every Block::jit pointer into it was cleared. It starts with the
// routines every translation shares (Runtime) and records the direct
// jumps patched between translations, so that they can be undone when
// their target dies. Data the translations write (the jalr target
// caches) fills it from the end, away from the code they run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tandem::cpu {

class JitCode {
 public:
  // 16 MiB holds some 100,000 translated blocks of a typical size; a
  // Linux boot translates a few thousand.
  static constexpr size_t kSize = size_t{16} << 20;
  // From a translation's start (Block::jit, entered from the run loop) to
  // its link entry (where direct jumps from other translations go).
  static constexpr size_t kLinkOffset = 12;
  explicit JitCode(size_t size = kSize);
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  // Where the shared routines are (jit.cc emits them into empty memory).
  struct Runtime {
    const uint8_t* prologue = nullptr;  // the frame; then jumps to rcx
    const uint8_t* exit = nullptr;      // eax = the JitExit; counters back, frame gone, return
    const uint8_t* end = nullptr;       // exit with kJitEnd
    const uint8_t* checks = nullptr;    // called: CHAIN's checks, then retire the block
    const uint8_t* lookup = nullptr;    // called: checks, fetch TLB, jump cache; rdi = the next code
    const uint8_t* link = nullptr;      // an unlinked direct jump's stub goes here
    const uint8_t* ic_reset = nullptr;  // called: rcx = a jalr cache, rax = the epoch; empties it
  };
  const Runtime& runtime() const { return runtime_; }
  void set_runtime(const Runtime& r) { runtime_ = r; }

  bool ok() const { return base_ != nullptr; }
  uint8_t* free_space() const { return base_ + used_; }
  size_t free_bytes() const { return data_ - used_; }
  // `bytes` (a multiple of 16) of data at the end of the free space, or
  // null when full.
  uint8_t* take_data(size_t bytes);
  // Raised whenever a translation may have died (unlink_into, unlink_all):
  // a jalr cache filled at another epoch is empty (jit.cc).
  const uint64_t* epoch() const { return reinterpret_cast<const uint64_t*>(base_ + size_ - kEpochRoom); }
  void commit(size_t bytes) { used_ += bytes; }
  void clear();
  size_t used() const { return used_; }
  // With TANDEM_PERF_MAP set: /tmp/perf-PID.map, where each translation
  // is named for perf report (jit_GPA, jit_GPA_slow, jit_runtime).
  FILE* perf_map() const { return perf_map_; }

  // Direct jumps: the jump whose rel32 is at `rel32` goes to `target`
  // (a translation's link entry) from now on; until unlinked, when it
  // goes back to where it went before (its stub). Only the hart owning
  // this memory patches it, or anyone while that hart executes nothing.
  void link(uint8_t* rel32, const uint8_t* target);
  void unlink_into(const uint8_t* target);  // every jump into target
  void unlink_all();
  size_t links() const { return links_count_; }  // patched in now
  uint64_t links_made() const { return links_made_; }
  uint64_t links_undone() const { return links_undone_; }

 private:
  static constexpr size_t kEpochRoom = 64;  // a cache line of its own at the end
  uint64_t& epoch_ref() { return *reinterpret_cast<uint64_t*>(base_ + size_ - kEpochRoom); }
  const size_t size_;
  uint8_t* base_ = nullptr;
  size_t used_ = 0;
  size_t data_;  // where the data starts
  FILE* perf_map_ = nullptr;
  Runtime runtime_;
  // target -> (rel32, stub) of the jumps into it
  std::unordered_map<const uint8_t*, std::vector<std::pair<uint8_t*, const uint8_t*>>> links_;
  size_t links_count_ = 0;
  uint64_t links_made_ = 0, links_undone_ = 0;  // over this memory's life, for tests
};

}  // namespace tandem::cpu
