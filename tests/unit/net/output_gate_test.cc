#include "net/output_gate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::net {
namespace {

struct Recorder {
  std::vector<std::string> frames;
  OutputGate::Sink sink() {
    return [this](const uint8_t* p, size_t n) { frames.emplace_back(p, p + n); };
  }
};

Status hold(OutputGate& g, uint64_t epoch, const std::string& s) {
  return g.hold(epoch, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(OutputGate, PassThroughDeliversAtOnce) {
  Recorder r;
  OutputGate g(r.sink());  // replication off by default
  EXPECT_TRUE(g.pass_through());
  ASSERT_TRUE(hold(g, 7, "a").ok());
  ASSERT_TRUE(hold(g, 3, "b").ok());  // epochs mean nothing here
  EXPECT_EQ(r.frames, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.held_frames(), 0u);
}

TEST(OutputGate, HoldsUntilItsEpochIsReleasedInOrder) {
  Recorder r;
  OutputGate g(r.sink(), /*pass_through=*/false);
  ASSERT_TRUE(hold(g, 1, "a1").ok());
  ASSERT_TRUE(hold(g, 1, "b1").ok());
  ASSERT_TRUE(hold(g, 2, "c2").ok());
  ASSERT_TRUE(hold(g, 4, "d4").ok());
  EXPECT_TRUE(r.frames.empty());
  EXPECT_EQ(g.held_frames(), 4u);
  EXPECT_EQ(g.held_bytes(), 8u);

  EXPECT_EQ(g.release_through(0), 0u);
  EXPECT_TRUE(r.frames.empty());
  EXPECT_EQ(g.release_through(1), 2u);
  EXPECT_EQ(r.frames, (std::vector<std::string>{"a1", "b1"}));
  // Epoch 3 had no output; releasing through it frees epoch 2 only.
  EXPECT_EQ(g.release_through(3), 1u);
  EXPECT_EQ(r.frames.back(), "c2");
  EXPECT_EQ(g.held_frames(), 1u);
  EXPECT_EQ(g.held_bytes(), 2u);
  EXPECT_EQ(g.released_through(), std::optional<uint64_t>(3));
  // A late, lower acknowledgement changes nothing.
  EXPECT_EQ(g.release_through(2), 0u);
  EXPECT_EQ(g.released_through(), std::optional<uint64_t>(3));
  ASSERT_TRUE(hold(g, 5, "e5").ok());
  EXPECT_EQ(g.release_through(10), 2u);
  EXPECT_EQ(r.frames, (std::vector<std::string>{"a1", "b1", "c2", "d4", "e5"}));
  EXPECT_EQ(g.held_bytes(), 0u);
}

TEST(OutputGate, ReleaseAllKeepsTheEpochOpen) {
  Recorder r;
  OutputGate g(r.sink(), /*pass_through=*/false);
  ASSERT_TRUE(hold(g, 3, "a").ok());
  ASSERT_TRUE(hold(g, 3, "b").ok());
  EXPECT_EQ(g.release_all(), 2u);
  EXPECT_EQ(r.frames, (std::vector<std::string>{"a", "b"}));
  // Unlike release_through(3), later output of epoch 3 is still held.
  ASSERT_TRUE(hold(g, 3, "c").ok());
  EXPECT_EQ(g.held_frames(), 1u);
  EXPECT_FALSE(g.released_through().has_value());
  EXPECT_EQ(g.release_all(), 1u);
  EXPECT_EQ(r.frames.back(), "c");
}

TEST(OutputGate, RefusesFramesOfOlderOrReleasedEpochs) {
  Recorder r;
  OutputGate g(r.sink(), false);
  ASSERT_TRUE(hold(g, 5, "x").ok());
  Status older = hold(g, 4, "y");
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().message(), "output gate: frame of epoch 4 after a frame of epoch 5");
  g.release_through(5);
  Status released = hold(g, 5, "z");
  ASSERT_FALSE(released.ok());
  EXPECT_EQ(released.error().message(), "output gate: frame of epoch 5 after epoch 5 was released");
  EXPECT_EQ(r.frames, (std::vector<std::string>{"x"}));  // refused frames are dropped
  EXPECT_TRUE(hold(g, 6, "w").ok());
}

TEST(OutputGate, SwitchingToPassThroughFlushesInOrder) {
  Recorder r;
  OutputGate g(r.sink(), false);
  ASSERT_TRUE(hold(g, 1, "a").ok());
  ASSERT_TRUE(hold(g, 2, "b").ok());
  g.release_through(0);
  g.set_pass_through(true);
  EXPECT_EQ(r.frames, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.held_frames(), 0u);
  EXPECT_FALSE(g.released_through().has_value());
  // A new replication run may count epochs from the start again.
  g.set_pass_through(false);
  EXPECT_TRUE(hold(g, 0, "c").ok());
  EXPECT_EQ(r.frames.size(), 2u);
}

TEST(OutputGate, DiscardDropsHeldFrames) {
  Recorder r;
  OutputGate g(r.sink(), false);
  ASSERT_TRUE(hold(g, 1, "a").ok());
  g.discard_all();
  EXPECT_EQ(g.held_frames(), 0u);
  EXPECT_EQ(g.held_bytes(), 0u);
  EXPECT_EQ(g.release_through(1), 0u);
  EXPECT_TRUE(r.frames.empty());
}

TEST(OutputGate, SinkMayHoldAgainWhileReleasing) {
  // A sink that queues a follow-up frame must not disturb the release.
  std::vector<std::string> seen;
  OutputGate* gate = nullptr;
  OutputGate g(
      [&](const uint8_t* p, size_t n) {
        seen.emplace_back(p, p + n);
        if (seen.size() == 1) {
          EXPECT_TRUE(hold(*gate, 9, "later").ok());
        }
      },
      false);
  gate = &g;
  ASSERT_TRUE(hold(g, 1, "a").ok());
  ASSERT_TRUE(hold(g, 1, "b").ok());
  EXPECT_EQ(g.release_through(1), 2u);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.held_frames(), 1u);
}

}  // namespace
}  // namespace tandem::net
