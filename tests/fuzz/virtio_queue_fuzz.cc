// Harness: virtqueue processing (dev/virtio_queue.h) behind virtio-mmio,
// for virtio-blk (on a 32 KiB in-memory image) and virtio-rng, with a guest
// memory whose contents the fuzzer writes: descriptor tables, rings,
// indirect tables and request headers. The driver side is set up through
// the registers as Linux does; then the queue is notified and the run
// loop's slices are simulated so that deferred work runs too.
//
// Input: 16 bytes of set-up, then the first 256 KiB of RAM.
//   [0]      device: even virtio-rng, odd virtio-blk
//   [1]      bit 0: also negotiate the device's optional features
//   [2..3]   QueueNum (u16)
//   [4..5]   descriptor table offset in RAM / 16
//   [6..7]   available ring offset / 2
//   [8..9]   used ring offset / 4
//   [10]     notifications (1..8)
//   [11..15] reserved
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/irq.h"
#include "base/log.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_mmio.h"
#include "dev/virtio_rng.h"
#include "fuzz_util.h"

namespace {

using namespace tandem;
constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kRamSize = 256 << 10;
constexpr size_t kSetup = 16;

struct NullIrq : IrqSink {
  void set_irq(unsigned, bool) override {}
};

struct PatternEntropy : dev::EntropySource {
  size_t fill(uint8_t* buf, size_t len) override {
    std::memset(buf, 0xa5, len);
    return len;
  }
};

uint16_t u16_at(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

void w(dev::VirtioMmio& d, uint64_t off, uint32_t v) { (void)d.store(off, 4, v); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kSetup) return 0;
  // Every malformed ring warns (DEVICE_NEEDS_RESET); millions would drown
  // the fuzzer's output.
  static const bool quiet = (set_log_level(LogLevel::kError), true);
  (void)quiet;
  static auto ram = std::move(mem::GuestMemory::create(kRamBase, kRamSize)).value();
  static std::vector<uint8_t> image(64 * 512, 0x5a);
  static fuzz::MemFile image_file(image.data(), image.size());
  static NullIrq irq;
  static PatternEntropy entropy;

  std::vector<uint8_t> contents(kRamSize, 0);
  std::memcpy(contents.data(), data + kSetup, std::min(size - kSetup, contents.size()));
  TANDEM_FUZZ_CHECK(ram->write(kRamBase, contents.data(), contents.size()).ok());

  std::unique_ptr<dev::VirtioDevice> device;
  if (data[0] & 1) {
    auto blk = dev::VirtioBlk::open({image_file.path(), false, "fuzz"});
    TANDEM_FUZZ_CHECK(blk.ok());
    device = std::move(blk).value();
  } else {
    device = std::make_unique<dev::VirtioRng>(&entropy);
  }
  dev::VirtioMmio d(*ram, *device, IrqLine(&irq, 1));

  // Status sequence and feature negotiation (virtio 1.1 3.1.1).
  w(d, dev::kVirtioMmioStatus, 0);
  w(d, dev::kVirtioMmioStatus, dev::kVirtioStatusAcknowledge | dev::kVirtioStatusDriver);
  uint64_t offered = 0;
  for (uint32_t sel : {1u, 0u}) {
    w(d, dev::kVirtioMmioDeviceFeaturesSel, sel);
    uint64_t v = 0;
    (void)d.load(dev::kVirtioMmioDeviceFeatures, 4, &v);
    offered = offered << 32 | v;
  }
  uint64_t wanted = (data[1] & 1) ? offered : offered & (uint64_t{1} << 32);  // VERSION_1 only
  w(d, dev::kVirtioMmioDriverFeaturesSel, 1);
  w(d, dev::kVirtioMmioDriverFeatures, static_cast<uint32_t>(wanted >> 32));
  w(d, dev::kVirtioMmioDriverFeaturesSel, 0);
  w(d, dev::kVirtioMmioDriverFeatures, static_cast<uint32_t>(wanted));
  w(d, dev::kVirtioMmioStatus,
    dev::kVirtioStatusAcknowledge | dev::kVirtioStatusDriver | dev::kVirtioStatusFeaturesOk);

  uint64_t desc = kRamBase + uint64_t{u16_at(data + 4)} * 16 % kRamSize;
  uint64_t avail = kRamBase + uint64_t{u16_at(data + 6)} * 2 % kRamSize;
  uint64_t used = kRamBase + uint64_t{u16_at(data + 8)} * 4 % kRamSize;
  w(d, dev::kVirtioMmioQueueSel, 0);
  w(d, dev::kVirtioMmioQueueNum, u16_at(data + 2));
  w(d, dev::kVirtioMmioQueueDescLow, static_cast<uint32_t>(desc));
  w(d, dev::kVirtioMmioQueueDescHigh, 0);
  w(d, dev::kVirtioMmioQueueDriverLow, static_cast<uint32_t>(avail));
  w(d, dev::kVirtioMmioQueueDriverHigh, 0);
  w(d, dev::kVirtioMmioQueueDeviceLow, static_cast<uint32_t>(used));
  w(d, dev::kVirtioMmioQueueDeviceHigh, 0);
  w(d, dev::kVirtioMmioQueueReady, 1);
  w(d, dev::kVirtioMmioStatus, dev::kVirtioStatusAcknowledge | dev::kVirtioStatusDriver |
                                   dev::kVirtioStatusFeaturesOk | dev::kVirtioStatusDriverOk);

  unsigned notifies = 1 + data[10] % 8;
  for (unsigned i = 0; i < notifies; i++) {
    w(d, dev::kVirtioMmioQueueNotify, 0);
    // Deferred work (a budget ran out) goes on in later slices; a bounded
    // number of them must drain any ring.
    for (int slice = 0; slice < 4 && d.new_slice(); slice++) {
    }
    uint64_t isr = 0;
    (void)d.load(dev::kVirtioMmioInterruptStatus, 4, &isr);
    w(d, dev::kVirtioMmioInterruptAck, static_cast<uint32_t>(isr));
  }
  return 0;
}
