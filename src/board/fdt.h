// Builds the flattened device tree handed to firmware and kernel (a1 at
// entry). It describes exactly the devices the machine attaches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace tandem::board {

struct FdtConfig {
  uint64_t ram_base = 0;
  uint64_t ram_size = 0;
  // riscv,isa. Zihintpause as on QEMU's virt: Linux's cpu_relax() then
  // runs PAUSE, which ends a spinning hart's run (cpu::StopReason::kPause).
  std::string isa = "rv64imafdc_zicsr_zifencei_zihintpause";
  std::string mmu_type = "riscv,sv48";
  unsigned harts = 1;  // cpus/cpu@0 .. cpu@(harts - 1)
  std::string bootargs;
  uint64_t initrd_start = 0, initrd_end = 0;  // both 0: no initrd
  // Virtio transports in use: slot i is at kVirtioBase + i * kVirtioStride.
  std::vector<unsigned> virtio_slots;
  bool rtc = true;
};

Result<std::vector<uint8_t>> build_fdt(const FdtConfig& config);

}  // namespace tandem::board
