#include "dev/plic.h"

#include <gtest/gtest.h>

#include "dev_test_util.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::rd;
using testing::wr;

constexpr unsigned kMeip = 11, kSeip = 9;

uint64_t priority(unsigned src) { return kPlicPriorityBase + 4 * src; }
uint64_t enable(unsigned ctx, unsigned word = 0) { return kPlicEnableBase + kPlicEnableStride * ctx + 4 * word; }
uint64_t threshold(unsigned ctx) { return kPlicContextBase + kPlicContextStride * ctx + kPlicThreshold; }
uint64_t claim(unsigned ctx) { return kPlicContextBase + kPlicContextStride * ctx + kPlicClaimComplete; }

struct PlicTest : ::testing::Test {
  IrqRecorder hart;
  Plic plic{1};
  void SetUp() override {
    plic.connect(0, IrqLine(&hart, kMeip));
    plic.connect(1, IrqLine(&hart, kSeip));
  }
};

TEST_F(PlicTest, PrioritiesAreThreeBitsAndSourceZeroIsHardwired) {
  wr(plic, priority(5), 0xff);
  EXPECT_EQ(rd(plic, priority(5)), 7u);
  wr(plic, priority(0), 3);
  EXPECT_EQ(rd(plic, priority(0)), 0u);
  wr(plic, enable(1), 0xffffffff);
  EXPECT_EQ(rd(plic, enable(1)), 0xfffffffeu) << "source 0 cannot be enabled";
  wr(plic, threshold(1), 9);
  EXPECT_EQ(rd(plic, threshold(1)), 1u);
}

TEST_F(PlicTest, PendingLevelReachesOnlyTheEnabledContext) {
  wr(plic, priority(10), 1);
  wr(plic, enable(1), 1u << 10);  // S mode only
  plic.set_irq(10, true);
  EXPECT_EQ(rd(plic, kPlicPendingBase), 1u << 10);
  EXPECT_TRUE(hart.level(kSeip));
  EXPECT_FALSE(hart.level(kMeip));
  // A level-triggered source that drops before the claim is no longer pending.
  plic.set_irq(10, false);
  EXPECT_EQ(rd(plic, kPlicPendingBase), 0u);
  EXPECT_FALSE(hart.level(kSeip));
}

TEST_F(PlicTest, ZeroPriorityNeverInterrupts) {
  wr(plic, enable(1), 1u << 4);
  plic.set_irq(4, true);
  EXPECT_TRUE(plic.pending(4));
  EXPECT_FALSE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 0u);
}

TEST_F(PlicTest, ClaimCompleteCycleOfALevelSource) {
  wr(plic, priority(33), 2);
  wr(plic, enable(1, 1), 1u << 1);  // source 33 lives in word 1
  plic.set_irq(33, true);
  EXPECT_TRUE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 33u);
  EXPECT_FALSE(plic.pending(33)) << "the claim clears pending";
  EXPECT_FALSE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 0u) << "nothing else to claim";
  // The gateway holds the still-high level until completion...
  EXPECT_EQ(rd(plic, kPlicPendingBase + 4), 0u);
  wr(plic, claim(1), 33);
  // ...then forwards it again.
  EXPECT_TRUE(plic.pending(33));
  EXPECT_TRUE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 33u);
  plic.set_irq(33, false);  // the driver served the device
  wr(plic, claim(1), 33);
  EXPECT_FALSE(plic.pending(33));
  EXPECT_FALSE(hart.level(kSeip));
}

TEST_F(PlicTest, HighestPriorityFirstTiesToLowestId) {
  for (unsigned src : {3u, 7u, 9u}) {
    wr(plic, enable(0), rd(plic, enable(0)) | (1u << src));
    plic.set_irq(src, true);
  }
  wr(plic, priority(3), 4);
  wr(plic, priority(7), 6);
  wr(plic, priority(9), 4);
  EXPECT_TRUE(hart.level(kMeip));
  EXPECT_EQ(rd(plic, claim(0)), 7u);
  EXPECT_EQ(rd(plic, claim(0)), 3u);
  EXPECT_EQ(rd(plic, claim(0)), 9u);
  EXPECT_EQ(rd(plic, claim(0)), 0u);
  EXPECT_FALSE(hart.level(kMeip));
}

TEST_F(PlicTest, ThresholdMasksPrioritiesAtOrBelowIt) {
  wr(plic, priority(2), 5);
  wr(plic, enable(1), 1u << 2);
  wr(plic, threshold(1), 5);
  plic.set_irq(2, true);
  EXPECT_FALSE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 0u);
  wr(plic, threshold(1), 4);
  EXPECT_TRUE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 2u);
}

TEST_F(PlicTest, CompletionOfASourceNotEnabledForTheContextIsIgnored) {
  wr(plic, priority(6), 1);
  wr(plic, enable(1), 1u << 6);
  plic.set_irq(6, true);
  EXPECT_EQ(rd(plic, claim(1)), 6u);
  wr(plic, claim(0), 6);  // context 0 has it disabled
  EXPECT_FALSE(plic.pending(6)) << "still claimed";
  wr(plic, claim(1), 6);
  EXPECT_TRUE(plic.pending(6));
}

TEST_F(PlicTest, ContextsAreIndependent) {
  wr(plic, priority(1), 1);
  wr(plic, priority(2), 1);
  wr(plic, enable(0), 1u << 1);
  wr(plic, enable(1), 1u << 2);
  plic.set_irq(1, true);
  EXPECT_TRUE(hart.level(kMeip));
  EXPECT_FALSE(hart.level(kSeip));
  plic.set_irq(2, true);
  EXPECT_TRUE(hart.level(kSeip));
  EXPECT_EQ(rd(plic, claim(1)), 2u);
  EXPECT_EQ(rd(plic, claim(0)), 1u);
}

TEST_F(PlicTest, OnlyWordAccessesAndUnknownLinesIgnored) {
  uint64_t v;
  EXPECT_FALSE(plic.load(priority(1), 1, &v));
  EXPECT_FALSE(plic.store(priority(1), 8, 1));
  plic.set_irq(0, true);
  plic.set_irq(kPlicSources, true);
  EXPECT_EQ(rd(plic, kPlicPendingBase), 0u);
  // Context 2 does not exist with one hart.
  EXPECT_EQ(rd(plic, claim(2)), 0u);
}

TEST_F(PlicTest, StateRoundTrip) {
  wr(plic, priority(10), 3);
  wr(plic, enable(1), 1u << 10);
  wr(plic, threshold(0), 2);
  plic.set_irq(10, true);
  plic.set_irq(12, true);
  EXPECT_EQ(rd(plic, claim(1)), 10u);
  Plic::State saved = plic.save();

  wr(plic, claim(1), 10);
  wr(plic, priority(10), 1);
  plic.set_irq(12, false);
  wr(plic, threshold(0), 0);
  EXPECT_NE(plic.save(), saved);

  ASSERT_TRUE(plic.restore(saved).ok());
  EXPECT_EQ(plic.save(), saved);
  EXPECT_FALSE(plic.pending(10)) << "still claimed after restore";
  EXPECT_FALSE(hart.level(kSeip));
  wr(plic, claim(1), 10);
  EXPECT_TRUE(hart.level(kSeip)) << "the restored level comes back on completion";
}

TEST_F(PlicTest, RestoreRejectsBadState) {
  Plic::State good = plic.save();
  Plic::State s = good;
  s.priority[5] = 8;
  auto st = plic.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("priority[5]"), std::string::npos) << st.error().message();
  s = good;
  s.enable.pop_back();
  st = plic.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("enable"), std::string::npos) << st.error().message();
  s = good;
  s.threshold[1] = 100;
  st = plic.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("threshold[1]"), std::string::npos) << st.error().message();
  EXPECT_EQ(plic.save(), good);
}

}  // namespace
}  // namespace tandem::dev
