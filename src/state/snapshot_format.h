// On-disk layout of a snapshot file: the constants and fixed-size records
// that docs/snapshot-format.md describes byte by byte. Shared by the writer,
// the reader and the tests that forge damaged files; nothing outside
// src/state/ and tests/unit/state/ should need it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::state::format {

inline constexpr std::array<uint8_t, 8> kMagic = {'T', 'A', 'N', 'D', 'E', 'M', 'S', 'N'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint32_t kPageSize = 4096;
inline constexpr uint32_t kHeaderSize = 128;
inline constexpr uint32_t kSectionEntrySize = 40;
inline constexpr uint32_t kBlockEntrySize = 32;
// Upper bound a reader accepts (the writer's default is 256): bounds the
// buffer one block decompresses into.
inline constexpr uint32_t kMaxPagesPerBlock = 65536;
// Largest guest RAM a file may describe: bounds what a reader allocates
// for its page map (4 bytes per page) whatever the header claims.
inline constexpr uint64_t kMaxRamSize = uint64_t{1} << 40;
// A page slot holding a copy that a later block superseded.
inline constexpr uint32_t kStaleSlot = 0xffffffff;

enum BlockEncoding : uint32_t { kBlockRaw = 0, kBlockZstd = 1, kBlockLz4 = 2 };

// Byte offsets of the header fields (all little-endian).
enum HeaderOffset : uint32_t {
  kOffMagic = 0,              // 8 bytes "TANDEMSN"
  kOffFormatVersion = 8,      // u32
  kOffGuard = 12,             // layout guard: the next five fields
  kOffHeaderSize = 12,        // u32
  kOffSectionEntrySize = 16,  // u32
  kOffBlockEntrySize = 20,    // u32
  kOffPageSize = 24,          // u32
  kOffKindsHash = 28,         // u64 section_kinds_hash()
  kGuardEnd = 36,
  kOffFlags = 36,             // u32, zero
  kOffFileSize = 40,          // u64
  kOffRamBase = 48,           // u64
  kOffRamSize = 56,           // u64
  kOffTableOffset = 64,       // u64
  kOffSectionCount = 72,      // u32
  kOffBlockCount = 76,        // u32
  kOffTableChecksum = 80,     // u64 XXH3 of the section table
  kOffIndexOffset = 88,       // u64
  kOffIndexSize = 96,         // u64
  kOffIndexChecksum = 104,    // u64 XXH3 of the memory index
  kOffReserved = 112,         // u64, zero
  kOffHeaderChecksum = 120,   // u64 XXH3 of bytes [0, 120)
};

struct Header {
  uint32_t format_version = kFormatVersion;
  uint32_t header_size = kHeaderSize;
  uint32_t section_entry_size = kSectionEntrySize;
  uint32_t block_entry_size = kBlockEntrySize;
  uint32_t page_size = kPageSize;
  uint64_t kinds_hash = 0;
  uint32_t flags = 0;
  uint64_t file_size = 0;
  uint64_t ram_base = 0;
  uint64_t ram_size = 0;
  uint64_t table_offset = 0;
  uint32_t section_count = 0;
  uint32_t block_count = 0;
  uint64_t table_checksum = 0;
  uint64_t index_offset = 0;
  uint64_t index_size = 0;
  uint64_t index_checksum = 0;
  uint64_t reserved = 0;
  uint64_t checksum = 0;  // filled by encode_header()
};

struct SectionEntry {
  uint32_t kind = 0;
  uint32_t instance = 0;
  uint32_t version = 0;
  uint32_t flags = 0;  // zero
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t checksum = 0;  // XXH3 of the payload
};

struct BlockEntry {
  uint64_t offset = 0;
  uint64_t checksum = 0;  // XXH3 of the stored bytes
  uint32_t stored_size = 0;
  uint32_t page_count = 0;
  uint32_t encoding = kBlockRaw;
  uint32_t reserved = 0;
};

uint64_t checksum(const void* data, size_t size);  // XXH3_64bits
// The header's bytes, with the checksum computed over them.
std::array<uint8_t, kHeaderSize> encode_header(const Header& h);
// Field by field, without validation (`p` holds kHeaderSize bytes).
Header parse_header(const uint8_t* p);
void append_section_entry(std::vector<uint8_t>& out, const SectionEntry& e);
SectionEntry parse_section_entry(const uint8_t* p);
void append_block_entry(std::vector<uint8_t>& out, const BlockEntry& e);
BlockEntry parse_block_entry(const uint8_t* p);

}  // namespace tandem::state::format
