// Reading a snapshot file (docs/snapshot-format.md, "Reading"). open()
// trusts nothing: every length and offset is checked against the file
// before it is used, every checksum before its bytes are decoded, and the
// first problem is reported with the part of the file it is in.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>

#include "base/bytes.h"
#include "state/file_util.h"
#include "state/sections.h"
#include "state/page_block.h"
#include "state/snapshot_file.h"
#include "state/snapshot_format.h"

namespace tandem::state {

namespace {

using format::kHeaderSize;


// Per-thread buffers: a block's stored bytes and its decompressed pages.
std::vector<uint8_t>& stored_buffer() {
  static thread_local std::vector<uint8_t> buf;
  return buf;
}
std::vector<uint8_t>& page_buffer() {
  static thread_local std::vector<uint8_t> buf;
  return buf;
}

}  // namespace

SnapshotReader::~SnapshotReader() {
  if (fd_ >= 0) ::close(fd_);
}

Error SnapshotReader::error(const std::string& where, const std::string& what) const {
  return Error("snapshot '" + path_ + "': " + where + ": " + what);
}

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::open(const std::string& path) {
  std::unique_ptr<SnapshotReader> r(new SnapshotReader());
  r->path_ = path;
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return sys_error("open snapshot '" + path + "'");
  TANDEM_TRY(r->parse());
  return r;
}

bool SnapshotReader::is_file_at(const std::string& path) const {
  struct stat mine, now;
  return ::fstat(fd_, &mine) == 0 && ::stat(path.c_str(), &now) == 0 && mine.st_dev == now.st_dev &&
         mine.st_ino == now.st_ino;
}

Status SnapshotReader::parse() {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return sys_error("stat snapshot '" + path_ + "'");
  const uint64_t actual = static_cast<uint64_t>(st.st_size);

  // --- header: magic, version, layout guard, checksum ---
  uint8_t hb[kHeaderSize] = {};
  const size_t have = static_cast<size_t>(std::min<uint64_t>(actual, kHeaderSize));
  Status rd = pread_all(fd_, hb, have, 0);
  if (!rd.ok()) return error("header", rd.error().message());
  auto truncated_header = [&] {
    return error("header", "truncated (the file has " + std::to_string(actual) + " bytes)");
  };
  if (have < format::kMagic.size()) return truncated_header();
  if (std::memcmp(hb, format::kMagic.data(), format::kMagic.size()) != 0)
    return error("header",
                 "bad magic (not a tandem snapshot, or one whose writing never finished)");
  if (have < format::kOffFormatVersion + 4) return truncated_header();
  uint32_t version = load_le<uint32_t>(hb + format::kOffFormatVersion);
  if (version != format::kFormatVersion)
    return error("header", "format version " + std::to_string(version) +
                               " is not supported (this build reads " +
                               std::to_string(format::kFormatVersion) + ")");
  if (have < kHeaderSize) return truncated_header();
  const format::Header h = format::parse_header(hb);
  auto guard = [&](const char* field, uint64_t got, uint64_t want) -> Status {
    if (got == want) return Ok();
    return error("header", std::string("layout guard mismatch: ") + field + " is " +
                               std::to_string(got) + ", this build has " + std::to_string(want) +
                               " (written by a build with a different layout)");
  };
  TANDEM_TRY(guard("header_size", h.header_size, kHeaderSize));
  TANDEM_TRY(guard("section_entry_size", h.section_entry_size, format::kSectionEntrySize));
  TANDEM_TRY(guard("block_entry_size", h.block_entry_size, format::kBlockEntrySize));
  TANDEM_TRY(guard("page_size", h.page_size, format::kPageSize));
  TANDEM_TRY(guard("section kinds hash", h.kinds_hash, section_kinds_hash()));
  if (format::checksum(hb, format::kOffHeaderChecksum) != h.checksum)
    return error("header", "checksum mismatch");
  if (h.flags != 0 || h.reserved != 0) return error("header", "unknown flags set");
  if (h.ram_size == 0 || h.ram_size % mem::kPageSize != 0 || h.ram_base % mem::kPageSize != 0 ||
      h.ram_size > format::kMaxRamSize)
    return error("header", "bad RAM geometry (" + std::to_string(h.ram_size) + " bytes)");

  // --- layout: [header][blocks][section table][payloads][memory index] ---
  const uint64_t fs = h.file_size;
  auto bad_layout = [&](const std::string& what) {
    return error("header", "inconsistent layout: " + what);
  };
  if (h.table_offset < kHeaderSize || h.table_offset > fs)
    return bad_layout("section table offset");
  if (h.section_count > (fs - h.table_offset) / format::kSectionEntrySize)
    return bad_layout("section count");
  const uint64_t table_size = uint64_t{h.section_count} * format::kSectionEntrySize;
  const uint64_t table_end = h.table_offset + table_size;
  if (h.index_offset < table_end || h.index_offset > fs) return bad_layout("memory index offset");
  if (h.index_size != fs - h.index_offset) return bad_layout("memory index size");

  // --- section table (needed to say which section a cut went through) ---
  std::vector<uint8_t> table;
  std::vector<format::SectionEntry> entries;
  auto load_table = [&]() -> Status {
    table.resize(table_size);
    Status r = pread_all(fd_, table.data(), table.size(), h.table_offset);
    if (!r.ok()) return error("section table", r.error().message());
    if (format::checksum(table.data(), table.size()) != h.table_checksum)
      return error("section table", "checksum mismatch");
    for (uint32_t i = 0; i < h.section_count; i++)
      entries.push_back(format::parse_section_entry(table.data() + i * format::kSectionEntrySize));
    return Ok();
  };

  if (actual != fs) {
    std::string where;
    if (actual > fs) {
      return error("file", std::to_string(actual - fs) +
                               " bytes after the end of the snapshot the header records");
    }
    std::string cut = "truncated (the file ends at byte " + std::to_string(actual) + " of " +
                      std::to_string(fs) + ")";
    if (actual < h.table_offset) return error("memory blocks", cut);
    if (actual < table_end) return error("section table", cut);
    if (actual < h.index_offset) {
      TANDEM_TRY(load_table());
      for (const auto& e : entries)
        if (e.offset > actual || e.length > actual - e.offset)
          return error("section '" + section_name(e.kind, e.instance) + "'", cut);
      return error("sections", cut);
    }
    return error("memory index", cut);
  }
  TANDEM_TRY(load_table());

  // --- sections: they tile [table_end, index_offset) in table order ---
  std::vector<uint8_t> payloads(h.index_offset - table_end);
  rd = pread_all(fd_, payloads.data(), payloads.size(), table_end);
  if (!rd.ok()) return error("sections", rd.error().message());
  std::vector<SectionView> views;
  uint64_t expect = table_end;
  for (const auto& e : entries) {
    std::string where = "section '" + section_name(e.kind, e.instance) + "'";
    if (e.offset != expect || e.length > h.index_offset - expect || e.flags != 0)
      return error(where, "bad table entry (offset " + std::to_string(e.offset) + ", length " +
                              std::to_string(e.length) + ")");
    std::span<const uint8_t> payload(payloads.data() + (e.offset - table_end), e.length);
    expect += e.length;
    if (format::checksum(payload.data(), payload.size()) != e.checksum)
      return error(where, "checksum mismatch");
    if (payload.size() < 4 || load_le<uint32_t>(payload.data()) != e.version)
      return error(where, "the table's version " + std::to_string(e.version) +
                              " differs from the payload's");
    views.push_back({e.kind, e.instance, payload});
    sections_.push_back({e.kind, e.instance, e.version, e.length});
  }
  if (expect != h.index_offset) return error("section table", "sections do not fill their area");
  auto snap = decode_sections(views, h.ram_base, h.ram_size);
  if (!snap.ok()) return Error("snapshot '" + path_ + "': " + snap.error().message());
  snap_ = std::move(snap).value();

  // --- memory index: block entries, then page slots ---
  std::vector<uint8_t> index(h.index_size);
  rd = pread_all(fd_, index.data(), index.size(), h.index_offset);
  if (!rd.ok()) return error("memory index", rd.error().message());
  if (format::checksum(index.data(), index.size()) != h.index_checksum)
    return error("memory index", "checksum mismatch");
  if (h.block_count > index.size() / format::kBlockEntrySize)
    return error("memory index", "block count exceeds the index");
  const uint64_t page_count = h.ram_size / mem::kPageSize;
  uint64_t total_slots = 0;
  uint64_t at = kHeaderSize;
  blocks_.reserve(h.block_count);
  for (uint32_t b = 0; b < h.block_count; b++) {
    auto e = format::parse_block_entry(index.data() + uint64_t{b} * format::kBlockEntrySize);
    auto where = [b] { return "memory block " + std::to_string(b); };  // only built for an error
    if (e.page_count == 0 || e.page_count > format::kMaxPagesPerBlock)
      return error(where(), "bad page count " + std::to_string(e.page_count));
    if (e.offset != at || e.stored_size == 0 || e.stored_size > h.table_offset - at ||
        e.reserved != 0)
      return error(where(), "bad index entry (offset " + std::to_string(e.offset) + ", size " +
                              std::to_string(e.stored_size) + ")");
    uint64_t raw_size = uint64_t{e.page_count} * mem::kPageSize;
    if (e.encoding == format::kBlockRaw ? e.stored_size != raw_size
                                        : e.encoding != format::kBlockZstd && e.encoding != format::kBlockLz4)
      return error(where(), "bad encoding " + std::to_string(e.encoding));
    blocks_.push_back({e.offset, e.checksum, e.stored_size, e.page_count, e.encoding,
                       static_cast<size_t>(total_slots)});
    at += e.stored_size;
    total_slots += e.page_count;
  }
  if (at != h.table_offset) return error("memory index", "blocks do not fill their area");
  const uint64_t entries_size = uint64_t{h.block_count} * format::kBlockEntrySize;
  if (index.size() - entries_size != 4 * total_slots)
    return error("memory index", "page slot count does not match the blocks");
  slots_.resize(total_slots);
  page_block_ = ZeroedArray<uint32_t>(page_count);
  stored_pages_.assign((page_count + 63) / 64, 0);
  stored_page_count_ = 0;
  for (uint32_t b = 0; b < blocks_.size(); b++) {
    for (size_t j = 0; j < blocks_[b].page_count; j++) {
      size_t s = blocks_[b].first_slot + j;
      uint32_t p = load_le<uint32_t>(index.data() + entries_size + 4 * s);
      slots_[s] = p;
      if (p == format::kStaleSlot) continue;
      if (p >= page_count)
        return error("memory index", "page " + std::to_string(p) + " is outside RAM");
      if (block_of(p) != kZeroPage)
        return error("memory index", "page " + std::to_string(p) + " is in blocks " +
                                         std::to_string(block_of(p)) + " and " +
                                         std::to_string(b));
      page_block_[p] = b + 1;
      stored_pages_[p / 64] |= uint64_t{1} << (p % 64);
      stored_page_count_++;
    }
  }

  ram_base_ = h.ram_base;
  ram_size_ = h.ram_size;
  file_size_ = fs;
  format_version_ = h.format_version;
  return Ok();
}

const char* SnapshotReader::encoding_name(uint32_t encoding) {
  switch (encoding) {
    case format::kBlockRaw: return "raw";
    case format::kBlockZstd: return "zstd";
    case format::kBlockLz4: return "lz4";
  }
  return "unknown";
}

std::span<const uint32_t> SnapshotReader::block_pages(size_t block) const {
  return std::span<const uint32_t>(slots_).subspan(blocks_[block].first_slot,
                                                   blocks_[block].page_count);
}

Status SnapshotReader::read_block(size_t block, std::vector<uint8_t>& stored) const {
  const Block& b = blocks_[block];
  stored.resize(b.stored_size);
  Status st = pread_all(fd_, stored.data(), stored.size(), b.offset);
  if (!st.ok()) return error("memory block " + std::to_string(block), st.error().message());
  if (format::checksum(stored.data(), stored.size()) != b.checksum)
    return error("memory block " + std::to_string(block), "checksum mismatch");
  return Ok();
}

Status SnapshotReader::unpack_block(size_t block, const std::vector<uint8_t>& stored,
                                    uint8_t* dst) const {
  const Block& b = blocks_[block];
  Status st = decode_block(b.encoding, stored, dst, size_t{b.page_count} * mem::kPageSize);
  if (!st.ok()) return error("memory block " + std::to_string(block), st.error().message());
  return Ok();
}

Status SnapshotReader::verify_block(size_t block) const {
  return read_block(block, stored_buffer());
}

Status SnapshotReader::verify_memory(unsigned threads) const {
  return first_error(threads, blocks_.size(), [&](size_t b) { return verify_block(b); });
}

Status SnapshotReader::load_block(size_t block, mem::GuestMemory& ram) const {
  if (ram.base() != ram_base_ || ram.size() != ram_size_)
    return error("memory", "guest RAM does not match the snapshot's");
  std::vector<uint8_t>& stored = stored_buffer();
  TANDEM_TRY(read_block(block, stored));
  auto pages = block_pages(block);
  // Filled behind the tracking: populated, so that a later save reads them.
  for (uint32_t p : pages)
    if (p != format::kStaleSlot) ram.mark_populated(p);
  bool contiguous = pages[0] != format::kStaleSlot;
  for (size_t j = 1; j < pages.size() && contiguous; j++) contiguous = pages[j] == pages[0] + j;
  if (contiguous) return unpack_block(block, stored, ram.page_host(pages[0]));
  std::vector<uint8_t>& buf = page_buffer();
  buf.resize(pages.size() * mem::kPageSize);
  TANDEM_TRY(unpack_block(block, stored, buf.data()));
  for (size_t j = 0; j < pages.size(); j++)
    if (pages[j] != format::kStaleSlot)
      std::memcpy(ram.page_host(pages[j]), buf.data() + j * mem::kPageSize, mem::kPageSize);
  return Ok();
}

Status SnapshotReader::unpack_block_to(size_t block, std::vector<uint8_t>& out) const {
  if (block >= blocks_.size())
    return error("memory", "block " + std::to_string(block) + " does not exist");
  std::vector<uint8_t>& stored = stored_buffer();
  TANDEM_TRY(read_block(block, stored));
  out.resize(block_pages(block).size() * mem::kPageSize);
  return unpack_block(block, stored, out.data());
}

Status SnapshotReader::load_page(uint32_t page, uint8_t* dst) const {
  if (page >= page_count())
    return error("memory", "page " + std::to_string(page) + " is outside RAM");
  uint32_t block = block_of(page);
  if (block == kZeroPage) {
    std::memset(dst, 0, mem::kPageSize);
    return Ok();
  }
  std::vector<uint8_t>& stored = stored_buffer();
  TANDEM_TRY(read_block(block, stored));
  auto pages = block_pages(block);
  std::vector<uint8_t>& buf = page_buffer();
  buf.resize(pages.size() * mem::kPageSize);
  TANDEM_TRY(unpack_block(block, stored, buf.data()));
  size_t j = std::find(pages.begin(), pages.end(), page) - pages.begin();
  if (j == pages.size()) return error("memory index", "page " + std::to_string(page) + " lost");
  std::memcpy(dst, buf.data() + j * mem::kPageSize, mem::kPageSize);
  return Ok();
}

Status SnapshotReader::load_memory(mem::GuestMemory& ram, unsigned threads, const Progress& progress) const {
  if (ram.base() != ram_base_ || ram.size() != ram_size_)
    return error("memory", "guest RAM (" + std::to_string(ram.size()) +
                               " bytes) does not match the snapshot's (" +
                               std::to_string(ram_size_) + " bytes)");
  std::mutex progress_mu;
  uint64_t steps = 0;
  auto step = [&] {
    if (!progress) return;
    std::lock_guard<std::mutex> lock(progress_mu);
    progress(++steps, 2 * uint64_t{blocks_.size()});
  };
  TANDEM_TRY(first_error(threads, blocks_.size(), [&](size_t b) {
    Status st = verify_block(b);
    step();
    return st;
  }));
  // Elided pages must read zero. One never populated is fresh anonymous
  // memory and reads zero without being looked at (looking would cost a
  // host page fault each: most of an eager restore of a big idle guest);
  // the others are read, which is cheaper than writing them.
  constexpr size_t kChunk = 4096;
  parallel_for(threads, (page_block_.size() + kChunk - 1) / kChunk, [&](size_t c) {
    size_t end = std::min(page_block_.size(), (c + 1) * kChunk);
    for (size_t p = c * kChunk; p < end; p++) {
      if (block_of(static_cast<uint32_t>(p)) != kZeroPage || !ram.is_populated(p)) continue;
      uint8_t* host = ram.page_host(p);
      if (!is_zero_page(host)) std::memset(host, 0, mem::kPageSize);
    }
    return true;
  });
  return first_error(threads, blocks_.size(), [&](size_t b) {
    Status st = load_block(b, ram);
    step();
    return st;
  });
}

}  // namespace tandem::state
