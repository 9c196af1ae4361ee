// Payloads of quasi-lockstep fault tolerance's messages
// (replication/protocol.h lists the types; docs/replication-protocol.md
// describes them). A message's epoch is the primary's sync epoch the
// content belongs to: input and entropy of epoch E reach the secondary's
// guest only once it runs from sync E (earlier epochs' are in the state
// it was sent), output of epoch E is compared only while the primary
// also runs in E.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "ft/seq_map.h"
#include "replication/drive_log.h"

namespace tandem::ft {

// kFtInput, kFtOutput: one Ethernet frame of NIC `nic`.
struct FramePayload {
  uint32_t nic = 0;
  std::vector<uint8_t> frame;
};
std::vector<uint8_t> encode_frame(uint32_t nic, const uint8_t* frame, size_t len);
// `nics`: the VM's NIC count; a frame for another is refused.
Result<FramePayload> decode_frame(std::span<const uint8_t> payload, size_t nics);

// kFtDirty: the pages and the writable drives' chunks the secondary's
// guest wrote since it last synced, ascending, each inside RAM or its drive.
struct DirtyPayload {
  std::vector<uint32_t> pages;
  std::vector<replication::DriveChunks> drives;
};
std::vector<uint8_t> encode_dirty(std::span<const uint32_t> pages,
                                  std::span<const replication::DriveChunks> drives = {});
// `drive_chunks`: each drive's chunk count by index (0: read-only, which
// nothing may name).
Result<DirtyPayload> decode_dirty(std::span<const uint8_t> payload, uint64_t page_count,
                                  std::span<const uint64_t> drive_chunks);

// kFtMapping: a TCP connection's mapping (seq_map.h) on NIC `nic`:
// between the two guests, or (`world`) between the primary's guest and
// the world (flow_maps.h).
struct MappingPayload {
  uint32_t nic = 0;
  bool world = false;
  FlowMapping mapping;
};
std::vector<uint8_t> encode_mapping(uint32_t nic, const FlowMapping& m, bool world = false);
Result<MappingPayload> decode_mapping(std::span<const uint8_t> payload, size_t nics);

}  // namespace tandem::ft
