#include "dev/test_finisher.h"

#include <gtest/gtest.h>

#include <vector>

#include "dev_test_util.h"

namespace tandem::dev {
namespace {

using testing::rd;
using testing::wr;

struct FinisherTest : ::testing::Test {
  TestFinisher fin;
  std::vector<TestFinisher::Event> events;
  void SetUp() override {
    fin.set_handler([this](const TestFinisher::Event& e) { events.push_back(e); });
  }
};

TEST_F(FinisherTest, PassFailAndReset) {
  wr(fin, 0, kFinisherPass);
  wr(fin, 0, (42u << 16) | kFinisherFail);
  wr(fin, 0, kFinisherReset);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].action, TestFinisher::Action::kPass);
  EXPECT_EQ(events[1].action, TestFinisher::Action::kFail);
  EXPECT_EQ(events[1].code, 42u);
  EXPECT_EQ(events[2].action, TestFinisher::Action::kReset);
}

TEST_F(FinisherTest, SixteenBitWritesActLikeOpenSbisDriver) {
  wr(fin, 0, kFinisherPass, 2);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, TestFinisher::Action::kPass);
}

TEST_F(FinisherTest, OtherValuesWidthsAndOffsetsAreIgnored) {
  wr(fin, 0, 0x1234);
  wr(fin, 0, kFinisherPass, 1);
  wr(fin, 0, kFinisherPass, 8);
  wr(fin, 4, kFinisherPass);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(rd(fin, 0), 0u);
}

TEST_F(FinisherTest, StateRoundTrip) {
  // The finisher has no guest-visible state: nothing to mutate or reject.
  TestFinisher::State s = fin.save();
  EXPECT_TRUE(fin.restore(s).ok());
  EXPECT_EQ(fin.save(), s);
}

}  // namespace
}  // namespace tandem::dev
