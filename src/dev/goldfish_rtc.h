// Goldfish RTC ("google,goldfish-rtc", Android emulator goldfish spec and
// Linux drivers/rtc/rtc-goldfish.c): a 64-bit nanosecond wall clock with
// one alarm.
#pragma once

#include <cstdint>
#include <functional>

#include "base/irq.h"
#include "base/result.h"
#include "mem/mmio.h"

namespace tandem::dev {

// Register map (goldfish "GOLDFISH-VIRTUAL-HARDWARE.TXT", RTC section;
// all 32-bit):
//   0x00 TIME_LOW         R: low 32 bits of time, latches the high half
//                         W: sets the low half of the time
//   0x04 TIME_HIGH        R: the latched high half  W: sets the high half
//   0x08 ALARM_LOW        W: low half of the alarm, and arms it
//   0x0c ALARM_HIGH       W: high half of the alarm
//   0x10 IRQ_ENABLED      W: 1 enables the alarm interrupt
//   0x14 CLEAR_ALARM      W: disarms the alarm
//   0x18 ALARM_STATUS     R: 1 while the alarm is armed
//   0x1c CLEAR_INTERRUPT  W: lowers the interrupt
inline constexpr uint64_t kRtcTimeLow = 0x00;
inline constexpr uint64_t kRtcTimeHigh = 0x04;
inline constexpr uint64_t kRtcAlarmLow = 0x08;
inline constexpr uint64_t kRtcAlarmHigh = 0x0c;
inline constexpr uint64_t kRtcIrqEnabled = 0x10;
inline constexpr uint64_t kRtcClearAlarm = 0x14;
inline constexpr uint64_t kRtcAlarmStatus = 0x18;
inline constexpr uint64_t kRtcClearInterrupt = 0x1c;
inline constexpr uint64_t kRtcSize = 0x1000;

class GoldfishRtc : public mem::MmioDevice {
 public:
  struct State {
    uint64_t time_offset = 0;  // guest time = source + offset (mod 2^64), moved by time writes
    uint32_t time_high = 0;    // latched by the last TIME_LOW read
    uint64_t alarm = 0;
    // Register images: each is 0 or 1.
    uint32_t alarm_status = 0;  // ALARM_STATUS: armed
    uint32_t irq_enabled = 0;   // IRQ_ENABLED
    uint32_t irq_pending = 0;   // alarm fired, not yet cleared
    bool operator==(const State&) const = default;
  };

  // `now_ns`: nanoseconds since the Unix epoch (the host wall clock, or a
  // fixed start plus virtual time under --icount).
  GoldfishRtc(std::function<uint64_t()> now_ns, IrqLine irq);

  bool load(uint64_t offset, unsigned size, uint64_t* value) override;
  bool store(uint64_t offset, unsigned size, uint64_t value) override;

  // Fires an armed alarm whose time has come; the run loop calls it
  // between CPU slices.
  void update();
  // Guest time in ns at which the armed alarm fires (UINT64_MAX if none).
  uint64_t alarm_deadline() const { return alarm_armed_ ? alarm_ : UINT64_MAX; }
  uint64_t time_ns() const { return now_ns_() + time_offset_; }

  State save() const;
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

 private:
  void set_time(uint64_t t) { time_offset_ = t - now_ns_(); }
  void update_irq(bool force = false);

  std::function<uint64_t()> now_ns_;
  IrqLine irq_;
  uint64_t time_offset_ = 0;
  uint32_t time_high_ = 0;
  uint64_t alarm_ = 0;
  bool alarm_armed_ = false;
  bool irq_enabled_ = false;
  bool irq_pending_ = false;
  bool irq_level_ = false;  // derived
};

}  // namespace tandem::dev
