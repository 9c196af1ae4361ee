// Everything that describes a machine to build: what `tandem run` parses
// and what a snapshot records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace tandem::board {

struct MachineConfig {
  uint64_t ram_size = 256ull << 20;
  // Firmware: "default" = Debian's OpenSBI fw_jump; "none" = start the
  // kernel ELF in M-mode like QEMU's -bios none; else a file.
  std::string bios = "default";
  std::string kernel;
  std::string initrd;
  std::string append;
  std::vector<std::string> drives;  // "file=PATH[,readonly=on]" specs
  std::vector<std::string> nets;  // backend specs, e.g. "user,hostfwd=..."
  bool rng = true;
  bool icount = false;
  // Harts (-smp N), a snapshot records one state per hart. Each runs on a
  // host thread of its own unless `hart_threads` is off (-accel
  // tcg,thread=single) or under --icount: then they take turns on the vCPU
  // thread (docs/architecture.md, "SMP"). Not part of a snapshot.
  unsigned harts = 1;
  bool hart_threads = true;
  // The CPU's execution engine: "interp" or "jit" (cpu::Engine); empty:
  // the environment's TANDEM_ENGINE, else jit. Not part of a snapshot.
  std::string engine;
  bool stats = false;
  // --guest-profile FILE: where the harts spend their instructions, written
  // at exit; symbols from guest_symbols, else System.map beside the kernel.
  // Not part of a snapshot.
  std::string guest_profile;
  std::string guest_symbols;
  std::string monitor;  // "unix:PATH" or empty
  std::string replicate;  // run --replicate's spec; not part of a snapshot
  std::string arbiter;    // run --arbiter's spec; not part of a snapshot
  std::string ft;         // run --ft's spec (quasi-lockstep primary); not part of a snapshot
};

// Debian's opensbi package installs the generic platform firmware here.
inline constexpr const char* kDefaultBios =
    "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin";

// -smp's limit: the guest kernel's CONFIG_NR_CPUS (guest/kernel.config).
inline constexpr unsigned kMaxHarts = 8;

// "64M", "1G", "268435456", "512K": bytes, or an error naming the text.
Result<uint64_t> parse_size(const std::string& text);

}  // namespace tandem::board
