#include "base/wakeup.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <thread>

namespace tandem {
namespace {

TEST(Wakeup, SignalsCoalesceUntilDrained) {
  Wakeup w;
  pollfd p{w.fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  w.signal();
  w.signal();
  EXPECT_EQ(poll(&p, 1, 0), 1);
  w.drain();
  EXPECT_EQ(poll(&p, 1, 0), 0);
  w.signal();
  EXPECT_EQ(poll(&p, 1, 0), 1);
}

// A consumer that sleeps in poll() until woken must never sleep through
// work a producer left: each item is followed by a signal().
TEST(Wakeup, NoSignalIsLostBetweenAProducerAndAPollingConsumer) {
  Wakeup w;
  constexpr uint64_t kItems = 1'000'000;
  std::atomic<uint64_t> produced{0};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kItems; i++) {
      produced.fetch_add(1);
      w.signal();
    }
  });
  uint64_t consumed = 0;
  bool stuck = false;
  while (consumed < kItems) {
    pollfd p{w.fd(), POLLIN, 0};
    if (poll(&p, 1, 2000) == 0) {  // two seconds with nothing: a lost wake-up
      stuck = produced.load() > consumed;
      if (stuck) break;
      continue;
    }
    w.drain();
    consumed = produced.load();
  }
  producer.join();
  EXPECT_FALSE(stuck) << "slept with " << produced.load() - consumed << " items left";
}

}  // namespace
}  // namespace tandem
