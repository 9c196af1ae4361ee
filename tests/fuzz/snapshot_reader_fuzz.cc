// Harness: a snapshot file as a lazy restore reads it. SnapshotReader::open
// on the input, then every block through load_block and every page through
// load_page, as the restore's prefetcher and its fault handler would.
//
// The input is the file, except that the harness first recomputes every
// checksum whose place the (fuzzed) header and tables name: a mutation
// would otherwise stop at the first checksum, and the parsers behind the
// checksums are what the fuzzer is for (the checks themselves have unit
// tests in tests/unit/state/snapshot_file_test.cc).
#include <cstdio>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "state/snapshot_file.h"
#include "state/snapshot_format.h"

namespace {

namespace format = tandem::state::format;

uint64_t get_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void put_le64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// [off, off + len) lies inside `size` bytes.
bool inside(uint64_t off, uint64_t len, size_t size) { return off <= size && len <= size - off; }

void fix_checksums(std::vector<uint8_t>& f) {
  if (f.size() < format::kHeaderSize) return;
  format::Header h = format::parse_header(f.data());
  uint64_t table_len = uint64_t{h.section_count} * format::kSectionEntrySize;
  if (inside(h.table_offset, table_len, f.size())) {
    for (uint32_t i = 0; i < h.section_count; i++) {
      uint8_t* e = f.data() + h.table_offset + uint64_t{i} * format::kSectionEntrySize;
      format::SectionEntry s = format::parse_section_entry(e);
      if (inside(s.offset, s.length, f.size())) put_le64(e + 32, format::checksum(f.data() + s.offset, s.length));
    }
    put_le64(f.data() + format::kOffTableChecksum, format::checksum(f.data() + h.table_offset, table_len));
  }
  uint64_t blocks_len = uint64_t{h.block_count} * format::kBlockEntrySize;
  if (inside(h.index_offset, h.index_size, f.size())) {
    for (uint32_t i = 0; i < h.block_count && uint64_t{i + 1} * format::kBlockEntrySize <= h.index_size; i++) {
      uint8_t* e = f.data() + h.index_offset + uint64_t{i} * format::kBlockEntrySize;
      format::BlockEntry b = format::parse_block_entry(e);
      if (inside(b.offset, b.stored_size, f.size()))
        put_le64(e + 8, format::checksum(f.data() + b.offset, b.stored_size));
    }
    (void)blocks_len;
    put_le64(f.data() + format::kOffIndexChecksum, format::checksum(f.data() + h.index_offset, h.index_size));
  }
  put_le64(f.data() + format::kOffHeaderChecksum, format::checksum(f.data(), format::kOffHeaderChecksum));
  (void)get_le64;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  std::vector<uint8_t> file(data, data + size);
  fix_checksums(file);
  fuzz::MemFile f(file.data(), file.size());
  auto opened = state::SnapshotReader::open(f.path());
  if (!opened.ok()) {
    TANDEM_FUZZ_CHECK(!opened.error().message().empty());
    return 0;
  }
  const state::SnapshotReader& r = **opened;
  // A lazy restore maps the whole RAM; keep the harness's own memory small
  // (a file may describe up to 1 TiB): large RAMs load pages only.
  std::unique_ptr<mem::GuestMemory> ram;
  if (r.ram_size() <= (64u << 20)) {
    auto m = mem::GuestMemory::create(r.ram_base(), r.ram_size());
    if (m.ok()) ram = std::move(m).value();
  }
  for (size_t b = 0; b < r.block_count(); b++) {
    for (uint32_t p : r.block_pages(b)) TANDEM_FUZZ_CHECK(p == format::kStaleSlot || p < r.page_count());
    if (ram) (void)r.load_block(b, *ram);
  }
  std::vector<uint8_t> page(mem::kPageSize);
  uint64_t loaded = 0;
  for (uint64_t w = 0; w < r.stored_pages().size() && loaded < 4096; w++) {
    for (uint64_t bits = r.stored_pages()[w]; bits != 0 && loaded < 4096; bits &= bits - 1) {
      uint64_t p = w * 64 + static_cast<uint64_t>(__builtin_ctzll(bits));
      TANDEM_FUZZ_CHECK(p < r.page_count());
      uint32_t block = r.block_of(static_cast<uint32_t>(p));
      TANDEM_FUZZ_CHECK(block < r.block_count());
      (void)r.load_page(static_cast<uint32_t>(p), page.data());
      loaded++;
    }
  }
  return 0;
}
