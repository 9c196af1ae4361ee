// Split virtqueues (virtio 1.1 section 2.6), device side. Every access to
// the rings and buffers goes through GuestMemory::read/write so that the
// pages the device writes are tracked like the CPU's. Anything malformed
// the guest put in a ring comes back as an Error (the transport then sets
// DEVICE_NEEDS_RESET); nothing the guest writes can crash the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace tandem::dev {

// Ring layout (2.6.5 descriptor table, 2.6.6 available ring, 2.6.8 used
// ring), little-endian:
//   struct virtq_desc  { le64 addr; le32 len; le16 flags; le16 next; }      16 bytes, align 16
//   struct virtq_avail { le16 flags; le16 idx; le16 ring[N]; le16 used_event; }     align 2
//   struct virtq_used  { le16 flags; le16 idx; struct { le32 id; le32 len; } ring[N];
//                        le16 avail_event; }                                        align 4
inline constexpr uint16_t kVirtqDescFNext = 1;
inline constexpr uint16_t kVirtqDescFWrite = 2;
inline constexpr uint16_t kVirtqDescFIndirect = 4;
inline constexpr uint16_t kVirtqAvailFNoInterrupt = 1;
inline constexpr uint64_t kVirtqDescSize = 16;
inline constexpr uint32_t kVirtqMaxSize = 32768;

struct VirtqBuffer {
  uint64_t addr;
  uint32_t len;
};

// One descriptor chain: device-readable buffers, then device-writable ones.
struct DescChain {
  uint16_t head = 0;
  std::vector<VirtqBuffer> readable;
  std::vector<VirtqBuffer> writable;
  uint64_t readable_len = 0;
  uint64_t writable_len = 0;
  uint32_t descriptors = 0;  // loaded to walk the chain (the work of walking it)
  void clear() {
    readable.clear();
    writable.clear();
    readable_len = writable_len = 0;
    descriptors = 0;
  }
};

// Copy out of the readable part / into the writable part at byte `offset`.
Status read_chain(mem::GuestMemory& mem, const DescChain& c, uint64_t offset, void* dst, size_t len);
Status write_chain(mem::GuestMemory& mem, const DescChain& c, uint64_t offset, const void* src,
                   size_t len);

class VirtQueue {
 public:
  // Guest-visible configuration and the device's ring positions.
  struct State {
    uint32_t num = 0;    // QueueNum
    uint32_t ready = 0;  // QueueReady
    uint64_t desc = 0;   // QueueDesc
    uint64_t driver = 0; // QueueDriver (available ring)
    uint64_t device = 0; // QueueDevice (used ring)
    uint16_t last_avail_idx = 0;
    uint16_t used_idx = 0;
    // The queue's work budget ran out with buffers still available: the
    // rest waits for the run loop's next slice (VirtioMmio::new_slice()).
    bool deferred = false;
    bool operator==(const State&) const = default;
  };

  explicit VirtQueue(mem::GuestMemory& mem) : mem_(mem) {}

  State& config() { return s_; }
  const State& config() const { return s_; }
  void reset();
  // Negotiated ring features (VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX).
  void set_features(bool indirect, bool event_idx);
  // A restored queue notifies on its first completion (2.6.7 allows a
  // spurious notification; a missed one would hang the driver).
  void forget_signalled() { signalled_valid_ = false; }

  // Size a power of two within [1, max], rings aligned and inside RAM
  // (2.6 table "Virtqueue Part Alignment and Size"). `what` names the
  // queue in the error.
  Status check_layout(uint32_t max, const std::string& what) const;

  // Takes the next available chain: false when the ring is empty.
  Result<bool> pop(DescChain& chain);
  // Gives the last popped chain back (its buffers were not used).
  void unpop() { s_.last_avail_idx--; }
  Result<bool> has_available() const;
  // Like has_available(), but when the ring is empty the device asks to be
  // notified of the next buffer (2.6.10), as pop() does: the device's side
  // of the ring must end each batch this way, or a driver with
  // VIRTIO_F_EVENT_IDX may never notify again.
  Result<bool> has_available_or_arm();
  // Returns a chain to the driver with `len` bytes written into it.
  Status push(uint16_t head, uint32_t len);
  // After a batch of push(): whether the driver wants an interrupt for
  // it (2.6.7: used_event with EVENT_IDX, else VIRTQ_AVAIL_F_NO_INTERRUPT).
  Result<bool> should_notify();

 private:
  Status load_desc(uint64_t table, uint32_t index, uint64_t* addr, uint32_t* len, uint16_t* flags,
                   uint16_t* next) const;
  Status walk(uint16_t head, DescChain& chain) const;
  uint64_t avail_ring(uint32_t i) const { return s_.driver + 4 + 2 * uint64_t{i}; }
  uint64_t used_ring(uint32_t i) const { return s_.device + 4 + 8 * uint64_t{i}; }

  mem::GuestMemory& mem_;
  State s_;
  bool indirect_ = false;
  bool event_idx_ = false;
  // used_idx at the last notification decision (2.6.7).
  uint16_t signalled_used_ = 0;
  bool signalled_valid_ = false;
  bool pushed_ = false;  // push() since the last should_notify()
};

}  // namespace tandem::dev
