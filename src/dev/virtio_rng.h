// virtio entropy device (virtio 1.1 section 5.4): one request queue whose
// device-writable buffers the device fills with random bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.h"
#include "dev/virtio_device.h"
#include "dev/virtio_queue.h"

namespace tandem::dev {

inline constexpr uint32_t kVirtioIdEntropy = 4;

// Where the bytes come from: the board gives getrandom(), or a seeded
// deterministic generator under --icount.
class EntropySource {
 public:
  virtual ~EntropySource() = default;
  // Fills up to `len` bytes; returns how many it filled.
  virtual size_t fill(uint8_t* buf, size_t len) = 0;
};

class VirtioRng : public VirtioDevice {
 public:
  // No guest-visible state beyond the transport's; kept for a uniform
  // save/restore interface.
  struct State {
    bool operator==(const State&) const = default;
  };

  explicit VirtioRng(EntropySource* source);

  uint32_t device_id() const override { return kVirtioIdEntropy; }
  const char* name() const override { return "virtio-rng"; }
  uint64_t device_features() const override { return 0; }
  unsigned queue_count() const override { return 1; }
  uint32_t config_size() const override { return 0; }  // 5.4.4: none
  void read_config(uint32_t, uint8_t*, uint32_t) const override {}
  Status queue_notify(unsigned q) override;

  void set_source(EntropySource* source) { source_ = source; }

  State save() const { return {}; }
  Status check(const State&) const { return Ok(); }
  Status restore(const State&) { return Ok(); }

 private:
  EntropySource* source_;
  DescChain chain_;
  std::vector<uint8_t> buf_;
};

}  // namespace tandem::dev
