#include "dev/goldfish_rtc.h"

namespace tandem::dev {

namespace {
constexpr uint64_t kLow = 0xffffffffu;
}

GoldfishRtc::GoldfishRtc(std::function<uint64_t()> now_ns, IrqLine irq)
    : now_ns_(std::move(now_ns)), irq_(irq) {}

void GoldfishRtc::update_irq(bool force) {
  bool level = irq_pending_ && irq_enabled_;
  if (!force && level == irq_level_) return;
  irq_level_ = level;
  irq_.set(level);
}

void GoldfishRtc::update() {
  if (alarm_armed_ && time_ns() >= alarm_) {
    alarm_armed_ = false;
    irq_pending_ = true;
    update_irq();
  }
}

bool GoldfishRtc::load(uint64_t offset, unsigned size, uint64_t* value) {
  *value = 0;
  if (size != 4 || offset % 4) return false;
  switch (offset) {
    case kRtcTimeLow: {
      uint64_t t = time_ns();
      time_high_ = static_cast<uint32_t>(t >> 32);
      *value = t & kLow;
      break;
    }
    case kRtcTimeHigh: *value = time_high_; break;
    case kRtcAlarmLow: *value = alarm_ & kLow; break;
    case kRtcAlarmHigh: *value = alarm_ >> 32; break;
    case kRtcIrqEnabled: *value = irq_enabled_; break;
    case kRtcAlarmStatus: *value = alarm_armed_; break;
    default: break;
  }
  return true;
}

bool GoldfishRtc::store(uint64_t offset, unsigned size, uint64_t value) {
  if (size != 4 || offset % 4) return false;
  uint64_t v = value & kLow;
  switch (offset) {
    // Linux sets the time by writing TIME_HIGH, then TIME_LOW.
    case kRtcTimeLow: set_time((time_ns() & ~kLow) | v); break;
    case kRtcTimeHigh: set_time((time_ns() & kLow) | (v << 32)); break;
    case kRtcAlarmLow:
      alarm_ = (alarm_ & ~kLow) | v;
      alarm_armed_ = true;
      update();  // an alarm in the past fires at once
      break;
    case kRtcAlarmHigh: alarm_ = (alarm_ & kLow) | (v << 32); break;
    case kRtcIrqEnabled:
      irq_enabled_ = v & 1;
      update_irq();
      break;
    case kRtcClearAlarm: alarm_armed_ = false; break;
    case kRtcClearInterrupt:
      irq_pending_ = false;
      update_irq();
      break;
    default: break;
  }
  return true;
}

GoldfishRtc::State GoldfishRtc::save() const {
  return State{time_offset_, time_high_, alarm_, alarm_armed_, irq_enabled_, irq_pending_};
}

Status GoldfishRtc::check(const State& s) const {
  if (s.alarm_status > 1) return Error("rtc state: alarm_status is not 0 or 1");
  if (s.irq_enabled > 1) return Error("rtc state: irq_enabled is not 0 or 1");
  if (s.irq_pending > 1) return Error("rtc state: irq_pending is not 0 or 1");
  return Ok();
}

Status GoldfishRtc::restore(const State& s) {
  TANDEM_TRY(check(s));
  time_offset_ = s.time_offset;
  time_high_ = s.time_high;
  alarm_ = s.alarm;
  alarm_armed_ = s.alarm_status;
  irq_enabled_ = s.irq_enabled;
  irq_pending_ = s.irq_pending;
  update_irq(true);
  return Ok();
}

}  // namespace tandem::dev
