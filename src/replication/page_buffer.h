// Memory for page copies, reused from checkpoint to checkpoint: fresh
// memory costs a host page fault per page, in the stun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tandem::replication {

struct PageBuffer {
  std::unique_ptr<uint8_t[]> bytes;
  size_t capacity = 0;
  uint8_t* reserve(size_t n) {
    if (n > capacity) bytes.reset(new uint8_t[capacity = n]);
    return bytes.get();
  }
};

}  // namespace tandem::replication
