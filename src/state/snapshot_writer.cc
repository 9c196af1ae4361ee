// Writing a snapshot file: memory blocks as they come, then sections, the
// memory index and, last, the header (docs/snapshot-format.md, "Writing").
// Until the header lands the file has no magic, so a file cut short by a
// crash is never taken for a snapshot; and it is only ever PATH.tmp until
// the final rename.
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>

#include "base/bytes.h"
#include "state/file_util.h"
#include "state/page_block.h"
#include "state/sections.h"
#include "state/snapshot_file.h"
#include "state/snapshot_format.h"

namespace tandem::state {

namespace {

constexpr uint32_t kNoSlot = 0xffffffff;

// One compressed (or stored) block waiting for its turn to be written.
struct PendingBlock {
  EncodedBlock block;
  format::BlockEntry entry;
  bool ready = false;
};

}  // namespace

struct SnapshotWriter::Impl {
  std::string path;
  std::string tmp_path;
  const mem::GuestMemory& ram;
  WriteOptions options;
  int fd = -1;
  // The file the commit replaced, held open: freeing a replaced file of
  // many MiB in rename() took 3 ms, inside a suspend's pause; closing it
  // with the writer moves that out.
  int replaced_fd = -1;
  bool created = false;    // PATH.tmp is ours to remove
  bool committed = false;
  bool failed = false;     // a step failed: the file is unusable
  uint64_t offset = format::kHeaderSize;  // where the next block goes
  std::vector<format::BlockEntry> blocks;
  std::vector<uint32_t> slots;         // page of every slot, in block order
  std::vector<uint32_t> slot_of_page;  // per page: its current slot, or kNoSlot
  std::vector<bool> saved;             // per page: given to write_pages()
  // Where page contents come from during a write_pages() call: guest RAM
  // unless a PageSource was given.
  const SnapshotWriter::PageSource* source = nullptr;
  const uint8_t* page_data(uint32_t page) const { return source ? (*source)(page) : ram.page_host(page); }

  Impl(const std::string& p, const mem::GuestMemory& r, const WriteOptions& o)
      : path(p), tmp_path(p + ".tmp"), ram(r), options(o) {}
  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (replaced_fd >= 0) ::close(replaced_fd);
    if (created && !committed) ::unlink(tmp_path.c_str());
  }
  Error error(const std::string& what) const {
    return Error("write snapshot '" + path + "': " + what);
  }
  // Compresses the blocks made of slots [first, first + count) and appends
  // them to the file in order.
  Status write_blocks(size_t first, size_t count, WriteStats& stats);
};

SnapshotWriter::SnapshotWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotWriter::~SnapshotWriter() = default;

void SnapshotWriter::release_replaced() {
  if (impl_->replaced_fd >= 0) ::close(impl_->replaced_fd);
  impl_->replaced_fd = -1;
}

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::create(const std::string& path,
                                                               const mem::GuestMemory& ram,
                                                               const WriteOptions& options) {
  auto impl = std::make_unique<Impl>(path, ram, options);
  if (options.pages_per_block == 0 || options.pages_per_block > format::kMaxPagesPerBlock)
    return impl->error("pages_per_block must be in [1, " +
                       std::to_string(format::kMaxPagesPerBlock) + "]");
  if (ram.size() > format::kMaxRamSize)
    return impl->error("guest RAM is larger than the format's " +
                       std::to_string(format::kMaxRamSize >> 30) + " GiB");
  if (options.zstd_level < ZSTD_minCLevel() || options.zstd_level > ZSTD_maxCLevel())
    return impl->error("zstd level " + std::to_string(options.zstd_level) + " is out of range");
  impl->fd = ::open(impl->tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (impl->fd < 0) return impl->error(sys_error("create '" + impl->tmp_path + "'").message());
  impl->created = true;
  impl->slot_of_page.assign(ram.page_count(), kNoSlot);
  impl->saved.assign(ram.page_count(), false);
  return std::unique_ptr<SnapshotWriter>(new SnapshotWriter(std::move(impl)));
}

Status SnapshotWriter::write_pages(std::span<const uint32_t> pages, const PageSource& source) {
  impl_->source = &source;
  Status st = write_pages(pages);
  impl_->source = nullptr;
  return st;
}

Status SnapshotWriter::write_pages(std::span<const uint32_t> pages) {
  Impl& w = *impl_;
  if (w.committed) return w.error("already committed");
  if (w.failed) return w.error("an earlier step failed");
  for (uint32_t p : pages)
    if (p >= w.ram.page_count())
      return w.error("page " + std::to_string(p) + " is outside RAM (" +
                     std::to_string(w.ram.page_count()) + " pages)");

  // Which pages are zero, in parallel: this pass reads all of RAM. A page
  // a lazy restore has not loaded yet is loaded first (its host memory
  // reads zero, not what the guest would see).
  constexpr size_t kScanChunk = 4096;
  std::vector<uint8_t> nonzero(pages.size());
  size_t chunks = (pages.size() + kScanChunk - 1) / kScanChunk;
  Status scanned = first_error(w.options.threads, chunks, [&](size_t c) -> Status {
    size_t end = std::min(pages.size(), (c + 1) * kScanChunk);
    for (size_t i = c * kScanChunk; i < end; i++) {
      if (!w.source) TANDEM_TRY(w.ram.load(pages[i]));
      nonzero[i] = !is_zero_page(w.page_data(pages[i]));
    }
    return Ok();
  });
  if (!scanned.ok()) {
    w.failed = true;
    return w.error(scanned.error().message());
  }

  // Give the non-zero pages slots, retiring copies saved earlier.
  size_t first = w.slots.size();
  for (size_t i = 0; i < pages.size(); i++) {
    uint32_t p = pages[i];
    uint32_t old = w.slot_of_page[p];
    if (old != kNoSlot && old >= first) continue;  // listed twice in this call
    if (old == kNoSlot && w.saved[p] && !nonzero[i]) continue;  // already zero
    w.saved[p] = true;
    if (old != kNoSlot) {
      w.slots[old] = format::kStaleSlot;
      w.slot_of_page[p] = kNoSlot;
    }
    if (!nonzero[i]) {
      stats_.zero_pages++;
      continue;
    }
    w.slot_of_page[p] = static_cast<uint32_t>(w.slots.size());
    w.slots.push_back(p);
  }
  Status st = w.write_blocks(first, w.slots.size() - first, stats_);
  if (!st.ok()) w.failed = true;
  return st;
}

Status SnapshotWriter::sync() {
  Impl& w = *impl_;
  if (w.fd < 0 || w.committed) return Ok();
  if (::fdatasync(w.fd) != 0) return w.error(sys_error("fdatasync '" + w.tmp_path + "'").message());
  return Ok();
}

Status SnapshotWriter::write_unsaved_pages() {
  std::vector<uint32_t> pages;
  for (size_t p = 0; p < impl_->saved.size(); p++)
    if (!impl_->saved[p]) pages.push_back(static_cast<uint32_t>(p));
  return write_pages(pages);
}

Status SnapshotWriter::Impl::write_blocks(size_t first, size_t count, WriteStats& stats) {
  const size_t per_block = options.pages_per_block;
  const size_t nblocks = (count + per_block - 1) / per_block;
  const unsigned threads = std::max(1u, options.threads);
  // Blocks are compressed in parallel but written in order, so the file is
  // the same whatever the timing; at most `window` wait in memory.
  const size_t window = 2 * size_t{threads} + 2;
  std::vector<PendingBlock> pending(window);
  std::vector<std::vector<uint8_t>> spare;  // buffers of written blocks, reused
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0;
  size_t written = 0;
  std::optional<Error> failure;

  // Next block to compress (with a buffer for it), or SIZE_MAX when done.
  auto claim = [&](std::vector<uint8_t>& buf) -> size_t {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return failure || next >= nblocks || next < written + window; });
    if (failure || next >= nblocks) return SIZE_MAX;
    if (!spare.empty()) {
      buf = std::move(spare.back());
      spare.pop_back();
    }
    return next++;
  };

  auto compress = [&](size_t b, BlockEncoder& encoder, std::vector<uint8_t>& gather,
                      PendingBlock& out) {
    size_t s0 = first + b * per_block;
    size_t n = std::min(per_block, first + count - s0);
    bool contiguous = source == nullptr;  // a PageSource's pages need not be adjacent
    for (size_t j = 1; j < n && contiguous; j++) contiguous = slots[s0 + j] == slots[s0] + j;
    const uint8_t* src;
    if (contiguous) {
      src = ram.page_host(slots[s0]);
    } else {
      gather.resize(n * mem::kPageSize);
      for (size_t j = 0; j < n; j++)
        std::memcpy(gather.data() + j * mem::kPageSize, page_data(slots[s0 + j]),
                    mem::kPageSize);
      src = gather.data();
    }
    encoder.encode(src, n, out.block);
    out.entry = {};
    out.entry.page_count = out.block.page_count;
    out.entry.encoding = out.block.encoding;
    out.entry.stored_size = static_cast<uint32_t>(out.block.data.size());
    out.entry.checksum = out.block.checksum;
  };

  // Hands block b over and writes every block that is next in line.
  auto deliver = [&](size_t b, PendingBlock&& done) {
    std::lock_guard<std::mutex> lock(mu);
    pending[b % window] = std::move(done);
    pending[b % window].ready = true;
    while (!failure && written < nblocks && pending[written % window].ready) {
      PendingBlock& p = pending[written % window];
      p.entry.offset = offset;
      Status st = pwrite_all(fd, p.block.data.data(), p.block.data.size(), offset);
      if (!st.ok()) {
        failure = error(st.error().message());
        break;
      }
      offset += p.block.data.size();
      stats.stored_bytes += p.block.data.size();
      stats.pages_saved += p.entry.page_count;
      stats.blocks++;
      blocks.push_back(p.entry);
      p.ready = false;
      spare.push_back(std::move(p.block.data));
      written++;
    }
    cv.notify_all();
  };

  auto worker = [&] {
    BlockEncoder encoder(options.codec, options.zstd_level);
    std::vector<uint8_t> gather;
    for (;;) {
      PendingBlock done;
      size_t b = claim(done.block.data);
      if (b == SIZE_MAX) return;
      compress(b, encoder, gather, done);
      deliver(b, std::move(done));
    }
  };
  parallel_for(threads, threads, [&](size_t) {
    worker();
    return true;
  });
  if (failure) return *failure;
  return Ok();
}

Result<WriteStats> SnapshotWriter::commit(const Snapshot& snap) {
  Impl& w = *impl_;
  if (w.committed) return w.error("already committed");
  if (w.failed) return w.error("an earlier step failed");
  // What the reader would refuse is refused here.
  std::vector<uint32_t> active = snap.active_pages;
  std::sort(active.begin(), active.end());
  if (!active.empty() && active.back() >= w.ram.page_count())
    return w.error("active page " + std::to_string(active.back()) + " is outside RAM");
  auto dup = std::adjacent_find(active.begin(), active.end());
  if (dup != active.end())
    return w.error("active page " + std::to_string(*dup) + " is listed twice");

  auto io = [&](Status st) -> Status {
    if (st.ok()) return st;
    w.failed = true;
    return w.error(st.error().message());
  };

  // Section table, then the payloads it points to.
  std::vector<Section> sections = encode_sections(snap);
  const uint64_t table_offset = w.offset;
  const uint64_t table_size = uint64_t{format::kSectionEntrySize} * sections.size();
  std::vector<uint8_t> table;
  std::vector<uint8_t> payloads;
  uint64_t at = table_offset + table_size;
  for (const Section& s : sections) {
    format::SectionEntry e;
    e.kind = s.kind;
    e.instance = s.instance;
    e.version = s.version();
    e.offset = at;
    e.length = s.payload.size();
    e.checksum = format::checksum(s.payload.data(), s.payload.size());
    format::append_section_entry(table, e);
    payloads.insert(payloads.end(), s.payload.begin(), s.payload.end());
    at += s.payload.size();
  }
  TANDEM_TRY(io(pwrite_all(w.fd, table.data(), table.size(), table_offset)));
  TANDEM_TRY(io(pwrite_all(w.fd, payloads.data(), payloads.size(), table_offset + table_size)));

  // Memory index: block entries, then every block's page slots.
  std::vector<uint8_t> index;
  for (const auto& b : w.blocks) format::append_block_entry(index, b);
  size_t at_slots = index.size();
  index.resize(at_slots + 4 * w.slots.size());
  for (size_t i = 0; i < w.slots.size(); i++)
    store_le<uint32_t>(index.data() + at_slots + 4 * i, w.slots[i]);
  const uint64_t index_offset = at;
  TANDEM_TRY(io(pwrite_all(w.fd, index.data(), index.size(), index_offset)));

  format::Header h;
  h.kinds_hash = section_kinds_hash();
  h.file_size = index_offset + index.size();
  h.ram_base = w.ram.base();
  h.ram_size = w.ram.size();
  h.table_offset = table_offset;
  h.section_count = static_cast<uint32_t>(sections.size());
  h.block_count = static_cast<uint32_t>(w.blocks.size());
  h.table_checksum = format::checksum(table.data(), table.size());
  h.index_offset = index_offset;
  h.index_size = index.size();
  h.index_checksum = format::checksum(index.data(), index.size());
  auto header = format::encode_header(h);
  // Last: until now the file had no magic.
  TANDEM_TRY(io(pwrite_all(w.fd, header.data(), header.size(), 0)));

  if (::fsync(w.fd) != 0) return io(sys_error("fsync '" + w.tmp_path + "'")).error();
  int fd = w.fd;
  w.fd = -1;
  if (::close(fd) != 0) return io(sys_error("close '" + w.tmp_path + "'")).error();
  w.replaced_fd = ::open(w.path.c_str(), O_RDONLY | O_CLOEXEC);  // -1: nothing to replace
  if (::rename(w.tmp_path.c_str(), w.path.c_str()) != 0)
    return io(sys_error("rename '" + w.tmp_path + "' to '" + w.path + "'")).error();
  w.committed = true;
  Status dir = fsync_parent_dir(w.path);
  if (!dir.ok()) return w.error(dir.error().message());
  stats_.file_bytes = h.file_size;
  return stats_;
}

}  // namespace tandem::state
