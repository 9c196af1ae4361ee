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

std::vector<uint8_t> encode_dirty(std::span<const uint32_t> pages, std::span<const replication::DriveChunks> drives) {
  state::Encoder e;
  e.vec(pages);
  e.u32(static_cast<uint32_t>(drives.size()));
  for (const auto& d : drives) {
    e.u32(d.drive);
    e.vec(std::span<const uint64_t>(d.chunks));
  }
  return e.take();
}

namespace {
template <typename T>
Status check_ascending_below(const std::vector<T>& v, uint64_t limit, const std::string& what,
                             const std::string& where) {
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] >= limit)
      return Error("dirty " + what + ": " + std::to_string(v[i]) + " is outside " + where + " (" +
                   std::to_string(limit) + ")");
    if (i && v[i] <= v[i - 1]) return Error("dirty " + what + ": the list is not ascending");
  }
  return Ok();
}
}  // namespace

Result<DirtyPayload> decode_dirty(std::span<const uint8_t> payload, uint64_t page_count,
                                  std::span<const uint64_t> drive_chunks) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "dirty pages");
  DirtyPayload out;
  out.pages = d.vec<uint32_t>("pages");
  const uint32_t drives = d.u32("drives");
  for (uint32_t i = 0; i < drives && d.ok(); i++) {
    replication::DriveChunks c;
    c.drive = d.u32("drive");
    c.chunks = d.vec<uint64_t>("chunks");
    out.drives.push_back(std::move(c));
  }
  TANDEM_TRY(d.finish());
  TANDEM_TRY(check_ascending_below(out.pages, page_count, "pages", "RAM"));
  for (const auto& c : out.drives) {
    if (c.drive >= drive_chunks.size() || drive_chunks[c.drive] == 0)
      return Error("dirty chunks: drive " + std::to_string(c.drive) + " is not a writable drive of the VM");
    TANDEM_TRY(check_ascending_below(c.chunks, drive_chunks[c.drive], "chunks",
                                     "drive " + std::to_string(c.drive)));
  }
  return out;
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
