// The driver side of virtio-mmio for tests: lays out split queues in a
// GuestMemory, negotiates features through the registers (virtio 1.1
// 3.1.1), posts descriptor chains and reads the used rings, as Linux's
// virtio_mmio and virtio_ring would. It can also write raw, malformed
// descriptors.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "base/bytes.h"
#include "dev/virtio_mmio.h"
#include "mem/guest_memory.h"

namespace tandem::dev::testing {

inline constexpr uint64_t kRamBase = 0x80000000;
inline constexpr uint64_t kRamSize = 1 << 20;  // 256 pages
// Queue q's rings live at kRamBase + (q + 1) * 64 KiB; buffers from 512 KiB.
inline constexpr uint64_t kQueueArea = 0x10000;
inline constexpr uint64_t kBufferArea = kRamBase + 0x80000;

inline std::unique_ptr<mem::GuestMemory> make_ram() {
  auto m = mem::GuestMemory::create(kRamBase, kRamSize);
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

class VirtioTestDriver {
 public:
  struct Buf {
    uint64_t addr;
    uint32_t len;
    bool device_writes;
  };

  VirtioTestDriver(VirtioMmio& dev, mem::GuestMemory& ram) : dev_(&dev), ram_(ram) {}
  // Continue with the same rings against another transport (restore tests).
  void rebind(VirtioMmio& dev) { dev_ = &dev; }

  uint32_t r(uint64_t off) {
    uint64_t v = 0;
    EXPECT_TRUE(dev_->load(off, 4, &v));
    return static_cast<uint32_t>(v);
  }
  void w(uint64_t off, uint32_t v) { EXPECT_TRUE(dev_->store(off, 4, v)); }

  uint64_t device_features() {
    w(kVirtioMmioDeviceFeaturesSel, 1);
    uint64_t f = uint64_t{r(kVirtioMmioDeviceFeatures)} << 32;
    w(kVirtioMmioDeviceFeaturesSel, 0);
    return f | r(kVirtioMmioDeviceFeatures);
  }

  // Reset, ACKNOWLEDGE, DRIVER, write `features`, FEATURES_OK; returns
  // whether the device kept FEATURES_OK.
  bool negotiate(uint64_t features) {
    w(kVirtioMmioStatus, 0);
    w(kVirtioMmioStatus, kVirtioStatusAcknowledge);
    w(kVirtioMmioStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    w(kVirtioMmioDriverFeaturesSel, 1);
    w(kVirtioMmioDriverFeatures, static_cast<uint32_t>(features >> 32));
    w(kVirtioMmioDriverFeaturesSel, 0);
    w(kVirtioMmioDriverFeatures, static_cast<uint32_t>(features));
    w(kVirtioMmioStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    return r(kVirtioMmioStatus) & kVirtioStatusFeaturesOk;
  }

  uint64_t desc_addr(unsigned q) const { return kRamBase + (q + 1) * kQueueArea; }
  uint64_t avail_addr(unsigned q) const { return desc_addr(q) + 0x4000; }
  uint64_t used_addr(unsigned q) const { return desc_addr(q) + 0x8000; }

  void setup_queue(unsigned q, uint32_t num) {
    w(kVirtioMmioQueueSel, q);
    ASSERT_EQ(r(kVirtioMmioQueueReady), 0u);
    ASSERT_GE(r(kVirtioMmioQueueNumMax), num);
    std::vector<uint8_t> zero(0x10000, 0);
    ASSERT_TRUE(ram_.write(desc_addr(q), zero.data(), zero.size()).ok());
    w(kVirtioMmioQueueNum, num);
    w(kVirtioMmioQueueDescLow, static_cast<uint32_t>(desc_addr(q)));
    w(kVirtioMmioQueueDescHigh, static_cast<uint32_t>(desc_addr(q) >> 32));
    w(kVirtioMmioQueueDriverLow, static_cast<uint32_t>(avail_addr(q)));
    w(kVirtioMmioQueueDriverHigh, 0);
    w(kVirtioMmioQueueDeviceLow, static_cast<uint32_t>(used_addr(q)));
    w(kVirtioMmioQueueDeviceHigh, 0);
    w(kVirtioMmioQueueReady, 1);
    if (q >= queues_.size()) queues_.resize(q + 1);
    queues_[q] = Queue{num, 0, 0, 0};
  }

  void driver_ok() {
    w(kVirtioMmioStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk |
                             kVirtioStatusDriverOk);
  }

  // Full bring-up with every offered feature except those in `drop`.
  void init(std::vector<uint32_t> queue_sizes, uint64_t drop = 0) {
    ASSERT_TRUE(negotiate(device_features() & ~drop));
    for (unsigned q = 0; q < queue_sizes.size(); q++) setup_queue(q, queue_sizes[q]);
    driver_ok();
  }

  // A buffer in the data area, aligned to `align`.
  uint64_t alloc(uint64_t len, uint64_t align = 16) {
    next_buf_ = (next_buf_ + align - 1) / align * align;
    uint64_t a = next_buf_;
    next_buf_ += len;
    EXPECT_LE(next_buf_, kRamBase + kRamSize);
    return a;
  }
  uint64_t alloc_page() { return alloc(mem::kPageSize, mem::kPageSize); }

  void poke(uint64_t gpa, const void* src, size_t len) { ASSERT_TRUE(ram_.write(gpa, src, len).ok()); }
  std::vector<uint8_t> peek(uint64_t gpa, size_t len) {
    std::vector<uint8_t> v(len);
    EXPECT_TRUE(ram_.read(gpa, v.data(), len).ok());
    return v;
  }
  template <typename T>
  T peek_le(uint64_t gpa) {
    T v{};
    EXPECT_TRUE(ram_.read(gpa, &v, sizeof v).ok());
    return v;
  }
  template <typename T>
  void poke_le(uint64_t gpa, T v) {
    ASSERT_TRUE(ram_.write(gpa, &v, sizeof v).ok());
  }

  // Raw descriptor write (for malformed chains).
  void write_desc(unsigned q, uint32_t idx, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    write_desc_at(desc_addr(q) + 16 * idx, addr, len, flags, next);
  }
  void write_desc_at(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    uint8_t d[16];
    store_le<uint64_t>(d, addr);
    store_le<uint32_t>(d + 8, len);
    store_le<uint16_t>(d + 12, flags);
    store_le<uint16_t>(d + 14, next);
    poke(gpa, d, sizeof d);
  }
  // Puts `head` in the available ring and publishes it.
  void publish(unsigned q, uint16_t head) {
    Queue& qu = queues_[q];
    poke_le<uint16_t>(avail_addr(q) + 4 + 2 * (qu.avail_idx % qu.num), head);
    qu.avail_idx++;
    poke_le<uint16_t>(avail_addr(q) + 2, qu.avail_idx);
  }

  // Writes `bufs` as a chain of free descriptors and publishes it.
  uint16_t add(unsigned q, const std::vector<Buf>& bufs) {
    Queue& qu = queues_[q];
    uint16_t head = static_cast<uint16_t>(qu.next_desc % qu.num);
    for (size_t i = 0; i < bufs.size(); i++) {
      uint16_t idx = static_cast<uint16_t>((qu.next_desc + i) % qu.num);
      uint16_t next = static_cast<uint16_t>((qu.next_desc + i + 1) % qu.num);
      uint16_t flags = (bufs[i].device_writes ? kVirtqDescFWrite : 0) |
                       (i + 1 < bufs.size() ? kVirtqDescFNext : 0);
      write_desc(q, idx, bufs[i].addr, bufs[i].len, flags, next);
    }
    qu.next_desc += static_cast<uint32_t>(bufs.size());
    publish(q, head);
    return head;
  }

  // The same chain through an indirect table at `table` (2.6.5.3).
  uint16_t add_indirect(unsigned q, uint64_t table, const std::vector<Buf>& bufs) {
    for (size_t i = 0; i < bufs.size(); i++) {
      uint16_t flags = (bufs[i].device_writes ? kVirtqDescFWrite : 0) |
                       (i + 1 < bufs.size() ? kVirtqDescFNext : 0);
      write_desc_at(table + 16 * i, bufs[i].addr, bufs[i].len, flags, static_cast<uint16_t>(i + 1));
    }
    Queue& qu = queues_[q];
    uint16_t head = static_cast<uint16_t>(qu.next_desc % qu.num);
    write_desc(q, head, table, static_cast<uint32_t>(16 * bufs.size()), kVirtqDescFIndirect, 0);
    qu.next_desc++;
    publish(q, head);
    return head;
  }

  void notify(unsigned q) { w(kVirtioMmioQueueNotify, q); }

  struct Used {
    uint32_t id;
    uint32_t len;
  };
  // The next used element the driver has not seen, if any.
  bool next_used(unsigned q, Used* out) {
    Queue& qu = queues_[q];
    uint16_t idx = peek_le<uint16_t>(used_addr(q) + 2);
    if (idx == qu.last_used) return false;
    uint64_t e = used_addr(q) + 4 + 8 * (qu.last_used % qu.num);
    out->id = peek_le<uint32_t>(e);
    out->len = peek_le<uint32_t>(e + 4);
    qu.last_used++;
    return true;
  }
  uint16_t used_idx(unsigned q) { return peek_le<uint16_t>(used_addr(q) + 2); }
  // EVENT_IDX fields (2.6.7, 2.6.10).
  void set_used_event(unsigned q, uint16_t v) {
    poke_le<uint16_t>(avail_addr(q) + 4 + 2 * queues_[q].num, v);
  }
  uint16_t avail_event(unsigned q) { return peek_le<uint16_t>(used_addr(q) + 4 + 8 * queues_[q].num); }
  void set_avail_flags(unsigned q, uint16_t f) { poke_le<uint16_t>(avail_addr(q), f); }

  uint32_t status() { return r(kVirtioMmioStatus); }
  uint32_t isr() { return r(kVirtioMmioInterruptStatus); }
  void ack(uint32_t bits) { w(kVirtioMmioInterruptAck, bits); }

 private:
  struct Queue {
    uint32_t num;
    uint32_t next_desc;
    uint16_t avail_idx;
    uint16_t last_used;
  };
  VirtioMmio* dev_;
  mem::GuestMemory& ram_;
  std::vector<Queue> queues_;
  uint64_t next_buf_ = kBufferArea;
};

}  // namespace tandem::dev::testing
