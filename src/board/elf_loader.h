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

// Checks that a file looks like what it is passed as, so a wrong file is an
// error here rather than a guest that hangs: a RISC-V Linux Image (its
// header's "RISCV\0\0\0" magic at offset 48) or an ELF, and an initrd that
// is a cpio archive or a compressed one.
Status check_kernel_image(const std::string& path);
Status check_initrd(const std::string& path);

// Copies a whole file to `gpa` (raw binaries: firmware, kernel Image, initrd).
Result<LoadedImage> load_raw(const std::string& path, uint64_t gpa, mem::GuestMemory& ram);

}  // namespace tandem::board
