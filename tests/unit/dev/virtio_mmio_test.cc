// The virtio-mmio transport and split queues, driven through the entropy
// device (the simplest device type behind the transport).
#include "dev/virtio_mmio.h"

#include <gtest/gtest.h>

#include <random>

#include "base/log.h"
#include "dev/virtio_rng.h"
#include "dev_test_util.h"
#include "virtio_test_driver.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::kRamBase;
using testing::kRamSize;
using testing::VirtioTestDriver;

constexpr unsigned kIrq = 1;

struct CountingSource : EntropySource {
  size_t fill(uint8_t* buf, size_t len) override {
    for (size_t i = 0; i < len; i++) buf[i] = next++;
    return len;
  }
  uint8_t next = 0;
};

struct VirtioMmioTest : ::testing::Test {
  std::unique_ptr<mem::GuestMemory> ram = testing::make_ram();
  CountingSource source;
  VirtioRng rng{&source};
  IrqRecorder plic;
  VirtioMmio dev{*ram, rng, IrqLine(&plic, kIrq)};
  VirtioTestDriver drv{dev, *ram};

  // A one-descriptor request for `len` random bytes.
  uint16_t request(uint32_t len) { return drv.add(0, {{drv.alloc(len), len, true}}); }
  bool needs_reset() { return drv.status() & kVirtioStatusNeedsReset; }
};

TEST_F(VirtioMmioTest, IdentityRegisters) {
  EXPECT_EQ(drv.r(kVirtioMmioMagicValue), 0x74726976u);
  EXPECT_EQ(drv.r(kVirtioMmioVersion), 2u);
  EXPECT_EQ(drv.r(kVirtioMmioDeviceId), kVirtioIdEntropy);
  EXPECT_EQ(drv.r(kVirtioMmioVendorId), kVirtioVendorTandem);
  drv.w(kVirtioMmioQueueSel, 0);
  EXPECT_EQ(drv.r(kVirtioMmioQueueNumMax), 256u);
  drv.w(kVirtioMmioQueueSel, 1);
  EXPECT_EQ(drv.r(kVirtioMmioQueueNumMax), 0u) << "the entropy device has one queue";
  EXPECT_EQ(drv.r(kVirtioMmioShmLenLow), 0xffffffffu) << "no shared memory regions";
  EXPECT_EQ(drv.r(kVirtioMmioStatus), 0u);
  uint64_t f = drv.device_features();
  EXPECT_TRUE(f & feature_bit(kVirtioFVersion1));
  EXPECT_TRUE(f & feature_bit(kVirtioFEventIdx));
  EXPECT_TRUE(f & feature_bit(kVirtioFIndirectDesc));
  uint64_t v = 1;
  EXPECT_TRUE(dev.load(kVirtioMmioMagicValue, 2, &v));
  EXPECT_EQ(v, 0u) << "a narrow register read returns zero";
}

TEST_F(VirtioMmioTest, FeaturesOkRequiresVersion1AndASubset) {
  uint64_t offered = drv.device_features();
  EXPECT_FALSE(drv.negotiate(offered & ~feature_bit(kVirtioFVersion1)))
      << "a legacy-only driver is refused";
  EXPECT_FALSE(drv.negotiate(offered | feature_bit(40))) << "a feature not offered is refused";
  EXPECT_TRUE(drv.negotiate(feature_bit(kVirtioFVersion1)));
  // Once FEATURES_OK is set the driver's features are frozen.
  drv.w(kVirtioMmioDriverFeaturesSel, 0);
  drv.w(kVirtioMmioDriverFeatures, 0xffffffff);
  EXPECT_EQ(dev.save().driver_features, feature_bit(kVirtioFVersion1));
}

TEST_F(VirtioMmioTest, RngFillsPostedBuffers) {
  drv.init({16});
  uint64_t a = drv.alloc(64);
  uint16_t head = drv.add(0, {{a, 64, true}});
  drv.notify(0);
  VirtioTestDriver::Used u;
  ASSERT_TRUE(drv.next_used(0, &u));
  EXPECT_EQ(u.id, head);
  EXPECT_EQ(u.len, 64u);
  std::vector<uint8_t> got = drv.peek(a, 64);
  for (unsigned i = 0; i < 64; i++) ASSERT_EQ(got[i], i);
  EXPECT_EQ(drv.isr(), kVirtioIntUsedBuffer);
  EXPECT_TRUE(plic.level(kIrq));
  drv.ack(kVirtioIntUsedBuffer);
  EXPECT_FALSE(plic.level(kIrq));
  EXPECT_EQ(drv.isr(), 0u);
}

TEST_F(VirtioMmioTest, NothingIsProcessedBeforeDriverOk) {
  ASSERT_TRUE(drv.negotiate(drv.device_features()));
  drv.setup_queue(0, 8);
  request(8);
  drv.notify(0);
  EXPECT_EQ(drv.used_idx(0), 0) << "DRIVER_OK not set yet";
  drv.driver_ok();
  EXPECT_EQ(drv.used_idx(0), 1) << "buffers posted early are served at DRIVER_OK";
}

TEST_F(VirtioMmioTest, NoInterruptFlagSuppressesWithoutEventIdx) {
  drv.init({8}, feature_bit(kVirtioFEventIdx));
  drv.set_avail_flags(0, kVirtqAvailFNoInterrupt);
  request(4);
  drv.notify(0);
  EXPECT_EQ(drv.used_idx(0), 1);
  EXPECT_EQ(drv.isr(), 0u);
  EXPECT_FALSE(plic.level(kIrq));
  drv.set_avail_flags(0, 0);
  request(4);
  drv.notify(0);
  EXPECT_TRUE(plic.level(kIrq));
}

TEST_F(VirtioMmioTest, EventIdxUsedEventAndAvailEvent) {
  drv.init({8});
  request(4);
  drv.notify(0);
  EXPECT_TRUE(plic.level(kIrq)) << "the first completion always notifies";
  EXPECT_EQ(drv.avail_event(0), 1) << "the device asks to hear about avail index 1";
  drv.ack(kVirtioIntUsedBuffer);

  drv.set_used_event(0, 5);  // interrupt only once used.idx passes 5
  request(4);
  drv.notify(0);
  EXPECT_EQ(drv.used_idx(0), 2);
  EXPECT_FALSE(plic.level(kIrq));
  drv.set_used_event(0, 2);
  request(4);
  drv.notify(0);
  EXPECT_EQ(drv.used_idx(0), 3);
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(drv.avail_event(0), 3);
}

TEST_F(VirtioMmioTest, IndirectDescriptors) {
  drv.init({8});
  uint64_t table = drv.alloc(64);
  uint64_t a = drv.alloc(16), b = drv.alloc(16);
  uint16_t head = drv.add_indirect(0, table, {{a, 16, true}, {b, 16, true}});
  drv.notify(0);
  VirtioTestDriver::Used u;
  ASSERT_TRUE(drv.next_used(0, &u));
  EXPECT_EQ(u.id, head);
  EXPECT_EQ(u.len, 32u);
  EXPECT_EQ(drv.peek(b, 1)[0], 16) << "bytes continue across the indirect chain";
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioMmioTest, ResetByWritingZero) {
  drv.init({8});
  request(4);
  drv.notify(0);
  EXPECT_TRUE(plic.level(kIrq));
  drv.w(kVirtioMmioStatus, 0);
  EXPECT_EQ(drv.status(), 0u);
  EXPECT_EQ(drv.isr(), 0u);
  EXPECT_FALSE(plic.level(kIrq));
  drv.w(kVirtioMmioQueueSel, 0);
  EXPECT_EQ(drv.r(kVirtioMmioQueueReady), 0u);
  EXPECT_EQ(dev.save().queues[0], VirtQueue::State{});
}

// --- malformed guest input: DEVICE_NEEDS_RESET, never a crash ---

struct Malformed : VirtioMmioTest {
  void SetUp() override { drv.init({8}); }
  void expect_needs_reset() {
    EXPECT_TRUE(needs_reset());
    EXPECT_TRUE(drv.isr() & kVirtioIntConfigChange) << "a configuration change notifies the driver";
    EXPECT_TRUE(plic.level(kIrq));
  }
  // After the failure the device ignores the queue; a reset brings it back.
  void expect_recovers() {
    uint16_t before = drv.used_idx(0);
    drv.notify(0);
    EXPECT_EQ(drv.used_idx(0), before) << "a device needing reset processes nothing";
    VirtioTestDriver fresh(dev, *ram);
    fresh.init({8});
    EXPECT_FALSE(needs_reset());
    uint64_t a = fresh.alloc(8);
    fresh.add(0, {{a, 8, true}});
    fresh.notify(0);
    EXPECT_EQ(fresh.used_idx(0), 1);
  }
};

TEST_F(Malformed, HeadIndexOutOfRange) {
  drv.publish(0, 8);  // queue size 8: valid heads are 0..7
  drv.notify(0);
  expect_needs_reset();
  expect_recovers();
}

TEST_F(Malformed, NextIndexOutOfRange) {
  drv.write_desc(0, 0, kRamBase + 0x90000, 8, kVirtqDescFWrite | kVirtqDescFNext, 200);
  drv.publish(0, 0);
  drv.notify(0);
  expect_needs_reset();
  expect_recovers();
}

TEST_F(Malformed, LoopInAChain) {
  drv.write_desc(0, 0, kRamBase + 0x90000, 8, kVirtqDescFWrite | kVirtqDescFNext, 1);
  drv.write_desc(0, 1, kRamBase + 0x91000, 8, kVirtqDescFWrite | kVirtqDescFNext, 0);
  drv.publish(0, 0);
  drv.notify(0);
  expect_needs_reset();
  expect_recovers();
}

TEST_F(Malformed, BufferOutsideRam) {
  drv.write_desc(0, 0, kRamBase + kRamSize - 4, 8, kVirtqDescFWrite, 0);  // straddles the end
  drv.publish(0, 0);
  drv.notify(0);
  expect_needs_reset();
  expect_recovers();
}

TEST_F(Malformed, BufferAtMmioAddress) {
  drv.write_desc(0, 0, 0x10000000, 16, kVirtqDescFWrite, 0);  // the UART, not RAM
  drv.publish(0, 0);
  drv.notify(0);
  expect_needs_reset();
}

TEST_F(Malformed, AvailIndexRunsAhead) {
  drv.poke_le<uint16_t>(drv.avail_addr(0) + 2, 100);
  drv.notify(0);
  expect_needs_reset();
}

TEST_F(Malformed, IndirectTableLoopsAndNesting) {
  uint64_t table = drv.alloc(32);
  drv.write_desc_at(table, kRamBase + 0x90000, 8, kVirtqDescFWrite | kVirtqDescFNext, 1);
  drv.write_desc_at(table + 16, kRamBase + 0x90000, 8, kVirtqDescFWrite | kVirtqDescFNext, 0);
  drv.write_desc(0, 0, table, 32, kVirtqDescFIndirect, 0);
  drv.publish(0, 0);
  drv.notify(0);
  expect_needs_reset();
  expect_recovers();

  VirtioTestDriver d2(dev, *ram);
  d2.init({8});
  d2.write_desc_at(table, table, 16, kVirtqDescFIndirect, 0);  // an indirect table inside one
  d2.write_desc(0, 0, table, 16, kVirtqDescFIndirect, 0);
  d2.publish(0, 0);
  d2.notify(0);
  EXPECT_TRUE(needs_reset());
}

TEST_F(Malformed, QueueLayoutIsCheckedAtQueueReady) {
  VirtioTestDriver d2(dev, *ram);
  ASSERT_TRUE(d2.negotiate(d2.device_features()));
  d2.w(kVirtioMmioQueueSel, 0);
  d2.w(kVirtioMmioQueueNum, 6);  // not a power of two
  d2.w(kVirtioMmioQueueDescLow, static_cast<uint32_t>(kRamBase));
  d2.w(kVirtioMmioQueueDriverLow, static_cast<uint32_t>(kRamBase + 0x1000));
  d2.w(kVirtioMmioQueueDeviceLow, static_cast<uint32_t>(kRamBase + 0x2000));
  d2.w(kVirtioMmioQueueReady, 1);
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(d2.r(kVirtioMmioQueueReady), 0u);

  ASSERT_TRUE(d2.negotiate(d2.device_features()));
  d2.w(kVirtioMmioQueueNum, 8);
  d2.w(kVirtioMmioQueueDescLow, 0x1000);  // below RAM
  d2.w(kVirtioMmioQueueDescHigh, 0);
  d2.w(kVirtioMmioQueueReady, 1);
  EXPECT_TRUE(needs_reset());
}

TEST_F(VirtioMmioTest, RandomRingContentsNeverCrash) {
  // Seeded garbage in the descriptor table and available ring, with
  // descriptors aimed at RAM, just past it, and at the rings themselves:
  // each round must end with buffers used or the device needing a reset.
  std::mt19937_64 rnd(12345);
  int served = 0, failed = 0;
  LogLevel saved_level = log_level();
  set_log_level(LogLevel::kError);  // hundreds of expected "needs reset" warnings
  for (int round = 0; round < 300; round++) {
    VirtioTestDriver d(dev, *ram);
    d.init({8});
    for (uint32_t i = 0; i < 8; i++) {
      uint64_t targets[] = {kRamBase + rnd() % kRamSize, kRamBase + kRamSize - rnd() % 64,
                            d.desc_addr(0) + rnd() % 256, rnd()};
      uint16_t flags = static_cast<uint16_t>(rnd() & 7);
      d.write_desc(0, i, targets[rnd() % 4], static_cast<uint32_t>(rnd() % 5000), flags,
                   static_cast<uint16_t>(rnd() % 12));
    }
    for (int n = 1 + static_cast<int>(rnd() % 4); n > 0; n--) d.publish(0, static_cast<uint16_t>(rnd() % 10));
    d.notify(0);
    if (needs_reset())
      failed++;
    else if (d.used_idx(0) > 0)
      served++;
  }
  set_log_level(saved_level);
  EXPECT_GT(served, 0);
  EXPECT_GT(failed, 0);
  EXPECT_EQ(served + failed, 300) << "every round either completes or fails cleanly";
}

// --- state ---

TEST_F(VirtioMmioTest, StateRoundTripAndContinueInAFreshTransport) {
  drv.init({16});
  request(8);
  drv.notify(0);
  VirtioMmio::State saved = dev.save();
  EXPECT_EQ(saved.queues[0].used_idx, 1);
  EXPECT_EQ(saved.interrupt_status, kVirtioIntUsedBuffer);

  drv.ack(kVirtioIntUsedBuffer);
  request(8);
  drv.notify(0);
  EXPECT_NE(dev.save(), saved);
  ASSERT_TRUE(dev.restore(saved).ok());
  EXPECT_EQ(dev.save(), saved);
  EXPECT_TRUE(plic.level(kIrq)) << "restore re-drives the IRQ line";

  // A new transport restored from the state serves the next request.
  ASSERT_TRUE(dev.restore(saved).ok());
  VirtioMmio::State now = dev.save();
  CountingSource source2;
  VirtioRng rng2{&source2};
  IrqRecorder plic2;
  VirtioMmio dev2{*ram, rng2, IrqLine(&plic2, kIrq)};
  ASSERT_TRUE(dev2.restore(now).ok());
  EXPECT_TRUE(plic2.level(kIrq));
  drv.rebind(dev2);
  drv.ack(kVirtioIntUsedBuffer);
  drv.notify(0);  // the request made after the save is still in the ring
  EXPECT_EQ(drv.used_idx(0), 2);
  EXPECT_TRUE(plic2.level(kIrq));
}

TEST_F(VirtioMmioTest, RestoreRejectsBadState) {
  drv.init({16});
  VirtioMmio::State good = dev.save();
  auto expect_rejected = [&](VirtioMmio::State s, const char* field) {
    auto st = dev.restore(s);
    ASSERT_FALSE(st.ok()) << field;
    EXPECT_NE(st.error().message().find(field), std::string::npos) << st.error().message();
    EXPECT_EQ(dev.save(), good) << "a rejected restore changes nothing";
  };
  VirtioMmio::State s = good;
  s.device_id = 2;  // a block device
  expect_rejected(s, "device_id");
  s = good;
  s.driver_features |= feature_bit(40);
  expect_rejected(s, "driver_features");
  s = good;
  s.driver_features &= ~feature_bit(kVirtioFVersion1);
  expect_rejected(s, "VERSION_1");
  s = good;
  s.status |= 0x10;
  expect_rejected(s, "status");
  s = good;
  s.queues.push_back({});
  expect_rejected(s, "queues");
  s = good;
  s.queues[0].num = 12;
  expect_rejected(s, "queues[0].num");
  s = good;
  s.queues[0].num = 512;
  expect_rejected(s, "queues[0].num");
  s = good;
  s.queues[0].desc = kRamBase + kRamSize - 16;
  expect_rejected(s, "queues[0].desc");
  s = good;
  s.queues[0].device = kRamBase + 2;
  expect_rejected(s, "queues[0].device");
  s = good;
  s.queues[0].ready = 0;
  s.queues[0].deferred = true;
  expect_rejected(s, "deferred");
}

// --- what a guest may write must restore (issue 15, item 2) ---

// Saves, restores into a fresh transport, and expects the same state.
void expect_restorable(const VirtioMmio& dev, mem::GuestMemory& ram) {
  VirtioMmio::State s = dev.save();
  VirtioRng rng2(nullptr);
  IrqRecorder plic2;
  VirtioMmio fresh(ram, rng2, IrqLine(&plic2, kIrq));
  Status st = fresh.restore(s);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(fresh.save(), s);
}

TEST_F(VirtioMmioTest, StatusHoldsOnlyTheBitsOfTheSpec) {
  drv.w(kVirtioMmioStatus, 0xffffffff);
  // 2.1: ACKNOWLEDGE, DRIVER, DRIVER_OK, FAILED; FEATURES_OK is refused
  // (no features were accepted) and DEVICE_NEEDS_RESET is the device's.
  EXPECT_EQ(drv.status(), kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusDriverOk |
                              kVirtioStatusFailed);
  expect_restorable(dev, *ram);
  drv.w(kVirtioMmioStatus, 0x100);  // no known bit: not a reset either
  EXPECT_EQ(drv.status(), 0u);
  expect_restorable(dev, *ram);
}

TEST_F(VirtioMmioTest, DriverFeaturesNotOfferedAreKeptButRefusedAtFeaturesOk) {
  drv.w(kVirtioMmioStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  drv.w(kVirtioMmioDriverFeaturesSel, 0);
  drv.w(kVirtioMmioDriverFeatures, 0xffffffff);
  drv.w(kVirtioMmioDriverFeaturesSel, 1);
  drv.w(kVirtioMmioDriverFeatures, 0xffffffff);
  expect_restorable(dev, *ram);
  // 2.2.2: the device refuses FEATURES_OK for features it did not offer.
  drv.w(kVirtioMmioStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
  EXPECT_FALSE(drv.status() & kVirtioStatusFeaturesOk);
  expect_restorable(dev, *ram);
  // Restore still refuses them once FEATURES_OK is set.
  VirtioMmio::State s = dev.save();
  s.status |= kVirtioStatusFeaturesOk;
  Status st = dev.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("does not offer"), std::string::npos) << st.error().message();
}

TEST_F(VirtioMmioTest, QueueNumAboveQueueNumMaxNeedsResetAndIsNotKept) {
  LogLevel saved_level = log_level();
  set_log_level(LogLevel::kError);
  drv.w(kVirtioMmioQueueSel, 0);
  drv.w(kVirtioMmioQueueNum, 16);
  drv.w(kVirtioMmioQueueNum, 0xffffffff);
  set_log_level(saved_level);
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(drv.r(kVirtioMmioQueueNum), 16u);
  expect_restorable(dev, *ram);
  // A reset clears it, and the queue can be set up as usual.
  drv.init({16});
  EXPECT_FALSE(needs_reset());
  request(8);
  drv.notify(0);
  EXPECT_EQ(drv.used_idx(0), 1);
}

TEST_F(VirtioMmioTest, RngStateRoundTrip) {
  // The entropy device keeps nothing of its own: its state is empty.
  VirtioRng::State s = rng.save();
  EXPECT_TRUE(rng.restore(s).ok());
  EXPECT_EQ(rng.save(), s);
}

}  // namespace
}  // namespace tandem::dev
