#include "dev/virtio_net.h"

#include <cstring>

#include "base/bytes.h"
#include "base/log.h"
#include "dev/virtio_mmio.h"

namespace tandem::dev {

VirtioNet::VirtioNet(PacketSink* sink, MacAddress mac) : sink_(sink), mac_(mac) {}

uint64_t VirtioNet::device_features() const {
  return feature_bit(kVirtioNetFMac) | feature_bit(kVirtioNetFStatus);
}

void VirtioNet::read_config(uint32_t offset, uint8_t* dst, uint32_t len) const {
  uint8_t cfg[kVirtioNetConfigSize];
  std::memcpy(cfg, mac_.data(), mac_.size());
  store_le<uint16_t>(cfg + 6, status_);
  std::memcpy(dst, cfg + offset, len);
}

void VirtioNet::set_link_up(bool up) {
  uint16_t next = up ? kVirtioNetSLinkUp : 0;
  if (next == status_) return;
  status_ = next;
  if (transport_) transport_->config_changed();
}

Status VirtioNet::queue_notify(unsigned q) {
  // A receive-queue notification only says buffers were added; the board
  // polls can_receive() and delivers what it holds.
  if (q == kVirtioNetTxQueue) return transmit(q);
  return Ok();
}

// 5.1.6.2: each chain is a header followed by one frame; the device
// strips the header (no offloads are offered, so it carries nothing).
Status VirtioNet::transmit(unsigned q) {
  mem::GuestMemory& mem = transport_->memory();
  return transport_->serve(q, chain_, [&](const DescChain& c) -> Result<VirtioCompletion> {
    if (c.readable_len < kVirtioNetHdrSize)
      return Error("transmit chain of " + std::to_string(c.readable_len) +
                   " bytes is shorter than the header");
    uint64_t len = c.readable_len - kVirtioNetHdrSize;
    if (len > kVirtioNetMaxFrame) {
      TANDEM_LOG(LogLevel::kWarn, "virtio-net: dropping a " + std::to_string(len) + "-byte frame");
      return VirtioCompletion{0, 0};
    }
    frame_.resize(static_cast<size_t>(len));
    TANDEM_TRY(read_chain(mem, c, kVirtioNetHdrSize, frame_.data(), frame_.size()));
    if (sink_) sink_->send(frame_.data(), frame_.size());
    return VirtioCompletion{0, len};
  });
}

bool VirtioNet::can_receive() const {
  if (!transport_ || !transport_->queue_live(kVirtioNetRxQueue)) return false;
  Result<bool> avail = transport_->queue(kVirtioNetRxQueue).has_available();
  return avail.ok() && *avail;
}

// 5.1.6.3-5.1.6.4: without VIRTIO_NET_F_MRG_RXBUF each frame fills one
// chain, header first, with num_buffers = 1.
bool VirtioNet::deliver(const uint8_t* frame, size_t len) {
  if (!transport_ || !transport_->queue_live(kVirtioNetRxQueue)) return false;
  if (len > kVirtioNetMaxFrame) return true;  // could never fit: drop
  VirtQueue& vq = transport_->queue(kVirtioNetRxQueue);
  Result<bool> got = vq.pop(chain_);
  if (!got.ok()) {
    transport_->fail(got.error());
    return false;
  }
  if (!*got) return false;
  if (chain_.writable_len < kVirtioNetHdrSize + len) {
    vq.unpop();  // keep the buffer for a frame that fits
    TANDEM_LOG(LogLevel::kDebug, "virtio-net: dropping a " + std::to_string(len) +
                                     "-byte frame larger than the receive buffer");
    return true;
  }
  mem::GuestMemory& mem = transport_->memory();
  uint8_t hdr[kVirtioNetHdrSize] = {};
  store_le<uint16_t>(hdr + kVirtioNetHdrNumBuffers, 1);
  Status st = write_chain(mem, chain_, 0, hdr, sizeof hdr);
  if (st.ok()) st = write_chain(mem, chain_, kVirtioNetHdrSize, frame, len);
  if (st.ok()) st = vq.push(chain_.head, static_cast<uint32_t>(kVirtioNetHdrSize + len));
  if (!st.ok()) {
    transport_->fail(st.error());
    return false;
  }
  transport_->publish_used(kVirtioNetRxQueue);
  return true;
}

Status VirtioNet::check(const State& s) const {
  if (s.status > kVirtioNetSLinkUp) return Error("virtio-net state: status has unknown bits");
  if (s.mac[0] & 1) return Error("virtio-net state: mac is a multicast address");
  return Ok();
}

Status VirtioNet::restore(const State& s) {
  TANDEM_TRY(check(s));
  mac_ = s.mac;
  status_ = static_cast<uint16_t>(s.status);
  return Ok();
}

}  // namespace tandem::dev
