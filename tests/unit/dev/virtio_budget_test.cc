// The per-slice work budget of a virtio queue (kVirtioQueueBudgetRequests,
// kVirtioQueueBudgetBytes): a ring that re-arms itself through the
// device's own writes cannot keep one notify running, the work left over
// is done by later slices (VirtioMmio::new_slice(), which the run loop
// calls), and a driver that stays within the budget sees every request
// done within its notify, as before.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_rng.h"
#include "dev_test_util.h"
#include "virtio_test_driver.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::VirtioTestDriver;

constexpr unsigned kIrq = 1;

// Fills with 0, 1, 2, ... (a counter across calls).
class CountingSource : public EntropySource {
 public:
  size_t fill(uint8_t* buf, size_t len) override {
    for (size_t i = 0; i < len; i++) buf[i] = next++;
    return len;
  }
  uint8_t next = 0;
};

// --- a virtio-blk ring that re-arms itself ---
//
// One chain, head 0: a 16-byte request header inside the window, a
// device-writable 512-byte data "window" that starts at avail.idx, and a
// status byte. Reading sector k into the window writes avail.idx = k + 2
// (one more buffer available), ring entries naming head 0, and a header
// asking for sector k + 1: each completed request posts the next, until
// the last sector, which leaves avail.idx where it is.
constexpr uint32_t kQueueSize = 8;
constexpr uint64_t kWindowLen = 512;
constexpr uint64_t kHeaderInWindow = 254;  // the header sits at avail + 256
constexpr uint32_t kRearmedRequests = 1000;

class RearmingImage {
 public:
  RearmingImage() {
    char tmpl[] = "/tmp/tandem-budget-XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path_ = tmpl;
    std::vector<uint8_t> image(kRearmedRequests * kSectorSize, 0);
    for (uint32_t k = 0; k < kRearmedRequests; k++) {
      uint8_t* s = image.data() + k * kSectorSize;
      bool last = k + 1 == kRearmedRequests;
      store_le<uint16_t>(s, static_cast<uint16_t>(last ? k + 1 : k + 2));  // avail.idx
      // ring[] stays 0 (head 0); the next header: IN, sector k + 1.
      store_le<uint32_t>(s + kHeaderInWindow, kVirtioBlkTIn);
      store_le<uint64_t>(s + kHeaderInWindow + 8, k + 1);
    }
    EXPECT_EQ(::write(fd, image.data(), image.size()), static_cast<ssize_t>(image.size()));
    ::close(fd);
  }
  ~RearmingImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RearmingRing : ::testing::Test {
  RearmingImage image;
  std::unique_ptr<mem::GuestMemory> ram = testing::make_ram();
  std::unique_ptr<VirtioBlk> blk;
  IrqRecorder plic;
  std::unique_ptr<VirtioMmio> dev;
  std::unique_ptr<VirtioTestDriver> drv;
  uint64_t status_byte = 0;

  void SetUp() override {
    auto b = VirtioBlk::open({image.path(), false, ""});
    ASSERT_TRUE(b.ok()) << b.error().message();
    blk = std::move(b).value();
    dev = std::make_unique<VirtioMmio>(*ram, *blk, IrqLine(&plic, kIrq));
    drv = std::make_unique<VirtioTestDriver>(*dev, *ram);
    // Without EVENT_IDX the window does not move used_event: every batch
    // interrupts.
    drv->init({kQueueSize}, feature_bit(kVirtioFEventIdx));
    uint64_t avail = drv->avail_addr(0);
    uint64_t header = avail + 2 + kHeaderInWindow;
    drv->poke_le<uint32_t>(header, kVirtioBlkTIn);
    drv->poke_le<uint64_t>(header + 8, 0);
    status_byte = drv->alloc(1);
    drv->add(0, {{header, 16, false}, {avail + 2, kWindowLen, true}, {status_byte, 1, true}});
  }
};

TEST_F(RearmingRing, OneNotifyDoesABoundedBatchAndLaterSlicesFinishTheRest) {
  drv->notify(0);
  // The notify returned after one budget's worth of requests, with the
  // rest owed to the next slice.
  EXPECT_EQ(drv->used_idx(0), kVirtioQueueBudgetRequests);
  EXPECT_TRUE(dev->has_deferred());
  EXPECT_TRUE(dev->save().queues[0].deferred);
  EXPECT_EQ(drv->status() & kVirtioStatusNeedsReset, 0u);
  EXPECT_TRUE(plic.level(kIrq)) << "the finished batch is announced";
  EXPECT_EQ(drv->peek_le<uint16_t>(drv->avail_addr(0) + 2), kVirtioQueueBudgetRequests + 1)
      << "the ring did re-arm itself";

  // More notifies in the same slice add nothing: the budget is spent.
  drv->notify(0);
  drv->notify(0);
  EXPECT_EQ(drv->used_idx(0), kVirtioQueueBudgetRequests);

  // Each later slice does at most one more budget, until the chain of
  // re-armed requests ends.
  uint32_t done = kVirtioQueueBudgetRequests;
  int slices = 0;
  while (dev->has_deferred()) {
    ASSERT_LT(++slices, 10);
    drv->ack(kVirtioIntUsedBuffer);
    EXPECT_TRUE(dev->new_slice());
    uint32_t now = drv->used_idx(0);
    EXPECT_LE(now - done, kVirtioQueueBudgetRequests);
    EXPECT_GT(now, done);
    EXPECT_TRUE(drv->isr() & kVirtioIntUsedBuffer) << "every batch interrupts";
    done = now;
  }
  EXPECT_EQ(done, kRearmedRequests);
  EXPECT_EQ(drv->peek(status_byte, 1)[0], kVirtioBlkSOk);
  EXPECT_EQ(drv->status() & kVirtioStatusNeedsReset, 0u);
  EXPECT_FALSE(dev->new_slice()) << "nothing is owed any more";
  EXPECT_EQ(drv->used_idx(0), kRearmedRequests);
}

TEST_F(RearmingRing, DeferredWorkSurvivesSaveAndRestore) {
  drv->notify(0);
  ASSERT_TRUE(dev->has_deferred());
  VirtioMmio::State s = dev->save();

  // A fresh transport over the same memory and image, as after restore.
  auto b = VirtioBlk::open({image.path(), false, ""});
  ASSERT_TRUE(b.ok());
  IrqRecorder plic2;
  VirtioMmio dev2(*ram, **b, IrqLine(&plic2, kIrq));
  ASSERT_TRUE(dev2.restore(s).ok());
  EXPECT_TRUE(dev2.has_deferred());
  while (dev2.new_slice()) {
  }
  EXPECT_EQ(drv->used_idx(0), kRearmedRequests);
}

TEST_F(RearmingRing, ResetOrAStoppedQueueOwesNothing) {
  drv->notify(0);
  ASSERT_TRUE(dev->has_deferred());
  drv->w(kVirtioMmioQueueSel, 0);
  drv->w(kVirtioMmioQueueReady, 0);
  EXPECT_FALSE(dev->has_deferred());
  EXPECT_FALSE(dev->new_slice());
  EXPECT_EQ(drv->used_idx(0), kVirtioQueueBudgetRequests) << "a queue that is not ready is not touched";
}

// --- a well-behaved driver within the budget, and the byte bound ---

struct RngBudget : ::testing::Test {
  std::unique_ptr<mem::GuestMemory> ram = testing::make_ram();
  CountingSource source;
  VirtioRng rng{&source};
  IrqRecorder plic;
  VirtioMmio dev{*ram, rng, IrqLine(&plic, kIrq)};
  VirtioTestDriver drv{dev, *ram};

  // A request posted once the budget is spent, in the same slice, waits
  // for the next slice and is done there.
  void request_after_budget() {
    uint16_t before = drv.used_idx(0);
    drv.write_desc(0, 0, drv.alloc(8), 8, kVirtqDescFWrite, 0);
    drv.publish(0, 0);
    drv.notify(0);
    EXPECT_EQ(drv.used_idx(0), before) << "the budget is spent";
    EXPECT_TRUE(dev.has_deferred());
    EXPECT_TRUE(dev.new_slice());
    EXPECT_EQ(drv.used_idx(0), static_cast<uint16_t>(before + 1));
    EXPECT_EQ(drv.avail_event(0), drv.used_idx(0)) << "and asks for the next notification";
  }
};

TEST_F(RngBudget, AFullRingIsDoneInItsNotifyWithOneInterrupt) {
  drv.init({256});
  uint64_t buf = drv.alloc(64);
  // 256 chains of one descriptor each: a whole ring, posted at once.
  for (uint32_t i = 0; i < 256; i++) {
    drv.write_desc(0, i, buf, 64, kVirtqDescFWrite, 0);
    drv.publish(0, static_cast<uint16_t>(i));
  }
  int calls = plic.calls;
  drv.notify(0);
  EXPECT_EQ(drv.used_idx(0), 256);
  EXPECT_FALSE(dev.has_deferred());
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(plic.calls, calls + 1) << "one interrupt for the batch";
  // The budget ran out with the last request: the device must still ask
  // for the next notification (EVENT_IDX, 2.6.10), or the driver, seeing
  // an old avail_event, would never notify again (Linux hung so).
  EXPECT_EQ(drv.avail_event(0), 256);
  request_after_budget();
}

TEST_F(RngBudget, LargeBuffersAreBoundedByBytes) {
  drv.init({256});
  constexpr uint32_t kChains = 200;
  constexpr uint32_t kLen = 64 * 1024;  // the most virtio-rng fills per request
  uint64_t buf = drv.alloc(kLen);
  for (uint32_t i = 0; i < kChains; i++) {
    drv.write_desc(0, i, buf, kLen, kVirtqDescFWrite, 0);
    drv.publish(0, static_cast<uint16_t>(i));
  }
  drv.notify(0);
  // Each request costs its 64 KiB plus one descriptor: the byte budget
  // ends the batch after the request that crosses it.
  uint32_t first = drv.used_idx(0);
  EXPECT_EQ(first, (kVirtioQueueBudgetBytes + kLen + 15) / (kLen + 16));
  EXPECT_TRUE(dev.has_deferred());
  EXPECT_TRUE(dev.new_slice());
  EXPECT_EQ(drv.used_idx(0), kChains);
  EXPECT_FALSE(dev.has_deferred());
  EXPECT_EQ(drv.avail_event(0), kChains);
  VirtioTestDriver::Used u{};
  for (uint32_t i = 0; i < kChains; i++) {
    ASSERT_TRUE(drv.next_used(0, &u));
    EXPECT_EQ(u.id, i);
    EXPECT_EQ(u.len, kLen);
  }
}

}  // namespace
}  // namespace tandem::dev
