#include "dev/clint.h"

#include <gtest/gtest.h>

#include "dev_test_util.h"

namespace tandem::dev {
namespace {

using testing::FakeClock;
using testing::IrqRecorder;
using testing::rd;
using testing::wr;

constexpr unsigned kMsip = 3, kMtip = 7;

struct ClintTest : ::testing::Test {
  FakeClock clock;
  IrqRecorder hart;
  Clint clint{clock, 1};
  void SetUp() override { clint.connect(0, IrqLine(&hart, kMsip), IrqLine(&hart, kMtip)); }
};

TEST_F(ClintTest, ResetLeavesBothLinesLow) {
  EXPECT_FALSE(hart.level(kMsip));
  EXPECT_FALSE(hart.level(kMtip));
  EXPECT_EQ(rd(clint, kClintMtimecmpBase, 8), UINT64_MAX);
  EXPECT_EQ(clint.next_deadline(), UINT64_MAX);
}

TEST_F(ClintTest, MsipBitZeroDrivesTheLine) {
  wr(clint, kClintMsipBase, 0xffffffff);
  EXPECT_TRUE(hart.level(kMsip));
  EXPECT_EQ(rd(clint, kClintMsipBase), 1u) << "only bit 0 is implemented";
  wr(clint, kClintMsipBase, 0);
  EXPECT_FALSE(hart.level(kMsip));
  // Another hart's msip does not exist here: reads zero, writes ignored.
  wr(clint, kClintMsipBase + 4, 1);
  EXPECT_EQ(rd(clint, kClintMsipBase + 4), 0u);
}

TEST_F(ClintTest, MtipRisesWhenMtimeReachesMtimecmp) {
  clock.t = 50;
  wr(clint, kClintMtimecmpBase, 100, 8);
  EXPECT_FALSE(hart.level(kMtip));
  EXPECT_EQ(clint.next_deadline(), 100u);
  clock.t = 99;
  clint.update();
  EXPECT_FALSE(hart.level(kMtip));
  clock.t = 100;
  clint.update();
  EXPECT_TRUE(hart.level(kMtip));
  EXPECT_EQ(clint.next_deadline(), 100u) << "already high: the deadline is now";
  // Writing a later compare value lowers MTIP at once (level semantics).
  wr(clint, kClintMtimecmpBase, 1000, 8);
  EXPECT_FALSE(hart.level(kMtip));
  EXPECT_EQ(clint.next_deadline(), 1000u);
}

TEST_F(ClintTest, MtimecmpTakesTwoHalfWrites) {
  clock.t = 0x1'0000'0000;
  wr(clint, kClintMtimecmpBase + 4, 0x1);  // high half
  wr(clint, kClintMtimecmpBase, 0x10);     // low half
  EXPECT_EQ(rd(clint, kClintMtimecmpBase, 8), 0x1'0000'0010u);
  EXPECT_EQ(rd(clint, kClintMtimecmpBase + 4), 0x1u);
  EXPECT_EQ(rd(clint, kClintMtimecmpBase), 0x10u);
  EXPECT_FALSE(hart.level(kMtip));
  clock.t = 0x1'0000'0010;
  clint.update();
  EXPECT_TRUE(hart.level(kMtip));
}

TEST_F(ClintTest, MtimeReadsTheClockAndWritesMoveAnOffset) {
  clock.t = 1234;
  EXPECT_EQ(rd(clint, kClintMtime, 8), 1234u);
  EXPECT_EQ(rd(clint, kClintMtime), 1234u);
  EXPECT_EQ(rd(clint, kClintMtime + 4), 0u);
  wr(clint, kClintMtime, 10'000, 8);
  EXPECT_EQ(rd(clint, kClintMtime, 8), 10'000u);
  clock.t = 1244;
  EXPECT_EQ(clint.mtime(), 10'010u);
  // The deadline is reported in clock ticks.
  wr(clint, kClintMtimecmpBase, 10'110, 8);
  EXPECT_EQ(clint.next_deadline(), 1344u);
}

TEST_F(ClintTest, BadWidthsFault) {
  uint64_t v;
  EXPECT_FALSE(clint.load(kClintMsipBase, 8, &v));
  EXPECT_FALSE(clint.load(kClintMtimecmpBase, 2, &v));
  EXPECT_FALSE(clint.store(kClintMtimecmpBase + 4, 8, 0)) << "misaligned 8-byte access";
  EXPECT_FALSE(clint.store(kClintMtime, 1, 0));
}

TEST_F(ClintTest, StateRoundTrip) {
  clock.t = 10;
  wr(clint, kClintMsipBase, 1);
  wr(clint, kClintMtimecmpBase, 5, 8);
  wr(clint, kClintMtime, 100, 8);
  Clint::State saved = clint.save();
  EXPECT_EQ(saved.msip, std::vector<uint32_t>{1});
  EXPECT_EQ(saved.mtime_offset, 90u);

  wr(clint, kClintMsipBase, 0);
  wr(clint, kClintMtimecmpBase, 500, 8);
  wr(clint, kClintMtime, 0, 8);
  EXPECT_NE(clint.save(), saved) << "mutation must change the state";
  EXPECT_FALSE(hart.level(kMsip));

  ASSERT_TRUE(clint.restore(saved).ok());
  EXPECT_EQ(clint.save(), saved);
  EXPECT_TRUE(hart.level(kMsip)) << "restore re-drives the lines";
  EXPECT_TRUE(hart.level(kMtip));
}

TEST_F(ClintTest, RestoreRejectsBadState) {
  Clint::State good = clint.save();
  Clint::State s = good;
  s.msip = {2};
  auto st = clint.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("msip[0]"), std::string::npos) << st.error().message();
  s = good;
  s.mtimecmp.push_back(0);
  st = clint.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("mtimecmp"), std::string::npos) << st.error().message();
  EXPECT_EQ(clint.save(), good) << "a rejected restore changes nothing";
}

}  // namespace
}  // namespace tandem::dev
