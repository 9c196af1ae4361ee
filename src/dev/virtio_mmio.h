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
  // Malformed guest input: DEVICE_NEEDS_RESET and a configuration change
  // notification (2.1.2); the device stops processing until reset.
  void fail(const Error& why);
  // The device configuration changed (e.g. link status).
  void config_changed();

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
};

}  // namespace tandem::dev
