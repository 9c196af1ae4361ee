#include "dev/goldfish_rtc.h"

#include <gtest/gtest.h>

#include "dev_test_util.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::rd;
using testing::wr;

constexpr unsigned kIrq = 11;

struct RtcTest : ::testing::Test {
  uint64_t ns = 0x1234'5678'9abc'def0;
  IrqRecorder plic;
  GoldfishRtc rtc{[this] { return ns; }, IrqLine(&plic, kIrq)};
  uint64_t read_time() {
    uint64_t low = rd(rtc, kRtcTimeLow);
    uint64_t high = rd(rtc, kRtcTimeHigh);
    return (high << 32) | low;
  }
  void set_alarm(uint64_t t) {
    wr(rtc, kRtcAlarmHigh, t >> 32);
    wr(rtc, kRtcAlarmLow, t & 0xffffffff);
  }
};

TEST_F(RtcTest, TimeLowLatchesTheHighHalf) {
  EXPECT_EQ(read_time(), 0x1234'5678'9abc'def0u);
  uint64_t low = rd(rtc, kRtcTimeLow);
  ns += uint64_t{5} << 32;  // the high half moves after the low read...
  EXPECT_EQ(rd(rtc, kRtcTimeHigh), 0x1234'5678u) << "...but the latch does not";
  EXPECT_EQ(low, 0x9abc'def0u);
}

TEST_F(RtcTest, GuestSetsTheTimeLikeLinux) {
  uint64_t want = 1'700'000'000ull * 1'000'000'000ull;
  wr(rtc, kRtcTimeHigh, want >> 32);
  wr(rtc, kRtcTimeLow, want & 0xffffffff);
  EXPECT_EQ(read_time(), want);
  ns += 1000;
  EXPECT_EQ(read_time(), want + 1000) << "time keeps running from the new value";
}

TEST_F(RtcTest, AlarmFiresWhenDueAndOnlyWhenEnabled) {
  set_alarm(ns + 500);
  EXPECT_EQ(rd(rtc, kRtcAlarmStatus), 1u);
  EXPECT_EQ(rtc.alarm_deadline(), ns + 500);
  ns += 499;
  rtc.update();
  EXPECT_EQ(rd(rtc, kRtcAlarmStatus), 1u);
  ns += 1;
  rtc.update();
  EXPECT_EQ(rd(rtc, kRtcAlarmStatus), 0u) << "fired";
  EXPECT_FALSE(plic.level(kIrq)) << "the interrupt is not enabled";
  wr(rtc, kRtcIrqEnabled, 1);
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(rd(rtc, kRtcIrqEnabled), 1u);
  wr(rtc, kRtcClearInterrupt, 1);
  EXPECT_FALSE(plic.level(kIrq));
}

TEST_F(RtcTest, PastAlarmFiresAtOnceAndClearAlarmDisarms) {
  wr(rtc, kRtcIrqEnabled, 1);
  set_alarm(ns - 1);
  EXPECT_TRUE(plic.level(kIrq));
  wr(rtc, kRtcClearInterrupt, 1);
  set_alarm(ns + 100);
  wr(rtc, kRtcClearAlarm, 1);
  EXPECT_EQ(rd(rtc, kRtcAlarmStatus), 0u);
  ns += 200;
  rtc.update();
  EXPECT_FALSE(plic.level(kIrq));
  EXPECT_EQ(rtc.alarm_deadline(), UINT64_MAX);
}

TEST_F(RtcTest, StateRoundTrip) {
  wr(rtc, kRtcTimeHigh, 7);
  rd(rtc, kRtcTimeLow);
  wr(rtc, kRtcIrqEnabled, 1);
  set_alarm(rtc.time_ns() + 1000);  // guest time, which the write above moved
  GoldfishRtc::State saved = rtc.save();
  EXPECT_EQ(saved.alarm_status, 1u);

  wr(rtc, kRtcClearAlarm, 1);
  wr(rtc, kRtcIrqEnabled, 0);
  wr(rtc, kRtcTimeHigh, 9);
  EXPECT_NE(rtc.save(), saved);

  ASSERT_TRUE(rtc.restore(saved).ok());
  EXPECT_EQ(rtc.save(), saved);
  ns += 1000;
  rtc.update();
  EXPECT_TRUE(plic.level(kIrq)) << "the restored alarm fires";
}

TEST_F(RtcTest, RestoreRejectsBadState) {
  GoldfishRtc::State good = rtc.save();
  GoldfishRtc::State s = good;
  s.irq_enabled = 2;
  auto st = rtc.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("irq_enabled"), std::string::npos);
  EXPECT_EQ(rtc.save(), good);
}

}  // namespace
}  // namespace tandem::dev
