// Whole snapshot files: round trips of states and memory, and damaged
// files of every kind refused with the part of the file named.
#include "state/snapshot_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <random>
#include <string>

#include "base/bytes.h"
#include "state/sections.h"
#include "state/snapshot_format.h"
#include "test_util.h"

namespace tandem::state {
namespace {

using testing::read_bytes;
using testing::sample_snapshot;
using testing::TempDir;
using testing::write_bytes;

constexpr uint64_t kBase = 0x80000000;
constexpr uint64_t kPage = mem::kPageSize;

std::unique_ptr<mem::GuestMemory> make_ram(uint64_t size) {
  auto m = mem::GuestMemory::create(kBase, size);
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

void fill_random(uint8_t* p, std::mt19937_64& rng) {
  for (size_t i = 0; i < kPage; i += 8) {
    uint64_t v = rng();
    std::memcpy(p + i, &v, 8);
  }
}

// Words from a small vocabulary: compresses like kernel text and logs do.
void fill_text(uint8_t* p, std::mt19937_64& rng) {
  static const char* words[] = {"the ", "kernel ", "page ", "snapshot ", "virtio ", "queue ",
                                "interrupt ", "memory ", "tandem ", "restore ", "\n", "0x"};
  size_t i = 0;
  while (i < kPage) {
    const char* w = words[rng() % 12];
    for (; *w && i < kPage; w++) p[i++] = static_cast<uint8_t>(*w);
  }
}

// 4 MiB: random pages, text pages, zero pages, and a few scattered ones.
std::unique_ptr<mem::GuestMemory> sample_ram(uint64_t size = 4 << 20) {
  auto ram = make_ram(size);
  std::mt19937_64 rng(42);
  for (size_t p = 0; p < 100; p++) fill_random(ram->page_host(p), rng);
  for (size_t p = 100; p < 400; p++) fill_text(ram->page_host(p), rng);
  for (size_t p : {512, 700, 701, 900, 1023}) fill_random(ram->page_host(p), rng);
  ram->page_host(800)[4095] = 1;  // non-zero only in its last byte
  return ram;
}

Snapshot sample_with_active() {
  Snapshot s = sample_snapshot();
  s.active_pages = {600, 3, 150, 1023, 42, 800};  // 600 is a zero page
  return s;
}

bool same_memory(const mem::GuestMemory& a, const mem::GuestMemory& b) {
  return a.size() == b.size() && std::memcmp(a.host(), b.host(), a.size()) == 0;
}

std::string message(const Status& st) { return st.ok() ? "(ok)" : st.error().message(); }
template <typename T>
std::string message(const Result<T>& r) { return r.ok() ? "(ok)" : r.error().message(); }
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class SnapshotFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_ = sample_ram();
    snap_ = sample_with_active();
    WriteOptions opt;
    opt.pages_per_block = 64;  // several blocks, some of scattered pages
    auto st = write_snapshot(path_, snap_, *ram_, opt);
    ASSERT_TRUE(st.ok()) << message(st);
    bytes_ = read_bytes(path_);
    header_ = format::parse_header(bytes_.data());
    for (uint32_t i = 0; i < header_.section_count; i++)
      sections_.push_back(format::parse_section_entry(
          bytes_.data() + header_.table_offset + i * format::kSectionEntrySize));
  }

  // Writes `bytes` under a new name and reads it eagerly.
  Result<std::unique_ptr<SnapshotReader>> read_modified(const std::vector<uint8_t>& bytes,
                                                        size_t n = SIZE_MAX) {
    std::string p = dir_.file("modified.snap");
    write_bytes(p, bytes, std::min(n, bytes.size()));
    return read_snapshot(p);
  }

  // Recomputes the checksums that cover the section table, the memory
  // index and the header, as a writer with different contents would have.
  void reseal(std::vector<uint8_t>& b, int section = -1) {
    format::Header h = format::parse_header(b.data());
    uint8_t* table = b.data() + h.table_offset;
    if (section >= 0) {
      auto e = format::parse_section_entry(table + section * format::kSectionEntrySize);
      e.checksum = format::checksum(b.data() + e.offset, e.length);
      std::vector<uint8_t> entry;
      format::append_section_entry(entry, e);
      std::memcpy(table + section * format::kSectionEntrySize, entry.data(), entry.size());
    }
    h.table_checksum = format::checksum(table, h.section_count * format::kSectionEntrySize);
    h.index_checksum = format::checksum(b.data() + h.index_offset, h.index_size);
    auto header = format::encode_header(h);
    std::memcpy(b.data(), header.data(), header.size());
  }

  int section_index(const std::string& name) const {
    for (size_t i = 0; i < sections_.size(); i++)
      if (section_name(sections_[i].kind, sections_[i].instance) == name)
        return static_cast<int>(i);
    return -1;
  }

  TempDir dir_;
  std::string path_ = dir_.file("vm.snap");
  std::unique_ptr<mem::GuestMemory> ram_;
  Snapshot snap_;
  std::vector<uint8_t> bytes_;
  format::Header header_;
  std::vector<format::SectionEntry> sections_;
};

TEST_F(SnapshotFileTest, RoundTripRestoresStatesAndMemory) {
  auto r = read_snapshot(path_);
  ASSERT_TRUE(r.ok()) << message(r);
  const SnapshotReader& reader = **r;
  EXPECT_TRUE(reader.snapshot() == snap_);
  EXPECT_EQ(reader.snapshot().active_pages, snap_.active_pages) << "order of first touch kept";
  ASSERT_NE(reader.snapshot().config_value("kernel"), nullptr);
  EXPECT_EQ(*reader.snapshot().config_value("kernel"), "/boot/vmlinux");
  EXPECT_EQ(reader.ram_base(), kBase);
  EXPECT_EQ(reader.ram_size(), ram_->size());

  auto fresh = make_ram(ram_->size());
  ASSERT_TRUE(reader.load_memory(*fresh).ok());
  EXPECT_TRUE(same_memory(*ram_, *fresh));
  EXPECT_FALSE(fresh->dirty().any()) << "restoring RAM is not a guest write";

  // Into RAM that held something else: elided pages must come back zero.
  auto used = make_ram(ram_->size());
  // (Filled behind the tracking, so marked populated as such writers must.)
  std::memset(used->host(), 0xa5, used->size());
  for (size_t p = 0; p < used->page_count(); p++) used->mark_populated(p);
  ASSERT_TRUE(reader.load_memory(*used, 1).ok());
  EXPECT_TRUE(same_memory(*ram_, *used));
}

TEST_F(SnapshotFileTest, EveryPageLoadsOnItsOwn) {
  auto r = SnapshotReader::open(path_);
  ASSERT_TRUE(r.ok()) << message(r);
  uint8_t page[kPage];
  for (uint32_t p = 0; p < ram_->page_count(); p++) {
    std::memset(page, 0xee, sizeof page);
    ASSERT_TRUE((*r)->load_page(p, page).ok());
    ASSERT_EQ(std::memcmp(page, ram_->page_host(p), kPage), 0) << "page " << p;
  }
  EXPECT_EQ((*r)->block_of(600), SnapshotReader::kZeroPage);
  EXPECT_EQ((*r)->block_of(450), SnapshotReader::kZeroPage);
  EXPECT_NE((*r)->block_of(800), SnapshotReader::kZeroPage);
  EXPECT_FALSE((*r)->load_page(1024, page).ok());
}

// What a lazy restore marks absent: exactly the pages with a block.
TEST_F(SnapshotFileTest, StoredPagesAreThePagesWithABlock) {
  auto r = SnapshotReader::open(path_);
  ASSERT_TRUE(r.ok()) << message(r);
  const auto& words = (*r)->stored_pages();
  ASSERT_EQ(words.size(), ((*r)->page_count() + 63) / 64);
  uint64_t n = 0;
  for (uint32_t p = 0; p < (*r)->page_count(); p++) {
    bool stored = (*r)->block_of(p) != SnapshotReader::kZeroPage;
    ASSERT_EQ(((words[p / 64] >> (p % 64)) & 1) != 0, stored) << "page " << p;
    n += stored;
  }
  EXPECT_EQ((*r)->stored_page_count(), n);
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, (*r)->page_count()) << "the fixture has elided pages";
}

TEST_F(SnapshotFileTest, ActivePagesComeFirst) {
  auto r = SnapshotReader::open(path_);
  ASSERT_TRUE(r.ok());
  // The non-zero active pages, in touch order, fill block 0.
  auto first = (*r)->block_pages(0);
  EXPECT_EQ(std::vector<uint32_t>(first.begin(), first.end()),
            (std::vector<uint32_t>{3, 150, 1023, 42, 800}));
  // Then the rest ascending: 64 pages per block.
  auto second = (*r)->block_pages(1);
  EXPECT_EQ(second[0], 0u);
  EXPECT_EQ(second[1], 1u);
  EXPECT_EQ(second[3], 4u) << "page 3 was saved with the active pages";
}

TEST_F(SnapshotFileTest, ZeroPagesTakeNoSpace) {
  // The same non-zero pages in twice the RAM: not one byte more.
  auto big = sample_ram(8 << 20);
  std::string p = dir_.file("big.snap");
  WriteOptions opt;
  opt.pages_per_block = 64;
  auto st = write_snapshot(p, snap_, *big, opt);
  ASSERT_TRUE(st.ok()) << message(st);
  EXPECT_EQ(read_bytes(p).size(), bytes_.size());
  EXPECT_EQ(st->zero_pages, 2048u - 406);
  EXPECT_EQ(st->pages_saved, 406u);

  // A RAM of nothing but zeros is a header, sections and an empty index.
  auto zero = make_ram(64 << 20);
  auto z = write_snapshot(dir_.file("zero.snap"), snap_, *zero);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->blocks, 0u);
  EXPECT_LT(z->file_bytes, 4096u);
  auto r = read_snapshot(dir_.file("zero.snap"));
  ASSERT_TRUE(r.ok()) << message(r);
  auto back = make_ram(64 << 20);
  ASSERT_TRUE((*r)->load_memory(*back).ok());
  EXPECT_TRUE(same_memory(*zero, *back));
}

TEST_F(SnapshotFileTest, CompressionPaysForTextButNotForRandomPages) {
  auto r = SnapshotReader::open(path_);
  ASSERT_TRUE(r.ok());
  // 100 random pages are stored raw (blocks 1-2), text compresses well:
  // by more than half with LZ4 (the default), by two thirds with zstd.
  uint64_t payload = header_.table_offset - format::kHeaderSize;
  EXPECT_LT(payload, (106 + 300 / 2) * kPage);
  EXPECT_GT(payload, 105 * kPage);
  WriteOptions opt;
  opt.pages_per_block = 64;
  opt.codec = Codec::kZstd;
  std::string p = dir_.file("zstd.snap");
  auto z = write_snapshot(p, snap_, *ram_, opt);
  ASSERT_TRUE(z.ok()) << message(z);
  EXPECT_LT(z->stored_bytes, (106 + 300 / 3) * kPage);
  EXPECT_LT(z->stored_bytes, payload);
}

TEST_F(SnapshotFileTest, ZstdBlocksReadBackToo) {
  WriteOptions opt;
  opt.codec = Codec::kZstd;
  std::string p = dir_.file("zstd.snap");
  ASSERT_TRUE(write_snapshot(p, snap_, *ram_, opt).ok());
  auto r = read_snapshot(p);
  ASSERT_TRUE(r.ok()) << message(r);
  auto back = make_ram(ram_->size());
  ASSERT_TRUE((*r)->load_memory(*back).ok());
  EXPECT_TRUE(same_memory(*ram_, *back));
}

TEST_F(SnapshotFileTest, OutputIsDeterministic) {
  for (unsigned threads : {1u, 2u, 3u}) {
    WriteOptions opt;
    opt.pages_per_block = 64;
    opt.threads = threads;
    std::string p = dir_.file("again.snap");
    ASSERT_TRUE(write_snapshot(p, snap_, *ram_, opt).ok());
    EXPECT_EQ(read_bytes(p), bytes_) << threads << " threads";
  }
}

TEST_F(SnapshotFileTest, LaterCopiesSupersedeEarlierOnes) {
  std::string p = dir_.file("live.snap");
  auto w = SnapshotWriter::create(p, *ram_);
  ASSERT_TRUE(w.ok()) << message(w);
  ASSERT_TRUE((*w)->write_pages(snap_.active_pages).ok());
  ASSERT_TRUE((*w)->write_unsaved_pages().ok());
  // The guest runs on: one page changes, one is cleared, a zero page is
  // written; the saver writes them again.
  std::mt19937_64 rng(9);
  fill_random(ram_->page_host(150), rng);
  std::memset(ram_->page_host(3), 0, kPage);
  fill_text(ram_->page_host(450), rng);
  std::vector<uint32_t> redirtied = {150, 3, 450, 150};
  ASSERT_TRUE((*w)->write_pages(redirtied).ok());
  auto st = (*w)->commit(snap_);
  ASSERT_TRUE(st.ok()) << message(st);

  auto r = read_snapshot(p);
  ASSERT_TRUE(r.ok()) << message(r);
  auto back = make_ram(ram_->size());
  ASSERT_TRUE((*r)->load_memory(*back).ok());
  EXPECT_TRUE(same_memory(*ram_, *back));
  EXPECT_EQ((*r)->block_of(3), SnapshotReader::kZeroPage);
  auto b0 = (*r)->block_pages(0);
  EXPECT_EQ(b0[0], format::kStaleSlot) << "page 3's first copy is retired";
  EXPECT_EQ(b0[1], format::kStaleSlot) << "page 150's first copy is retired";
  uint8_t page[kPage];
  ASSERT_TRUE((*r)->load_page(150, page).ok());
  EXPECT_EQ(std::memcmp(page, ram_->page_host(150), kPage), 0);
}

TEST_F(SnapshotFileTest, WrongRamIsRefused) {
  auto r = read_snapshot(path_);
  ASSERT_TRUE(r.ok());
  auto small = make_ram(2 << 20);
  Status st = (*r)->load_memory(*small);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(message(st), "does not match")) << message(st);
}

TEST_F(SnapshotFileTest, BadMagicIsRefused) {
  auto b = bytes_;
  b[0] = 'X';
  auto r = read_modified(b);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(message(r), "header: bad magic")) << message(r);
  EXPECT_TRUE(contains(message(r), "modified.snap")) << message(r);
}

TEST_F(SnapshotFileTest, WrongVersionIsRefused) {
  auto b = bytes_;
  store_le<uint32_t>(b.data() + format::kOffFormatVersion, format::kFormatVersion + 1);
  reseal(b);
  auto r = read_modified(b);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(message(r), "header: format version 2 is not supported")) << message(r);
}

TEST_F(SnapshotFileTest, BadLayoutGuardIsRefused) {
  // A build with another section table or another record size: the header
  // is intact (checksum recomputed) but the guard differs.
  for (uint32_t off : {uint32_t{format::kOffKindsHash}, uint32_t{format::kOffSectionEntrySize},
                       uint32_t{format::kOffHeaderSize}, uint32_t{format::kOffPageSize}}) {
    auto b = bytes_;
    b[off] ^= 0x10;
    reseal(b);
    auto r = read_modified(b);
    ASSERT_FALSE(r.ok()) << "offset " << off;
    EXPECT_TRUE(contains(message(r), "header: layout guard mismatch")) << message(r);
  }
}

TEST_F(SnapshotFileTest, TruncationAnywhereIsRefused) {
  for (size_t n = 0; n < bytes_.size(); n += 97) {
    auto r = read_modified(bytes_, n);
    ASSERT_FALSE(r.ok()) << "accepted a file cut at " << n;
    EXPECT_TRUE(contains(message(r), "truncated")) << n << ": " << message(r);
  }
  // A cut inside each section names it.
  for (const auto& e : sections_) {
    std::string name = section_name(e.kind, e.instance);
    auto r = read_modified(bytes_, e.offset + e.length / 2);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(message(r), "section '" + name + "': truncated")) << message(r);
  }
  auto in_blocks = read_modified(bytes_, format::kHeaderSize + 1000);
  EXPECT_TRUE(contains(message(in_blocks), "memory blocks: truncated")) << message(in_blocks);
  auto in_index = read_modified(bytes_, bytes_.size() - 1);
  EXPECT_TRUE(contains(message(in_index), "memory index: truncated")) << message(in_index);
  auto in_header = read_modified(bytes_, 100);
  EXPECT_TRUE(contains(message(in_header), "header: truncated")) << message(in_header);
}

TEST_F(SnapshotFileTest, TrailingBytesAreRefused) {
  auto b = bytes_;
  b.push_back(0);
  auto r = read_modified(b);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(message(r), "1 bytes after the end")) << message(r);
}

TEST_F(SnapshotFileTest, FlippedByteInEachSectionIsNamed) {
  ASSERT_EQ(sections_.size(), 14u);  // config, hart0, 5 devices, 3 x 2 virtio, active pages
  for (const auto& e : sections_) {
    std::string name = section_name(e.kind, e.instance);
    auto b = bytes_;
    b[e.offset + e.length - 1] ^= 0x01;
    auto r = read_modified(b);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_TRUE(contains(message(r), "section '" + name + "': checksum mismatch")) << message(r);
  }
}

TEST_F(SnapshotFileTest, FlippedByteInEveryMetadataByteIsRefused) {
  // Header, section table, payloads and index: every single byte.
  std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {0, format::kHeaderSize}, {header_.table_offset, header_.file_size}};
  for (auto [from, to] : ranges) {
    for (uint64_t i = from; i < to; i++) {
      auto b = bytes_;
      b[i] ^= 0x40;
      auto r = read_modified(b);
      ASSERT_FALSE(r.ok()) << "flipped byte " << i << " accepted";
    }
  }
}

TEST_F(SnapshotFileTest, FlippedByteInEachBlockIsNamed) {
  auto good = SnapshotReader::open(path_);
  ASSERT_TRUE(good.ok());
  const size_t blocks = (*good)->block_count();
  ASSERT_GE(blocks, 5u);
  std::vector<uint8_t> index(bytes_.begin() + header_.index_offset, bytes_.end());
  for (size_t blk = 0; blk < blocks; blk++) {
    auto e = format::parse_block_entry(index.data() + blk * format::kBlockEntrySize);
    auto b = bytes_;
    b[e.offset + e.stored_size / 2] ^= 0x01;
    std::string want = "memory block " + std::to_string(blk) + ": checksum mismatch";
    auto eager = read_modified(b);
    ASSERT_FALSE(eager.ok()) << blk;
    EXPECT_TRUE(contains(message(eager), want)) << message(eager);
    // Lazily, the file opens and the block is refused when touched.
    auto lazy = SnapshotReader::open(dir_.file("modified.snap"));
    ASSERT_TRUE(lazy.ok()) << message(lazy);
    uint32_t page = (*lazy)->block_pages(blk)[0];
    uint8_t buf[kPage];
    Status st = (*lazy)->load_page(page, buf);
    EXPECT_TRUE(contains(message(st), want)) << message(st);
    auto ram = make_ram(ram_->size());
    EXPECT_FALSE((*lazy)->load_block(blk, *ram).ok());
  }
}

TEST_F(SnapshotFileTest, SectionThatFailsToDecodeIsNamed) {
  // A well-sealed file whose uart section holds a version from the future.
  int i = section_index("uart");
  ASSERT_GE(i, 0);
  auto b = bytes_;
  store_le<uint32_t>(b.data() + sections_[i].offset, 9);
  store_le<uint32_t>(b.data() + header_.table_offset + i * format::kSectionEntrySize + 8, 9);
  reseal(b, i);
  auto r = read_modified(b);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(message(r), "section 'uart': uart.version: 9 is not supported"))
      << message(r);
}

TEST_F(SnapshotFileTest, ForgedIndexIsChecked) {
  const uint64_t slots_at = header_.index_offset + header_.block_count * format::kBlockEntrySize;
  {  // A page in two blocks.
    auto b = bytes_;
    uint32_t first = load_le<uint32_t>(b.data() + slots_at);
    store_le<uint32_t>(b.data() + slots_at + 4 * 10, first);
    reseal(b);
    auto r = read_modified(b);
    EXPECT_TRUE(contains(message(r), "memory index: page 3 is in blocks")) << message(r);
  }
  {  // A page outside RAM.
    auto b = bytes_;
    store_le<uint32_t>(b.data() + slots_at, 5000);
    reseal(b);
    auto r = read_modified(b);
    EXPECT_TRUE(contains(message(r), "page 5000 is outside RAM")) << message(r);
  }
  {  // A retired slot is skipped: that page reads zero.
    auto b = bytes_;
    store_le<uint32_t>(b.data() + slots_at, format::kStaleSlot);
    reseal(b);
    auto r = read_modified(b);
    ASSERT_TRUE(r.ok()) << message(r);
    auto back = make_ram(ram_->size());
    ASSERT_TRUE((*r)->load_memory(*back).ok());
    std::memset(ram_->page_host(3), 0, kPage);
    EXPECT_TRUE(same_memory(*ram_, *back));
  }
}

TEST_F(SnapshotFileTest, TmpFileOfACrashIsNeverRead) {
  std::string p = dir_.file("crash.snap");
  // A crash while writing left PATH.tmp: the header (written last) is
  // still zeros, so even opened by name it is no snapshot.
  std::vector<uint8_t> partial(bytes_.begin(), bytes_.begin() + bytes_.size() / 2);
  std::memset(partial.data(), 0, format::kHeaderSize);
  write_bytes(p + ".tmp", partial);
  auto none = read_snapshot(p);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(contains(message(none), "No such file")) << message(none);
  auto tmp = read_snapshot(p + ".tmp");
  ASSERT_FALSE(tmp.ok());
  EXPECT_TRUE(contains(message(tmp), "bad magic")) << message(tmp);

  // With an older snapshot in place, the crash leaves it untouched.
  write_bytes(p, bytes_);
  write_bytes(p + ".tmp", partial);
  auto old = read_snapshot(p);
  ASSERT_TRUE(old.ok()) << message(old);
  EXPECT_TRUE((*old)->snapshot() == snap_);

  // The next write replaces the stale tmp file and leaves none behind.
  Snapshot next = snap_;
  next.harts[0].pc += 4;
  ASSERT_TRUE(write_snapshot(p, next, *ram_).ok());
  struct stat st;
  EXPECT_NE(::stat((p + ".tmp").c_str(), &st), 0);
  auto now = read_snapshot(p);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ((*now)->snapshot().harts[0].pc, snap_.harts[0].pc + 4);
}

TEST_F(SnapshotFileTest, UncommittedFileHasNoHeader) {
  // What a crash before commit() leaves: all memory written, no header.
  std::string p = dir_.file("midway.snap");
  auto w = SnapshotWriter::create(p, *ram_);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write_pages(snap_.active_pages).ok());
  ASSERT_TRUE((*w)->write_unsaved_pages().ok());
  auto partial = read_bytes(p + ".tmp");
  ASSERT_GT(partial.size(), 100 * kPage);
  EXPECT_EQ(std::vector<uint8_t>(partial.begin(), partial.begin() + format::kHeaderSize),
            std::vector<uint8_t>(format::kHeaderSize, 0));
  auto r = read_snapshot(p + ".tmp");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(message(r), "bad magic")) << message(r);
}

TEST_F(SnapshotFileTest, BadOptionsAreRefused) {
  WriteOptions opt;
  opt.pages_per_block = 0;
  EXPECT_FALSE(SnapshotWriter::create(dir_.file("o.snap"), *ram_, opt).ok());
  opt.pages_per_block = 256;
  opt.zstd_level = 1000;
  auto w = SnapshotWriter::create(dir_.file("o.snap"), *ram_, opt);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(contains(message(w), "zstd level 1000")) << message(w);
}

TEST_F(SnapshotFileTest, AbandonedWriterLeavesNothing) {
  std::string p = dir_.file("abandoned.snap");
  {
    auto w = SnapshotWriter::create(p, *ram_);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_unsaved_pages().ok());
  }
  struct stat st;
  EXPECT_NE(::stat((p + ".tmp").c_str(), &st), 0);
  EXPECT_NE(::stat(p.c_str(), &st), 0);
}

TEST_F(SnapshotFileTest, WriteErrorsSayWhat) {
  auto st = write_snapshot(dir_.file("no/such/dir/x.snap"), snap_, *ram_);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(message(st), "x.snap.tmp")) << message(st);
  EXPECT_TRUE(contains(message(st), "No such file")) << message(st);

  Snapshot bad = snap_;
  bad.active_pages.push_back(1 << 20);
  auto out = write_snapshot(dir_.file("bad.snap"), bad, *ram_);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(contains(message(out), "outside RAM")) << message(out);
}

TEST(SnapshotSections, InconsistentSetsAreRefused) {
  Snapshot s = sample_snapshot();
  std::vector<Section> sections = encode_sections(s);
  auto views = [](const std::vector<Section>& v) {
    std::vector<SectionView> out;
    for (const auto& x : v) out.push_back({x.kind, x.instance, x.payload});
    return out;
  };
  auto ok = decode_sections(views(sections), 0x80000000, 1024 * 4096);
  ASSERT_TRUE(ok.ok()) << message(ok);
  EXPECT_TRUE(*ok == s);

  auto without = [&](SectionKind kind, uint32_t instance) {
    std::vector<Section> v;
    for (const auto& x : sections)
      if (x.kind != static_cast<uint32_t>(kind) || x.instance != instance) v.push_back(x);
    return v;
  };
  auto no_config = decode_sections(views(without(SectionKind::kConfig, 0)), 0x80000000, 1024 * 4096);
  EXPECT_EQ(message(no_config), "section 'config': missing");
  auto orphan = decode_sections(views(without(SectionKind::kVirtioMmio, 1)), 0x80000000, 1024 * 4096);
  EXPECT_EQ(message(orphan), "section 'virtio-net1': no virtio-mmio section for slot 1");
  auto lonely = decode_sections(views(without(SectionKind::kVirtioRng, 3)), 0x80000000, 1024 * 4096);
  EXPECT_EQ(message(lonely), "section 'virtio-mmio3': no device section for slot 3");

  auto twice = sections;
  twice.push_back(sections[2]);
  EXPECT_EQ(message(decode_sections(views(twice), 0x80000000, 1024 * 4096)), "section 'clint': appears twice");

  Snapshot mismatch = s;
  mismatch.virtio[0].transport.device_id = dev::kVirtioIdNet;
  EXPECT_TRUE(contains(message(decode_sections(views(encode_sections(mismatch)), 0x80000000, 1024 * 4096)),
                       "section 'virtio-mmio0': device_id 1 does not match"));

  Snapshot dup = s;
  dup.active_pages = {1, 2, 1};
  EXPECT_EQ(message(decode_sections(views(encode_sections(dup)), 0x80000000, 1024 * 4096)),
            "section 'active-pages': active-pages.pages: page 1 is listed twice");

  Snapshot code = s;
  code.code_blocks = {0x80000000, 0x80001002};
  code.code_traced = 1;
  auto with_code = decode_sections(views(encode_sections(code)), 0x80000000, 1024 * 4096);
  ASSERT_TRUE(with_code.ok()) << message(with_code);
  EXPECT_EQ(with_code->code_blocks, code.code_blocks);
  EXPECT_EQ(with_code->code_traced, 1u);
  code.code_blocks = {0x80000000, 0x80400000};
  EXPECT_EQ(message(decode_sections(views(encode_sections(code)), 0x80000000, 1024 * 4096)),
            "section 'code-blocks': code-blocks.gpas: 0x80400000 is outside RAM");
  code.code_blocks = {0x80000000};
  code.code_traced = 2;
  EXPECT_EQ(message(decode_sections(views(encode_sections(code)), 0x80000000, 1024 * 4096)),
            "section 'code-blocks': code-blocks.traced: 2 of 1 blocks");
  code.code_traced = 0;
  code.code_blocks = {0x80000001};
  EXPECT_EQ(message(decode_sections(views(encode_sections(code)), 0x80000000, 1024 * 4096)),
            "section 'code-blocks': code-blocks.gpas: 0x80000001 is not 2-byte aligned");

  auto unknown = sections;
  unknown.push_back({99, 0, {1, 0, 0, 0}});
  EXPECT_TRUE(contains(message(decode_sections(views(unknown), 0x80000000, 1024 * 4096)),
                       "section 'kind 99/0': unknown section kind"));
}

}  // namespace
}  // namespace tandem::state
