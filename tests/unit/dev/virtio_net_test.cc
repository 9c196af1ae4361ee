#include "dev/virtio_net.h"

#include <gtest/gtest.h>

#include <vector>

#include "dev/virtio_mmio.h"
#include "dev_test_util.h"
#include "virtio_test_driver.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::VirtioTestDriver;

constexpr unsigned kIrq = 3;

struct FrameSink : PacketSink {
  void send(const uint8_t* frame, size_t len) override { frames.emplace_back(frame, frame + len); }
  std::vector<std::vector<uint8_t>> frames;
};

std::vector<uint8_t> make_frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; i++) f[i] = static_cast<uint8_t>(seed + i);
  return f;
}

struct NetTest : ::testing::Test {
  std::unique_ptr<mem::GuestMemory> ram = testing::make_ram();
  FrameSink sink;
  VirtioNet net{&sink};
  IrqRecorder plic;
  VirtioMmio dev{*ram, net, IrqLine(&plic, kIrq)};
  VirtioTestDriver drv{dev, *ram};
  void SetUp() override { drv.init({16, 16}); }
};

TEST_F(NetTest, ConfigHasMacAndLinkUp) {
  EXPECT_EQ(drv.r(kVirtioMmioDeviceId), kVirtioIdNet);
  uint64_t f = drv.device_features();
  EXPECT_TRUE(f & feature_bit(kVirtioNetFMac));
  EXPECT_TRUE(f & feature_bit(kVirtioNetFStatus));
  std::vector<uint8_t> mac;
  for (unsigned i = 0; i < 6; i++) {
    uint64_t v;
    ASSERT_TRUE(dev.load(kVirtioMmioConfig + i, 1, &v));
    mac.push_back(static_cast<uint8_t>(v));
  }
  EXPECT_EQ(mac, (std::vector<uint8_t>{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}));
  uint64_t status;
  ASSERT_TRUE(dev.load(kVirtioMmioConfig + 6, 2, &status));
  EXPECT_EQ(status, kVirtioNetSLinkUp);
}

TEST_F(NetTest, LinkChangeIsAConfigInterrupt) {
  uint32_t gen = drv.r(kVirtioMmioConfigGeneration);
  net.set_link_up(false);
  EXPECT_EQ(drv.isr(), kVirtioIntConfigChange);
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_NE(drv.r(kVirtioMmioConfigGeneration), gen);
  uint64_t status;
  ASSERT_TRUE(dev.load(kVirtioMmioConfig + 6, 2, &status));
  EXPECT_EQ(status, 0u);
}

TEST_F(NetTest, TransmitStripsTheHeaderAndReachesTheSink) {
  std::vector<uint8_t> frame = make_frame(98, 7);
  uint64_t hdr = drv.alloc(kVirtioNetHdrSize);
  uint64_t a = drv.alloc(40), b = drv.alloc(58);
  drv.poke(a, frame.data(), 40);
  drv.poke(b, frame.data() + 40, 58);
  uint16_t head = drv.add(kVirtioNetTxQueue, {{hdr, kVirtioNetHdrSize, false}, {a, 40, false}, {b, 58, false}});
  // A second frame with header and data in one buffer.
  std::vector<uint8_t> frame2 = make_frame(60, 99);
  uint64_t c = drv.alloc(kVirtioNetHdrSize + 60);
  drv.poke(c + kVirtioNetHdrSize, frame2.data(), 60);
  drv.add(kVirtioNetTxQueue, {{c, kVirtioNetHdrSize + 60, false}});
  drv.notify(kVirtioNetTxQueue);

  ASSERT_EQ(sink.frames.size(), 2u);
  EXPECT_EQ(sink.frames[0], frame);
  EXPECT_EQ(sink.frames[1], frame2);
  VirtioTestDriver::Used u;
  ASSERT_TRUE(drv.next_used(kVirtioNetTxQueue, &u));
  EXPECT_EQ(u.id, head);
  EXPECT_EQ(u.len, 0u);
  EXPECT_TRUE(plic.level(kIrq));
}

TEST_F(NetTest, ReceiveWaitsForABufferThenFillsIt) {
  std::vector<uint8_t> frame = make_frame(60, 1);
  EXPECT_FALSE(net.can_receive());
  EXPECT_FALSE(net.deliver(frame.data(), frame.size())) << "no buffer posted: caller keeps the frame";

  uint64_t buf = drv.alloc(1526);
  drv.poke_le<uint64_t>(buf, ~uint64_t{0});  // garbage the device must overwrite
  uint16_t head = drv.add(kVirtioNetRxQueue, {{buf, 1526, true}});
  drv.notify(kVirtioNetRxQueue);
  EXPECT_TRUE(net.can_receive());
  EXPECT_TRUE(net.deliver(frame.data(), frame.size()));
  EXPECT_FALSE(net.can_receive());

  VirtioTestDriver::Used u;
  ASSERT_TRUE(drv.next_used(kVirtioNetRxQueue, &u));
  EXPECT_EQ(u.id, head);
  EXPECT_EQ(u.len, kVirtioNetHdrSize + 60);
  std::vector<uint8_t> hdr = drv.peek(buf, kVirtioNetHdrSize);
  EXPECT_EQ(hdr[0], 0) << "flags";
  EXPECT_EQ(hdr[1], 0) << "gso_type NONE";
  EXPECT_EQ(drv.peek_le<uint16_t>(buf + kVirtioNetHdrNumBuffers), 1) << "num_buffers";
  EXPECT_EQ(drv.peek(buf + kVirtioNetHdrSize, 60), frame);
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_TRUE(ram->dirty().test(ram->page_of(buf)));
}

TEST_F(NetTest, FrameLargerThanTheBufferIsDroppedAndTheBufferKept) {
  uint64_t small = drv.alloc(64);
  drv.add(kVirtioNetRxQueue, {{small, 64, true}});
  std::vector<uint8_t> big = make_frame(1000, 0);
  EXPECT_TRUE(net.deliver(big.data(), big.size())) << "dropped, not retried";
  EXPECT_EQ(drv.used_idx(kVirtioNetRxQueue), 0);
  EXPECT_TRUE(net.can_receive()) << "the buffer is still available";
  std::vector<uint8_t> tiny = make_frame(42, 0);
  EXPECT_TRUE(net.deliver(tiny.data(), tiny.size()));
  EXPECT_EQ(drv.used_idx(kVirtioNetRxQueue), 1);
}

TEST_F(NetTest, NotLiveBeforeDriverOk) {
  VirtioTestDriver d2(dev, *ram);
  ASSERT_TRUE(d2.negotiate(d2.device_features()));
  d2.setup_queue(kVirtioNetRxQueue, 16);
  d2.add(kVirtioNetRxQueue, {{d2.alloc(1526), 1526, true}});
  std::vector<uint8_t> frame = make_frame(60, 1);
  EXPECT_FALSE(net.can_receive());
  EXPECT_FALSE(net.deliver(frame.data(), frame.size()));
}

TEST_F(NetTest, MalformedReceiveChainNeedsReset) {
  drv.write_desc(kVirtioNetRxQueue, 0, testing::kRamBase - 0x1000, 1526, kVirtqDescFWrite, 0);
  drv.publish(kVirtioNetRxQueue, 0);
  std::vector<uint8_t> frame = make_frame(60, 1);
  EXPECT_FALSE(net.deliver(frame.data(), frame.size()));
  EXPECT_TRUE(drv.status() & kVirtioStatusNeedsReset);
  EXPECT_TRUE(drv.isr() & kVirtioIntConfigChange);
  EXPECT_FALSE(net.can_receive());
}

TEST_F(NetTest, TransmitChainShorterThanTheHeaderNeedsReset) {
  drv.add(kVirtioNetTxQueue, {{drv.alloc(4), 4, false}});
  drv.notify(kVirtioNetTxQueue);
  EXPECT_TRUE(drv.status() & kVirtioStatusNeedsReset);
  EXPECT_TRUE(sink.frames.empty());
}

TEST_F(NetTest, StateRoundTrip) {
  VirtioNet::State saved = net.save();
  EXPECT_EQ(saved.mac, kDefaultMac);
  EXPECT_EQ(saved.status, kVirtioNetSLinkUp);
  net.set_link_up(false);
  EXPECT_NE(net.save(), saved);
  ASSERT_TRUE(net.restore(saved).ok());
  EXPECT_EQ(net.save(), saved);

  VirtioNet::State s = saved;
  s.mac[0] = 0x01;
  auto st = net.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("mac"), std::string::npos);
  s = saved;
  s.status = 4;
  st = net.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("status"), std::string::npos);
  EXPECT_EQ(net.save(), saved);

  // A restored MAC is what the guest reads.
  s = saved;
  s.mac = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
  ASSERT_TRUE(net.restore(s).ok());
  uint64_t v;
  ASSERT_TRUE(dev.load(kVirtioMmioConfig + 5, 1, &v));
  EXPECT_EQ(v, 0xccu);
}

}  // namespace
}  // namespace tandem::dev
