// The guest-physical memory map of tandem's board: QEMU's `virt` machine
// (hw/riscv/virt.c in QEMU 7.2), so that OpenSBI's generic platform and an
// unmodified kernel find everything where they expect it. This is the one
// place these numbers live.
#pragma once

#include <cstdint>

namespace tandem::board {

inline constexpr uint64_t kTestBase = 0x100000;      // sifive,test0 / syscon
inline constexpr uint64_t kTestSize = 0x1000;
inline constexpr uint64_t kRtcBase = 0x101000;       // google,goldfish-rtc
inline constexpr uint64_t kRtcSize = 0x1000;
inline constexpr uint64_t kClintBase = 0x2000000;    // sifive,clint0
inline constexpr uint64_t kClintSize = 0x10000;
inline constexpr uint64_t kPlicBase = 0xc000000;     // sifive,plic-1.0.0
inline constexpr uint64_t kPlicSize = 0x600000;
inline constexpr uint64_t kUartBase = 0x10000000;    // ns16550a
inline constexpr uint64_t kUartSize = 0x100;
inline constexpr uint64_t kVirtioBase = 0x10001000;  // virtio,mmio, one per 4 KiB
inline constexpr uint64_t kVirtioStride = 0x1000;
inline constexpr unsigned kVirtioCount = 8;
inline constexpr uint64_t kRamBase = 0x80000000;

// PLIC sources (interrupts = <N> in the device tree).
inline constexpr unsigned kVirtioIrqBase = 1;  // transport i uses 1 + i
inline constexpr unsigned kUartIrq = 10;
inline constexpr unsigned kRtcIrq = 11;
inline constexpr unsigned kPlicSources = 96;   // riscv,ndev = 95

// Boot layout with OpenSBI fw_jump (generic platform, RV64): firmware at
// the start of RAM, the next stage at FW_JUMP_ADDR = RAM + 2 MiB. The
// firmware copies the device tree to FW_JUMP_FDT_ADDR = RAM + 34 MiB.
inline constexpr uint64_t kFirmwareBase = kRamBase;
inline constexpr uint64_t kKernelBase = kRamBase + 0x200000;
inline constexpr uint64_t kFirmwareFdtCopy = kRamBase + 0x2200000;

}  // namespace tandem::board
