// virtio network device (virtio 1.1 section 5.1): one receive and one
// transmit queue, no offloads. Frames leave through a PacketSink the
// board provides and arrive through deliver().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.h"
#include "dev/virtio_device.h"
#include "dev/virtio_queue.h"

namespace tandem::dev {

inline constexpr uint32_t kVirtioIdNet = 1;

// Feature bits (5.1.3).
inline constexpr unsigned kVirtioNetFMac = 5;
inline constexpr unsigned kVirtioNetFStatus = 16;

// struct virtio_net_config (5.1.4): u8 mac[6] at 0, le16 status at 6.
inline constexpr uint32_t kVirtioNetConfigSize = 8;
inline constexpr uint16_t kVirtioNetSLinkUp = 1;

// struct virtio_net_hdr (5.1.6) with VERSION_1: flags, gso_type, hdr_len,
// gso_size, csum_start, csum_offset, num_buffers: 12 bytes.
inline constexpr uint32_t kVirtioNetHdrSize = 12;
inline constexpr uint32_t kVirtioNetHdrNumBuffers = 10;  // offset of num_buffers

// Queue indices (5.1.2).
inline constexpr unsigned kVirtioNetRxQueue = 0;
inline constexpr unsigned kVirtioNetTxQueue = 1;

// Largest frame handled (no GSO is offered, so 1514 plus slack for VLAN
// tags and jumbo experiments).
inline constexpr size_t kVirtioNetMaxFrame = 65535;

using MacAddress = std::array<uint8_t, 6>;
inline constexpr MacAddress kDefaultMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

// Where the guest's transmitted frames go (the board: a network backend,
// through the output gate when replicating).
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void send(const uint8_t* frame, size_t len) = 0;
};

class VirtioNet : public VirtioDevice {
 public:
  struct State {
    MacAddress mac{};
    uint32_t status = 0;  // config status field: VIRTIO_NET_S_LINK_UP or 0
    bool operator==(const State&) const = default;
  };

  explicit VirtioNet(PacketSink* sink, MacAddress mac = kDefaultMac);

  uint32_t device_id() const override { return kVirtioIdNet; }
  const char* name() const override { return "virtio-net"; }
  uint64_t device_features() const override;
  unsigned queue_count() const override { return 2; }
  uint32_t config_size() const override { return kVirtioNetConfigSize; }
  void read_config(uint32_t offset, uint8_t* dst, uint32_t len) const override;
  Status queue_notify(unsigned q) override;

  // A frame for the guest (without virtio header). False when the guest
  // has posted no receive buffer: the caller keeps the frame and retries
  // when can_receive() says so. A frame larger than the posted buffer is
  // dropped (true).
  bool deliver(const uint8_t* frame, size_t len);
  bool can_receive() const;

  void set_sink(PacketSink* sink) { sink_ = sink; }
  // Link status as seen by the guest; a change notifies the driver.
  void set_link_up(bool up);
  const MacAddress& mac() const { return mac_; }

  State save() const { return State{mac_, status_}; }
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

 private:
  Status transmit(unsigned q);

  PacketSink* sink_;
  MacAddress mac_;
  uint16_t status_ = kVirtioNetSLinkUp;
  DescChain chain_;
  std::vector<uint8_t> frame_;  // transmit gather buffer
};

}  // namespace tandem::dev
