// The fixed-size records of the file format, and the one-call entry points.
#include "state/snapshot_file.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "state/codec.h"
#include "state/snapshot_format.h"

namespace tandem::state {

namespace format {

uint64_t checksum(const void* data, size_t size) { return XXH3_64bits(data, size); }

std::array<uint8_t, kHeaderSize> encode_header(const Header& h) {
  Encoder e;
  e.bytes(kMagic.data(), kMagic.size());
  e.u32(h.format_version);
  e.u32(h.header_size);
  e.u32(h.section_entry_size);
  e.u32(h.block_entry_size);
  e.u32(h.page_size);
  e.u64(h.kinds_hash);
  e.u32(h.flags);
  e.u64(h.file_size);
  e.u64(h.ram_base);
  e.u64(h.ram_size);
  e.u64(h.table_offset);
  e.u32(h.section_count);
  e.u32(h.block_count);
  e.u64(h.table_checksum);
  e.u64(h.index_offset);
  e.u64(h.index_size);
  e.u64(h.index_checksum);
  e.u64(h.reserved);
  std::array<uint8_t, kHeaderSize> out{};
  std::memcpy(out.data(), e.data().data(), kOffHeaderChecksum);
  store_le<uint64_t>(out.data() + kOffHeaderChecksum, checksum(out.data(), kOffHeaderChecksum));
  return out;
}

Header parse_header(const uint8_t* p) {
  Decoder d(p, kHeaderSize);
  Header h;
  uint8_t magic[8];
  d.bytes("magic", magic, sizeof magic);
  h.format_version = d.u32("format_version");
  h.header_size = d.u32("header_size");
  h.section_entry_size = d.u32("section_entry_size");
  h.block_entry_size = d.u32("block_entry_size");
  h.page_size = d.u32("page_size");
  h.kinds_hash = d.u64("kinds_hash");
  h.flags = d.u32("flags");
  h.file_size = d.u64("file_size");
  h.ram_base = d.u64("ram_base");
  h.ram_size = d.u64("ram_size");
  h.table_offset = d.u64("table_offset");
  h.section_count = d.u32("section_count");
  h.block_count = d.u32("block_count");
  h.table_checksum = d.u64("table_checksum");
  h.index_offset = d.u64("index_offset");
  h.index_size = d.u64("index_size");
  h.index_checksum = d.u64("index_checksum");
  h.reserved = d.u64("reserved");
  h.checksum = d.u64("checksum");
  return h;
}

void append_section_entry(std::vector<uint8_t>& out, const SectionEntry& s) {
  Encoder e;
  e.u32(s.kind);
  e.u32(s.instance);
  e.u32(s.version);
  e.u32(s.flags);
  e.u64(s.offset);
  e.u64(s.length);
  e.u64(s.checksum);
  out.insert(out.end(), e.data().begin(), e.data().end());
}

SectionEntry parse_section_entry(const uint8_t* p) {
  Decoder d(p, kSectionEntrySize);
  SectionEntry s;
  s.kind = d.u32("kind");
  s.instance = d.u32("instance");
  s.version = d.u32("version");
  s.flags = d.u32("flags");
  s.offset = d.u64("offset");
  s.length = d.u64("length");
  s.checksum = d.u64("checksum");
  return s;
}

void append_block_entry(std::vector<uint8_t>& out, const BlockEntry& b) {
  Encoder e;
  e.u64(b.offset);
  e.u64(b.checksum);
  e.u32(b.stored_size);
  e.u32(b.page_count);
  e.u32(b.encoding);
  e.u32(b.reserved);
  out.insert(out.end(), e.data().begin(), e.data().end());
}

BlockEntry parse_block_entry(const uint8_t* p) {
  Decoder d(p, kBlockEntrySize);
  BlockEntry b;
  b.offset = d.u64("offset");
  b.checksum = d.u64("checksum");
  b.stored_size = d.u32("stored_size");
  b.page_count = d.u32("page_count");
  b.encoding = d.u32("encoding");
  b.reserved = d.u32("reserved");
  return b;
}

}  // namespace format

Result<WriteStats> write_snapshot(const std::string& path, const Snapshot& snap,
                                  const mem::GuestMemory& ram, const WriteOptions& options) {
  auto writer = SnapshotWriter::create(path, ram, options);
  if (!writer.ok()) return writer.error();
  // The working set goes first, so that a lazy restore finds it in the
  // leading blocks.
  TANDEM_TRY((*writer)->write_pages(snap.active_pages));
  TANDEM_TRY((*writer)->write_unsaved_pages());
  return (*writer)->commit(snap);
}

Result<std::unique_ptr<SnapshotReader>> read_snapshot(const std::string& path) {
  auto reader = SnapshotReader::open(path);
  if (!reader.ok()) return reader.error();
  TANDEM_TRY((*reader)->verify_memory());
  return reader;
}

}  // namespace tandem::state
