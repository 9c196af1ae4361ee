// Entropy for virtio-rng: the host's getrandom(), or under --icount a
// seeded generator so that runs repeat exactly.
#pragma once

#include <sys/random.h>

#include <cstdint>
#include <cstring>

#include "dev/virtio_rng.h"

namespace tandem::board {

class HostEntropy : public dev::EntropySource {
 public:
  size_t fill(uint8_t* buf, size_t len) override {
    ssize_t n = getrandom(buf, len, GRND_NONBLOCK);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
};

// splitmix64: tiny, fast and good enough for a deterministic stream.
class SeededEntropy : public dev::EntropySource {
 public:
  explicit SeededEntropy(uint64_t seed) : state_(seed) {}
  size_t fill(uint8_t* buf, size_t len) override {
    for (size_t i = 0; i < len; i += 8) {
      uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      std::memcpy(buf + i, &z, len - i < 8 ? len - i : 8);
    }
    return len;
  }
  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

}  // namespace tandem::board
