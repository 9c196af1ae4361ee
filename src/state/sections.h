// The sections of a snapshot (docs/snapshot-format.md, "Sections"): one per
// component instance, identified by (kind, instance), each carrying its
// own version. The same sections travel in snapshot files and, later, in
// the replication stream.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "state/snapshot.h"

namespace tandem::state {

// Section kinds. The numbers are part of the format: never reuse one.
enum class SectionKind : uint32_t {
  kConfig = 1,
  kHart = 2,
  kClint = 3,
  kPlic = 4,
  kUart = 5,
  kRtc = 6,
  kFinisher = 7,
  kVirtioMmio = 8,
  kVirtioBlk = 9,
  kVirtioNet = 10,
  kVirtioRng = 11,
  kActivePages = 12,
  kNic = 13,
  kCodeBlocks = 14,
};

// The section of each component's State.
constexpr SectionKind section_kind(const cpu::HartState&) { return SectionKind::kHart; }
constexpr SectionKind section_kind(const dev::Clint::State&) { return SectionKind::kClint; }
constexpr SectionKind section_kind(const dev::Plic::State&) { return SectionKind::kPlic; }
constexpr SectionKind section_kind(const dev::Uart16550::State&) { return SectionKind::kUart; }
constexpr SectionKind section_kind(const dev::GoldfishRtc::State&) { return SectionKind::kRtc; }
constexpr SectionKind section_kind(const dev::TestFinisher::State&) { return SectionKind::kFinisher; }
constexpr SectionKind section_kind(const dev::VirtioMmio::State&) { return SectionKind::kVirtioMmio; }
constexpr SectionKind section_kind(const dev::VirtioBlk::State&) { return SectionKind::kVirtioBlk; }
constexpr SectionKind section_kind(const dev::VirtioNet::State&) { return SectionKind::kVirtioNet; }
constexpr SectionKind section_kind(const dev::VirtioRng::State&) { return SectionKind::kVirtioRng; }
constexpr SectionKind section_kind(const net::NicState&) { return SectionKind::kNic; }

inline constexpr uint32_t kConfigVersion = 1;
inline constexpr uint32_t kActivePagesVersion = 1;
inline constexpr uint32_t kCodeBlocksVersion = 1;
// Most block addresses a code-blocks section may list (the writer keeps
// the first ones, in working-set order).
inline constexpr uint32_t kMaxCodeBlocks = cpu::Hart::kMaxBlockLog;

// "plic", "hart0", "virtio-blk1"; kinds this build does not know read
// "kind 42/0".
std::string section_name(uint32_t kind, uint32_t instance);

// Hash of this build's kind table (numbers and names): part of the file's
// layout guard, so a file written with a different table is refused.
uint64_t section_kinds_hash();

struct Section {
  uint32_t kind = 0;
  uint32_t instance = 0;
  // Every payload starts with its u32 version (the serializers write it);
  // the section table repeats it so that a reader can list versions
  // without decoding.
  std::vector<uint8_t> payload;
  uint32_t version() const;
};

struct SectionView {
  uint32_t kind = 0;
  uint32_t instance = 0;
  std::span<const uint8_t> payload;
};

// All sections of `snap`, in file order.
std::vector<Section> encode_sections(const Snapshot& snap);

// Rebuilds a Snapshot from its sections (any order) and checks that they
// fit together: known kinds, no duplicates, harts numbered from 0, every
// virtio transport paired with one device of the type it names, active
// pages inside RAM and each listed once, code blocks inside RAM. Errors
// name the section:
// "section 'plic': plic.threshold: truncated".
Result<Snapshot> decode_sections(std::span<const SectionView> sections, uint64_t ram_base,
                                 uint64_t ram_size);

}  // namespace tandem::state
