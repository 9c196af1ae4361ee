#include "dev/virtio_queue.h"

#include <algorithm>
#include <cstdio>

#include "base/bytes.h"

namespace tandem::dev {

namespace {

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Walks `bufs` from byte `offset`, calling fn(gpa, n) for each piece.
template <typename Fn>
Status for_each_piece(const std::vector<VirtqBuffer>& bufs, uint64_t total, uint64_t offset,
                      size_t len, const char* what, Fn fn) {
  if (offset > total || len > total - offset)
    return Error(std::string("virtqueue: ") + what + " of " + std::to_string(len) + " bytes at " +
                 std::to_string(offset) + " exceeds the chain's " + std::to_string(total));
  for (const VirtqBuffer& b : bufs) {
    if (len == 0) break;
    if (offset >= b.len) {
      offset -= b.len;
      continue;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(b.len - offset, len));
    TANDEM_TRY(fn(b.addr + offset, n));
    offset = 0;
    len -= n;
  }
  return Ok();
}

}  // namespace

Status read_chain(mem::GuestMemory& mem, const DescChain& c, uint64_t offset, void* dst, size_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  return for_each_piece(c.readable, c.readable_len, offset, len, "read",
                        [&](uint64_t gpa, size_t n) -> Status {
                          TANDEM_TRY(mem.read(gpa, out, n));
                          out += n;
                          return Ok();
                        });
}

Status write_chain(mem::GuestMemory& mem, const DescChain& c, uint64_t offset, const void* src,
                   size_t len) {
  auto* in = static_cast<const uint8_t*>(src);
  return for_each_piece(c.writable, c.writable_len, offset, len, "write",
                        [&](uint64_t gpa, size_t n) -> Status {
                          TANDEM_TRY(mem.write(gpa, in, n));
                          in += n;
                          return Ok();
                        });
}

void VirtQueue::reset() {
  s_ = State{};
  indirect_ = event_idx_ = false;
  signalled_valid_ = pushed_ = false;
}

void VirtQueue::set_features(bool indirect, bool event_idx) {
  indirect_ = indirect;
  event_idx_ = event_idx;
}

Status VirtQueue::check_layout(uint32_t max, const std::string& what) const {
  uint32_t n = s_.num;
  if (n == 0 || n > max || (n & (n - 1)))
    return Error(what + ".num " + std::to_string(n) + " is not a power of two in [1, " +
                 std::to_string(max) + "]");
  struct Part {
    const char* name;
    uint64_t addr, size, align;
  };
  const Part parts[] = {{"desc", s_.desc, kVirtqDescSize * n, 16},
                        {"driver", s_.driver, 6 + 2 * uint64_t{n}, 2},
                        {"device", s_.device, 6 + 8 * uint64_t{n}, 4}};
  for (const Part& p : parts) {
    if (p.addr % p.align)
      return Error(what + "." + p.name + " " + hex(p.addr) + " is not " + std::to_string(p.align) +
                   "-byte aligned");
    if (!mem_.contains(p.addr, p.size))
      return Error(what + "." + p.name + " " + hex(p.addr) + "+" + std::to_string(p.size) +
                   " lies outside guest RAM");
  }
  return Ok();
}

Status VirtQueue::load_desc(uint64_t table, uint32_t index, uint64_t* addr, uint32_t* len,
                            uint16_t* flags, uint16_t* next) const {
  uint8_t d[kVirtqDescSize];
  TANDEM_TRY(mem_.read(table + kVirtqDescSize * index, d, sizeof d));
  *addr = load_le<uint64_t>(d);
  *len = load_le<uint32_t>(d + 8);
  *flags = load_le<uint16_t>(d + 12);
  *next = load_le<uint16_t>(d + 14);
  return Ok();
}

// Follows a chain (2.6.5) into `chain`, rejecting out-of-range indices,
// loops (more descriptors than the table holds), buffers outside RAM,
// readable buffers after writable ones (2.6.4.2) and bad indirect tables
// (2.6.5.3.1).
Status VirtQueue::walk(uint16_t head, DescChain& chain) const {
  chain.clear();
  chain.head = head;
  uint64_t table = s_.desc;
  uint32_t size = s_.num;
  uint32_t i = head;
  uint32_t seen = 0;
  bool in_indirect = false;
  for (;;) {
    if (i >= size)
      return Error("virtqueue: descriptor index " + std::to_string(i) + " out of range (table of " +
                   std::to_string(size) + ")");
    if (++seen > size) return Error("virtqueue: descriptor chain from head " + std::to_string(head) + " loops");
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    TANDEM_TRY(load_desc(table, i, &addr, &len, &flags, &next));
    chain.descriptors++;
    if (flags & kVirtqDescFIndirect) {
      if (!indirect_) return Error("virtqueue: indirect descriptor without VIRTIO_F_INDIRECT_DESC");
      if (in_indirect) return Error("virtqueue: indirect descriptor inside an indirect table");
      if (flags & kVirtqDescFNext) return Error("virtqueue: indirect descriptor with NEXT set");
      if (len == 0 || len % kVirtqDescSize || len / kVirtqDescSize > kVirtqMaxSize)
        return Error("virtqueue: indirect table length " + std::to_string(len) + " is invalid");
      if (!mem_.contains(addr, len))
        return Error("virtqueue: indirect table at " + hex(addr) + " lies outside guest RAM");
      table = addr;
      size = len / kVirtqDescSize;
      i = 0;
      seen = 0;
      in_indirect = true;
      continue;
    }
    if (len > 0) {
      if (!mem_.contains(addr, len))
        return Error("virtqueue: buffer " + hex(addr) + "+" + std::to_string(len) +
                     " lies outside guest RAM");
      if (flags & kVirtqDescFWrite) {
        chain.writable.push_back({addr, len});
        chain.writable_len += len;
      } else {
        if (!chain.writable.empty())
          return Error("virtqueue: device-readable buffer after a device-writable one");
        chain.readable.push_back({addr, len});
        chain.readable_len += len;
      }
    }
    if (!(flags & kVirtqDescFNext)) return Ok();
    i = next;
  }
}

Result<bool> VirtQueue::has_available() const {
  uint16_t idx;
  TANDEM_TRY(mem_.read(s_.driver + 2, &idx, 2));
  return idx != s_.last_avail_idx;
}

Result<bool> VirtQueue::has_available_or_arm() {
  uint16_t avail_idx;
  TANDEM_TRY(mem_.read(s_.driver + 2, &avail_idx, 2));
  uint16_t ahead = static_cast<uint16_t>(avail_idx - s_.last_avail_idx);
  if (ahead > s_.num)
    return Error("virtqueue: avail.idx " + std::to_string(avail_idx) + " is " + std::to_string(ahead) +
                 " entries ahead of the device, more than the queue size " + std::to_string(s_.num));
  if (ahead == 0) {
    // Ask for a notification when the next buffer arrives (2.6.10).
    if (event_idx_) TANDEM_TRY(mem_.write(used_ring(s_.num), &s_.last_avail_idx, 2));
    return false;
  }
  return true;
}

Result<bool> VirtQueue::pop(DescChain& chain) {
  Result<bool> any = has_available_or_arm();
  if (!any.ok() || !*any) return any;
  uint16_t head;
  TANDEM_TRY(mem_.read(avail_ring(s_.last_avail_idx % s_.num), &head, 2));
  TANDEM_TRY(walk(head, chain));
  s_.last_avail_idx++;
  return true;
}

Status VirtQueue::push(uint16_t head, uint32_t len) {
  uint8_t elem[8];
  store_le<uint32_t>(elem, head);
  store_le<uint32_t>(elem + 4, len);
  TANDEM_TRY(mem_.write(used_ring(s_.used_idx % s_.num), elem, sizeof elem));
  s_.used_idx++;
  pushed_ = true;
  // The element is in place before the index that publishes it (2.6.8.2);
  // the guest's vCPU runs on this thread, so program order suffices.
  return mem_.write(s_.device + 2, &s_.used_idx, 2);
}

Result<bool> VirtQueue::should_notify() {
  if (!pushed_) return false;  // nothing new since the last decision
  pushed_ = false;
  uint16_t old = signalled_used_;
  bool valid = signalled_valid_;
  signalled_used_ = s_.used_idx;
  signalled_valid_ = true;
  if (!event_idx_) {
    uint16_t flags;
    TANDEM_TRY(mem_.read(s_.driver, &flags, 2));
    return !(flags & kVirtqAvailFNoInterrupt);
  }
  if (!valid) return true;
  uint16_t used_event;
  TANDEM_TRY(mem_.read(avail_ring(s_.num), &used_event, 2));
  // Notify when used_event lies in [old, new): vring_need_event (2.6.7.2).
  return static_cast<uint16_t>(s_.used_idx - used_event - 1) < static_cast<uint16_t>(s_.used_idx - old);
}

}  // namespace tandem::dev
