// Virtio over MMIO, version 2 (virtio 1.1 section 4.2.2), the transport
// QEMU's virt board puts at 0x10001000 + 0x1000*i. The device type behind
// it implements VirtioDevice.
#pragma once

#include <cstdint>
#include <vector>

#include "base/irq.h"
#include "base/result.h"
#include "dev/virtio_device.h"
#include "dev/virtio_queue.h"
#include "mem/guest_memory.h"
#include "mem/mmio.h"

namespace tandem::dev {

// Register map (4.2.2, table "MMIO Device Register Layout"); registers are
// 32-bit, device configuration space from 0x100 takes any width.
inline constexpr uint64_t kVirtioMmioMagicValue = 0x000;       // R "virt"
inline constexpr uint64_t kVirtioMmioVersion = 0x004;          // R 2
inline constexpr uint64_t kVirtioMmioDeviceId = 0x008;         // R
inline constexpr uint64_t kVirtioMmioVendorId = 0x00c;         // R
inline constexpr uint64_t kVirtioMmioDeviceFeatures = 0x010;   // R
inline constexpr uint64_t kVirtioMmioDeviceFeaturesSel = 0x014;// W
inline constexpr uint64_t kVirtioMmioDriverFeatures = 0x020;   // W
inline constexpr uint64_t kVirtioMmioDriverFeaturesSel = 0x024;// W
inline constexpr uint64_t kVirtioMmioQueueSel = 0x030;         // W
inline constexpr uint64_t kVirtioMmioQueueNumMax = 0x034;      // R
inline constexpr uint64_t kVirtioMmioQueueNum = 0x038;         // W
inline constexpr uint64_t kVirtioMmioQueueReady = 0x044;       // RW
inline constexpr uint64_t kVirtioMmioQueueNotify = 0x050;      // W
inline constexpr uint64_t kVirtioMmioInterruptStatus = 0x060;  // R
inline constexpr uint64_t kVirtioMmioInterruptAck = 0x064;     // W
inline constexpr uint64_t kVirtioMmioStatus = 0x070;           // RW
inline constexpr uint64_t kVirtioMmioQueueDescLow = 0x080;     // W
inline constexpr uint64_t kVirtioMmioQueueDescHigh = 0x084;    // W
inline constexpr uint64_t kVirtioMmioQueueDriverLow = 0x090;   // W
inline constexpr uint64_t kVirtioMmioQueueDriverHigh = 0x094;  // W
inline constexpr uint64_t kVirtioMmioQueueDeviceLow = 0x0a0;   // W
inline constexpr uint64_t kVirtioMmioQueueDeviceHigh = 0x0a4;  // W
inline constexpr uint64_t kVirtioMmioShmSel = 0x0ac;           // W (1.2)
inline constexpr uint64_t kVirtioMmioShmLenLow = 0x0b0;        // R (1.2)
inline constexpr uint64_t kVirtioMmioShmLenHigh = 0x0b4;
inline constexpr uint64_t kVirtioMmioShmBaseLow = 0x0b8;
inline constexpr uint64_t kVirtioMmioShmBaseHigh = 0x0bc;
inline constexpr uint64_t kVirtioMmioConfigGeneration = 0x0fc; // R
inline constexpr uint64_t kVirtioMmioConfig = 0x100;
inline constexpr uint64_t kVirtioMmioSize = 0x1000;

inline constexpr uint32_t kVirtioMmioMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kVirtioMmioVersion2 = 2;
inline constexpr uint32_t kVirtioVendorTandem = 0x4d444e54;  // "TNDM"

// InterruptStatus bits (4.2.2).
inline constexpr uint32_t kVirtioIntUsedBuffer = 1;
inline constexpr uint32_t kVirtioIntConfigChange = 2;

// Work one queue may do between two run-loop slice boundaries. The device
// runs on the vCPU thread inside the guest's MMIO store, and a guest can
// aim a device-writable buffer at its own available ring so that every
// request posts the next: without a bound one notify would never return.
// The budget is per slice, not per notify, since a guest can notify
// thousands of times in one slice. 256 requests is a full ring of the
// largest queue offered, so a whole ring posted at once is done within
// its notify, as before. 8 MiB (data moved plus 16 bytes per descriptor
// walked) is a few milliseconds of copying; a larger batch (Linux posts
// 32 MiB for one direct read of that size) is finished at the next
// boundaries, each part with its interrupt.
inline constexpr uint32_t kVirtioQueueBudgetRequests = 256;
inline constexpr uint64_t kVirtioQueueBudgetBytes = 8 << 20;

// What a device reports for one request it served.
struct VirtioCompletion {
  uint32_t used_len;    // bytes written into the chain (the used element's len)
  uint64_t data_bytes;  // bytes moved for it, charged to the queue's budget
};

class VirtioMmio : public mem::MmioDevice {
 public:
  struct State {
    uint32_t device_id = 0;  // guards against restoring into another device type
    uint32_t status = 0;
    uint32_t device_features_sel = 0;
    uint32_t driver_features_sel = 0;
    uint64_t driver_features = 0;
    uint32_t queue_sel = 0;
    uint32_t interrupt_status = 0;
    uint32_t config_generation = 0;
    std::vector<VirtQueue::State> queues;
    bool operator==(const State&) const = default;
  };

  // `device` must outlive the transport.
  VirtioMmio(mem::GuestMemory& mem, VirtioDevice& device, IrqLine irq);

  bool load(uint64_t offset, unsigned size, uint64_t* value) override;
  bool store(uint64_t offset, unsigned size, uint64_t value) override;

  State save() const;
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

  // --- for the device type ---
  mem::GuestMemory& memory() { return mem_; }
  VirtQueue& queue(unsigned q) { return queues_[q]; }
  const VirtQueue& queue(unsigned q) const { return queues_[q]; }
  // The driver finished setup, queue `q` is ready and no reset is needed.
  bool queue_live(unsigned q) const;
  bool has_feature(unsigned bit) const { return driver_features_ & feature_bit(bit); }
  // After completing a batch on queue `q`: interrupt the driver if it
  // wants to hear about it.
  void publish_used(unsigned q);
  // Serves queue `q` within its budget: pops each available chain into
  // `chain`, hands it to `execute` (returning Result<VirtioCompletion>),
  // pushes it back, and finally publishes the used ring. When the budget
  // runs out with buffers left the queue becomes deferred. An Error is
  // malformed guest input (the caller of queue_notify() fails the device).
  template <typename Execute>
  Status serve(unsigned q, DescChain& chain, Execute execute);
  // Malformed guest input: DEVICE_NEEDS_RESET and a configuration change
  // notification (2.1.2); the device stops processing until reset.
  void fail(const Error& why);
  // The device configuration changed (e.g. link status).
  void config_changed();

  // --- for the board's run loop, between slices ---
  // Every queue gets a fresh budget and deferred queues resume (notifies
  // to a deferred queue are ignored until then). Returns whether any
  // queue was deferred.
  bool new_slice();
  bool has_deferred() const;

  uint32_t status() const { return status_; }
  uint32_t interrupt_status() const { return interrupt_status_; }
  uint64_t offered_features() const;

 private:
  void reset();
  void write_status(uint32_t value);
  void write_queue_reg(uint64_t offset, uint32_t value);
  void apply_ring_features();
  void update_irq(bool force = false);
  VirtQueue* selected() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }
  // Whether queue `q` may take another request in this slice; when not and
  // buffers are waiting, marks it deferred (and when none are, asks for
  // the driver's next notification, as an empty pop() would).
  Result<bool> may_take(unsigned q);
  void charge(unsigned q, const DescChain& chain, uint64_t data_bytes);

  struct Budget {
    uint32_t requests = kVirtioQueueBudgetRequests;
    uint64_t bytes = kVirtioQueueBudgetBytes;
  };

  mem::GuestMemory& mem_;
  VirtioDevice& dev_;
  IrqLine irq_;

  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t config_generation_ = 0;
  std::vector<VirtQueue> queues_;

  bool irq_level_ = false;  // derived
  std::vector<Budget> budget_;  // per queue, renewed by new_slice(); not state
};

template <typename Execute>
Status VirtioMmio::serve(unsigned q, DescChain& chain, Execute execute) {
  VirtQueue& vq = queues_[q];
  for (;;) {
    Result<bool> go = may_take(q);
    if (!go.ok()) return go.error();
    if (!*go) break;
    Result<bool> got = vq.pop(chain);
    if (!got.ok()) return got.error();
    if (!*got) break;
    Result<VirtioCompletion> done = execute(static_cast<const DescChain&>(chain));
    if (!done.ok()) return done.error();
    charge(q, chain, done->data_bytes);
    TANDEM_TRY(vq.push(chain.head, done->used_len));
  }
  publish_used(q);
  return Ok();
}

}  // namespace tandem::dev
