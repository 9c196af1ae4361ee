// SiFive PLIC as on QEMU's virt board (RISC-V PLIC spec 1.0.0): 96
// level-triggered sources (0 reserved), two contexts per hart (even: M
// mode -> MEIP, odd: S mode -> SEIP).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "base/irq.h"
#include "base/result.h"
#include "mem/mmio.h"

namespace tandem::dev {

// Memory map (PLIC spec, "Memory Map"; all registers 32-bit):
//   0x000000 + 4*src            interrupt source priority
//   0x001000 + 4*(src/32)       interrupt pending bits (read-only)
//   0x002000 + 0x80*ctx + 4*w   enable bits of sources 32w..32w+31
//   0x200000 + 0x1000*ctx       priority threshold
//   0x200004 + 0x1000*ctx       claim (read) / complete (write)
inline constexpr uint64_t kPlicPriorityBase = 0x0;
inline constexpr uint64_t kPlicPendingBase = 0x1000;
inline constexpr uint64_t kPlicEnableBase = 0x2000;
inline constexpr uint64_t kPlicEnableStride = 0x80;
inline constexpr uint64_t kPlicContextBase = 0x200000;
inline constexpr uint64_t kPlicContextStride = 0x1000;
inline constexpr uint64_t kPlicThreshold = 0x0;
inline constexpr uint64_t kPlicClaimComplete = 0x4;
inline constexpr uint64_t kPlicSize = 0x600000;

inline constexpr unsigned kPlicSources = 96;  // riscv,ndev = 95
inline constexpr unsigned kPlicWords = kPlicSources / 32;
// QEMU virt implements 3 priority bits: priorities and thresholds 0..7.
inline constexpr uint32_t kPlicPriorityMask = 7;

class Plic : public mem::MmioDevice, public IrqSink {
 public:
  using Bits = std::array<uint32_t, kPlicWords>;
  struct State {
    std::array<uint32_t, kPlicSources> priority{};
    Bits level{};    // input level of each source's gateway
    Bits claimed{};  // claimed and not yet completed (gateway closed)
    std::vector<Bits> enable;         // per context
    std::vector<uint32_t> threshold;  // per context
    bool operator==(const State&) const = default;
  };

  explicit Plic(unsigned harts = 1);

  // Context `ctx`'s output: MEIP (mip bit 11) for even, SEIP (bit 9) for odd.
  void connect(unsigned ctx, IrqLine line);
  unsigned contexts() const { return static_cast<unsigned>(threshold_.size()); }

  // IrqSink: device line `line` (the source number) changed level.
  void set_irq(unsigned line, bool level) override;

  bool load(uint64_t offset, unsigned size, uint64_t* value) override;
  bool store(uint64_t offset, unsigned size, uint64_t value) override;

  // What a read of the pending registers would show.
  bool pending(unsigned src) const;

  State save() const;
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

 private:
  static bool test(const Bits& b, unsigned i) { return (b[i / 32] >> (i % 32)) & 1; }
  static void put(Bits& b, unsigned i, bool v) {
    uint32_t m = uint32_t{1} << (i % 32);
    b[i / 32] = v ? b[i / 32] | m : b[i / 32] & ~m;
  }
  uint32_t pending_word(unsigned w) const { return level_[w] & ~claimed_[w]; }
  // Highest-priority pending, enabled source above the threshold (ties go
  // to the lowest ID; PLIC spec "Interrupt Priorities"); 0 if none.
  unsigned best(unsigned ctx) const;
  unsigned claim(unsigned ctx);
  void complete(unsigned ctx, uint32_t src);
  void update(bool force = false);

  // Devices may raise lines from any thread (base/irq.h).
  mutable std::mutex mu_;
  std::array<uint32_t, kPlicSources> priority_{};
  Bits level_{};
  Bits claimed_{};
  std::vector<Bits> enable_;
  std::vector<uint32_t> threshold_;

  // Derived: output lines and the levels last driven on them.
  std::vector<IrqLine> out_;
  std::vector<uint8_t> out_level_;
};

}  // namespace tandem::dev
