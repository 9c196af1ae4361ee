// Loads a RISC-V ELF64 executable's PT_LOAD segments at their physical
// addresses (like QEMU's -kernel for ELF files).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace tandem::board {

struct LoadedImage {
  uint64_t entry = 0;
  uint64_t lowest = 0;   // lowest physical address written
  uint64_t highest = 0;  // one past the highest
};

// True if the file starts with the ELF magic.
bool is_elf(const std::string& path);

Result<LoadedImage> load_elf(const std::string& path, mem::GuestMemory& ram);

// Copies a whole file to `gpa` (raw binaries: firmware, kernel Image, initrd).
Result<LoadedImage> load_raw(const std::string& path, uint64_t gpa, mem::GuestMemory& ram);

}  // namespace tandem::board
