// base::Thread: runs its body once, joins, and starts on another core.
#include "base/thread.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>

namespace tandem {
namespace {

TEST(Thread, RunsItsBodyAndJoins) {
  std::atomic<int> runs{0};
  {
    Thread t([&] { runs++; });
    EXPECT_TRUE(t.joinable());
    t.join();
    EXPECT_FALSE(t.joinable());
  }
  EXPECT_EQ(runs, 1);
  {
    Thread t([&] { runs++; });
  }  // the destructor joins
  EXPECT_EQ(runs, 2);
  Thread moved;
  moved = Thread([&] { runs++; });
  moved.join();
  EXPECT_EQ(runs, 3);
}

// Linux starts a std::thread on its creator's core (200 of 200 here);
// a Thread starts on another one, and has the creator's affinity again by
// the time its body runs.
TEST(Thread, StartsOnAnotherCoreWithTheCreatorsAffinity) {
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  if (CPU_COUNT(&mine) < 2) GTEST_SKIP() << "one core allowed: nowhere else to start";
  constexpr int kTries = 20;
  int elsewhere = 0, same_affinity = 0;
  for (int i = 0; i < kTries; i++) {
    const int here = sched_getcpu();
    int there = -1;
    cpu_set_t theirs;
    CPU_ZERO(&theirs);
    Thread t([&] {
      there = sched_getcpu();
      sched_getaffinity(0, sizeof theirs, &theirs);
    });
    t.join();
    elsewhere += there != here;
    same_affinity += CPU_EQUAL(&theirs, &mine);
  }
  // The creator may itself move between its sched_getcpu() and the start.
  EXPECT_GE(elsewhere, kTries * 3 / 4) << "the thread started on its creator's core";
  EXPECT_EQ(same_affinity, kTries) << "the thread kept its start-up affinity";
}

}  // namespace
}  // namespace tandem
