#include "ft/ft_protocol.h"

#include <string>

#include "state/codec.h"

namespace tandem::ft {

// Larger than any Ethernet frame a virtio-net guest sends (64 KiB TSO
// frames are segmented before they reach the board).
constexpr size_t kMaxFrame = 65536 + 64;

std::vector<uint8_t> encode_frame(uint32_t nic, const uint8_t* frame, size_t len) {
  state::Encoder e;
  e.u32(nic);
  e.u32(static_cast<uint32_t>(len));
  e.bytes(frame, len);
  return e.take();
}

Result<FramePayload> decode_frame(std::span<const uint8_t> payload, size_t nics) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "frame");
  FramePayload f;
  f.nic = d.u32("nic");
  const uint32_t len = d.u32("length");
  if (d.ok() && len > kMaxFrame) return Error("frame: " + std::to_string(len) + " bytes is longer than any frame");
  if (d.ok() && f.nic >= nics)
    return Error("frame: NIC " + std::to_string(f.nic) + " does not exist (the VM has " + std::to_string(nics) + ")");
  auto bytes = d.view("bytes", len);
  TANDEM_TRY(d.finish());
  f.frame.assign(bytes.begin(), bytes.end());
  return f;
}

std::vector<uint8_t> encode_dirty(std::span<const uint32_t> pages) {
  state::Encoder e;
  e.vec(pages);
  return e.take();
}

Result<std::vector<uint32_t>> decode_dirty(std::span<const uint8_t> payload, uint64_t page_count) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "dirty pages");
  std::vector<uint32_t> pages = d.vec<uint32_t>("pages");
  TANDEM_TRY(d.finish());
  for (size_t i = 0; i < pages.size(); i++) {
    if (pages[i] >= page_count)
      return Error("dirty pages: page " + std::to_string(pages[i]) + " is outside RAM (" + std::to_string(page_count) +
                   " pages)");
    if (i && pages[i] <= pages[i - 1]) return Error("dirty pages: the list is not ascending");
  }
  return pages;
}

// The NIC word's top bit marks a world mapping.
constexpr uint32_t kWorldBit = 0x80000000u;

std::vector<uint8_t> encode_mapping(uint32_t nic, const FlowMapping& m, bool world) {
  state::Encoder e;
  e.u32(nic | (world ? kWorldBit : 0));
  std::vector<uint8_t> tuple = encode(m);
  e.bytes(tuple.data(), tuple.size());
  return e.take();
}

Result<MappingPayload> decode_mapping(std::span<const uint8_t> payload, size_t nics) {
  if (payload.size() < 4) return Error("mapping: truncated");
  state::Decoder d(payload.first(4));
  const uint32_t word = d.u32("nic");
  MappingPayload out;
  out.nic = word & ~kWorldBit;
  out.world = (word & kWorldBit) != 0;
  if (out.nic >= nics) return Error("mapping: NIC " + std::to_string(out.nic) + " does not exist");
  auto m = decode_flow_mapping(payload.data() + 4, payload.size() - 4);
  if (!m.ok()) return m.error().context("mapping");
  out.mapping = *m;
  return out;
}

}  // namespace tandem::ft
