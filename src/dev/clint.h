// SiFive CLINT as on QEMU's virt board (compatible with the ACLINT MSWI
// and MTIMER devices laid out back to back, RISC-V ACLINT spec 1.0):
// per-hart software interrupt (MSIP) and timer compare (MTIP).
#pragma once

#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "base/irq.h"
#include "base/result.h"
#include "mem/mmio.h"

namespace tandem::dev {

// Register map (offsets from the CLINT base; ACLINT spec tables 2 and 4):
//   0x0000 + 4*hart  msip      bit 0 = MSIP of the hart, other bits zero
//   0x4000 + 8*hart  mtimecmp  64-bit compare value, 4- or 8-byte access
//   0xbff8           mtime     64-bit time counter
inline constexpr uint64_t kClintMsipBase = 0x0;
inline constexpr uint64_t kClintMtimecmpBase = 0x4000;
inline constexpr uint64_t kClintMtime = 0xbff8;
inline constexpr uint64_t kClintSize = 0x10000;
inline constexpr unsigned kClintMaxHarts = 4095;  // (0xbff8 - 0x4000) / 8

class Clint : public mem::MmioDevice {
 public:
  struct State {
    std::vector<uint32_t> msip;      // one per hart, 0 or 1
    std::vector<uint64_t> mtimecmp;  // one per hart
    // mtime = clock + mtime_offset (mod 2^64); a guest write to mtime moves
    // the offset, never the board's clock.
    uint64_t mtime_offset = 0;
    bool operator==(const State&) const = default;
  };

  Clint(const Clock& clock, unsigned harts = 1);

  // mip bit 3 (MSIP) and bit 7 (MTIP) of `hart`.
  void connect(unsigned hart, IrqLine msip, IrqLine mtip);

  bool load(uint64_t offset, unsigned size, uint64_t* value) override;
  bool store(uint64_t offset, unsigned size, uint64_t value) override;

  // MTIP is the level mtime >= mtimecmp: the run loop calls update()
  // between CPU slices so that a rising level reaches the hart.
  void update();
  // The clock tick at which some hart's MTIP rises (now if it already is
  // high), UINT64_MAX if never; lets the run loop sleep through WFI.
  uint64_t next_deadline() const;

  uint64_t mtime() const { return clock_.now() + mtime_offset_; }
  unsigned harts() const { return static_cast<unsigned>(msip_.size()); }

  State save() const;
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

 private:
  bool mtip_level(unsigned hart) const { return mtime() >= mtimecmp_[hart]; }
  void set_mtip(unsigned hart, bool level, bool force);

  const Clock& clock_;
  std::vector<uint32_t> msip_;
  std::vector<uint64_t> mtimecmp_;
  uint64_t mtime_offset_ = 0;

  // Derived: the lines and the MTIP level each last reported.
  std::vector<IrqLine> msip_line_;
  std::vector<IrqLine> mtip_line_;
  std::vector<uint8_t> mtip_reported_;
};

}  // namespace tandem::dev
