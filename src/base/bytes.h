// Little-endian loads and stores on host memory (RISC-V is little-endian,
// and so are the hosts tandem targets; memcpy keeps unaligned access legal).
#pragma once

#include <cstdint>
#include <cstring>

namespace tandem {

template <typename T>
inline T load_le(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
inline void store_le(void* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// Reads `size` (1, 2, 4 or 8) bytes zero-extended.
inline uint64_t load_sized(const void* p, unsigned size) {
  switch (size) {
    case 1: return load_le<uint8_t>(p);
    case 2: return load_le<uint16_t>(p);
    case 4: return load_le<uint32_t>(p);
    default: return load_le<uint64_t>(p);
  }
}

inline void store_sized(void* p, unsigned size, uint64_t v) {
  switch (size) {
    case 1: store_le<uint8_t>(p, static_cast<uint8_t>(v)); break;
    case 2: store_le<uint16_t>(p, static_cast<uint16_t>(v)); break;
    case 4: store_le<uint32_t>(p, static_cast<uint32_t>(v)); break;
    default: store_le<uint64_t>(p, v); break;
  }
}

}  // namespace tandem
