#include "dev/clint.h"

#include <string>

namespace tandem::dev {

namespace {
// mtimecmp's reset value is unspecified (ACLINT 2.2); all-ones keeps MTIP
// low until the firmware programs it (OpenSBI writes -1 first anyway).
constexpr uint64_t kMtimecmpReset = UINT64_MAX;

// Reads the 4- or 8-byte window of a 64-bit register at `offset` (its low
// half when offset is 0, the high half when 4).
uint64_t read_part(uint64_t reg, uint64_t offset, unsigned size) {
  if (size == 8) return reg;
  return offset == 0 ? reg & 0xffffffffu : reg >> 32;
}

uint64_t write_part(uint64_t reg, uint64_t offset, unsigned size, uint64_t v) {
  if (size == 8) return v;
  if (offset == 0) return (reg & ~uint64_t{0xffffffff}) | (v & 0xffffffff);
  return (reg & 0xffffffff) | (v << 32);
}
}  // namespace

Clint::Clint(const Clock& clock, unsigned harts)
    : clock_(clock),
      msip_(harts, 0),
      mtimecmp_(harts, kMtimecmpReset),
      msip_line_(harts),
      mtip_line_(harts),
      mtip_reported_(harts, 0) {}

void Clint::connect(unsigned hart, IrqLine msip, IrqLine mtip) {
  msip_line_.at(hart) = msip;
  mtip_line_.at(hart) = mtip;
  msip.set(msip_[hart] & 1);
  set_mtip(hart, mtip_level(hart), true);
}

void Clint::set_mtip(unsigned hart, bool level, bool force) {
  if (!force && mtip_reported_[hart] == level) return;
  mtip_reported_[hart] = level;
  mtip_line_[hart].set(level);
}

bool Clint::load(uint64_t offset, unsigned size, uint64_t* value) {
  *value = 0;
  if (offset < kClintMtimecmpBase) {
    if (size != 4 || offset % 4) return false;
    uint64_t hart = offset / 4;
    if (hart < msip_.size()) *value = msip_[hart];
    return true;
  }
  if ((size != 4 && size != 8) || offset % size) return false;
  if (offset >= kClintMtime + 8) return true;  // reserved up to the region's end
  if (offset >= kClintMtime) {
    *value = read_part(mtime(), offset - kClintMtime, size);
    return true;
  }
  uint64_t hart = (offset - kClintMtimecmpBase) / 8;
  if (hart < mtimecmp_.size())
    *value = read_part(mtimecmp_[hart], (offset - kClintMtimecmpBase) % 8, size);
  return true;
}

bool Clint::store(uint64_t offset, unsigned size, uint64_t value) {
  if (offset < kClintMtimecmpBase) {
    if (size != 4 || offset % 4) return false;
    uint64_t hart = offset / 4;
    if (hart < msip_.size()) {
      msip_[hart] = value & 1;
      msip_line_[hart].set(value & 1);
    }
    return true;
  }
  if ((size != 4 && size != 8) || offset % size) return false;
  if (offset >= kClintMtime + 8) return true;
  if (offset >= kClintMtime) {
    uint64_t t = write_part(mtime(), offset - kClintMtime, size, value);
    mtime_offset_ = t - clock_.now();
    update();
    return true;
  }
  uint64_t hart = (offset - kClintMtimecmpBase) / 8;
  if (hart < mtimecmp_.size()) {
    mtimecmp_[hart] = write_part(mtimecmp_[hart], (offset - kClintMtimecmpBase) % 8, size, value);
    set_mtip(static_cast<unsigned>(hart), mtip_level(static_cast<unsigned>(hart)), false);
  }
  return true;
}

void Clint::update() {
  for (unsigned h = 0; h < mtimecmp_.size(); h++) set_mtip(h, mtip_level(h), false);
}

uint64_t Clint::next_deadline() const {
  uint64_t now = clock_.now();
  uint64_t t = now + mtime_offset_;
  uint64_t best = UINT64_MAX;
  for (uint64_t cmp : mtimecmp_) {
    if (t >= cmp) return now;
    uint64_t delta = cmp - t;
    uint64_t at = now + delta < now ? UINT64_MAX : now + delta;
    if (at < best) best = at;
  }
  return best;
}

Clint::State Clint::save() const { return State{msip_, mtimecmp_, mtime_offset_}; }

Status Clint::check(const State& s) const {
  if (s.msip.size() != msip_.size())
    return Error("clint state: msip has " + std::to_string(s.msip.size()) + " harts, expected " +
                 std::to_string(msip_.size()));
  if (s.mtimecmp.size() != mtimecmp_.size())
    return Error("clint state: mtimecmp has " + std::to_string(s.mtimecmp.size()) +
                 " harts, expected " + std::to_string(mtimecmp_.size()));
  for (size_t h = 0; h < s.msip.size(); h++)
    if (s.msip[h] > 1) return Error("clint state: msip[" + std::to_string(h) + "] is not 0 or 1");
  return Ok();
}

Status Clint::restore(const State& s) {
  TANDEM_TRY(check(s));
  msip_ = s.msip;
  mtimecmp_ = s.mtimecmp;
  mtime_offset_ = s.mtime_offset;
  for (unsigned h = 0; h < msip_.size(); h++) {
    msip_line_[h].set(msip_[h]);
    set_mtip(h, mtip_level(h), true);
  }
  return Ok();
}

}  // namespace tandem::dev
