// What a virtio device type (block, network, entropy) tells its transport
// (virtio 1.1 section 2 "Basic Facilities of a Virtio Device").
#pragma once

#include <cstdint>

#include "base/result.h"

namespace tandem::dev {

class VirtioMmio;

// Device status bits (2.1).
inline constexpr uint32_t kVirtioStatusAcknowledge = 1;
inline constexpr uint32_t kVirtioStatusDriver = 2;
inline constexpr uint32_t kVirtioStatusDriverOk = 4;
inline constexpr uint32_t kVirtioStatusFeaturesOk = 8;
inline constexpr uint32_t kVirtioStatusNeedsReset = 0x40;
inline constexpr uint32_t kVirtioStatusFailed = 0x80;

// Reserved feature bits (6 "Reserved Feature Bits").
inline constexpr unsigned kVirtioFIndirectDesc = 28;
inline constexpr unsigned kVirtioFEventIdx = 29;
inline constexpr unsigned kVirtioFVersion1 = 32;

constexpr uint64_t feature_bit(unsigned bit) { return uint64_t{1} << bit; }

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_id() const = 0;  // 5 "Device Types"
  virtual const char* name() const = 0;
  // Device-type feature bits; the transport adds VERSION_1 and the ring
  // features it implements.
  virtual uint64_t device_features() const = 0;
  virtual unsigned queue_count() const = 0;
  virtual uint32_t queue_max_size() const { return 256; }

  // Device configuration space; the transport checks bounds before calling.
  virtual uint32_t config_size() const = 0;
  virtual void read_config(uint32_t offset, uint8_t* dst, uint32_t len) const = 0;
  virtual void write_config(uint32_t, const uint8_t*, uint32_t) {}

  // The driver notified queue `q` (it is ready and the device is live).
  // An Error means malformed guest input: the transport sets
  // DEVICE_NEEDS_RESET.
  virtual Status queue_notify(unsigned q) = 0;
  // The driver reset the device (status 0): drop any per-queue progress.
  virtual void reset() {}

  // Called by the transport's constructor.
  void attach(VirtioMmio* transport) { transport_ = transport; }

 protected:
  VirtioMmio* transport_ = nullptr;
};

}  // namespace tandem::dev
