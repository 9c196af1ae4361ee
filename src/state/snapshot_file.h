// Snapshot files (docs/snapshot-format.md): a header with a layout guard,
// guest memory as LZ4- or zstd-compressed blocks of non-zero 4 KiB pages, one
// checksummed section per component, and an index that finds any page's
// block, so that a single page can be loaded without reading the rest.
//
//   write_snapshot(path, snap, ram)   the VM is stopped; writes PATH.tmp,
//                                     fsyncs, renames, fsyncs the directory
//   read_snapshot(path)               checks every byte of the file, then
//                                     hands out states; load_memory(ram)
//   SnapshotReader::open(path)        checks all but the memory blocks,
//                                     which load_block/load_page check as
//                                     they read them (lazy restore)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/zeroed_array.h"
#include "mem/guest_memory.h"
#include "state/snapshot.h"

namespace tandem::state {

// How memory blocks are compressed. LZ4 by default: on guest memory it
// decompresses 3-4x faster than zstd level 1 and compresses 2x faster, for
// files about 10 % larger (bench/state), and a restore that runs the guest
// while it loads pays the decompression on the guest's time.
enum class Codec { kLz4, kZstd };

struct WriteOptions {
  // Compression threads (the caller's thread is one of them).
  unsigned threads = 2;
  Codec codec = Codec::kLz4;
  // zstd level (codec kZstd); negative levels trade ratio for speed
  // (docs/snapshot-format.md has measurements).
  int zstd_level = 1;
  // 32 pages (128 KiB): a lazy-restore fault reads and decompresses one
  // block, 25-115 us at this size against 130-820 us at 256 pages, for
  // files within 1-4 % of the size (bench/state --blocks).
  unsigned pages_per_block = 32;
};

struct WriteStats {
  uint64_t pages_saved = 0;   // non-zero pages written (counting re-saves)
  uint64_t zero_pages = 0;    // pages found zero and elided
  uint64_t blocks = 0;
  uint64_t stored_bytes = 0;  // compressed page data
  uint64_t file_bytes = 0;
};

// Writes a snapshot in steps, so that a live save can write memory while
// the guest runs and the states at the end:
//   create() -> write_pages(active) ... write_pages(redirtied) ... -> commit()
// Destroying a writer that did not commit removes PATH.tmp.
class SnapshotWriter {
 public:
  static Result<std::unique_ptr<SnapshotWriter>> create(const std::string& path,
                                                        const mem::GuestMemory& ram,
                                                        const WriteOptions& options = {});
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Saves `pages` (page indices from the RAM base) in this order: zero
  // pages are elided, the others compressed in blocks. Saving a page again
  // supersedes its earlier copy. The pages must not change while this runs.
  Status write_pages(std::span<const uint32_t> pages);
  // The same, reading each page's contents from `source(page)` (4 KiB)
  // instead of guest RAM: for copy-on-write saves, whose pages are copies.
  using PageSource = std::function<const uint8_t*(uint32_t page)>;
  Status write_pages(std::span<const uint32_t> pages, const PageSource& source);
  // Saves, in ascending order, every page not yet given to write_pages().
  Status write_unsaved_pages();
  // Writes the sections, the memory index and the header, then makes the
  // file durable under its name. Pages never saved read back as zero.
  Result<WriteStats> commit(const Snapshot& snap);
  // The file commit() replaced under the same name is kept open until
  // this (or the writer's end), so that freeing it, milliseconds for a
  // large file, happens after a pause rather than inside it.
  void release_replaced();
  // Pushes what was written so far to the disk (fdatasync), so that the
  // fsync in commit() has little left to do: a live save calls it from
  // its background thread between rounds, off the guest's pause.
  Status sync();

  const WriteStats& stats() const { return stats_; }

 private:
  struct Impl;
  explicit SnapshotWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  WriteStats stats_;
};

// Active pages first (in order of first touch), then every other page.
Result<WriteStats> write_snapshot(const std::string& path, const Snapshot& snap,
                                  const mem::GuestMemory& ram, const WriteOptions& options = {});

class SnapshotReader {
 public:
  static constexpr uint32_t kZeroPage = 0xffffffff;  // block_of() of an elided page

  // Checks the header, the section table, every section and the memory
  // index, and decodes the states; memory blocks are checked when read.
  static Result<std::unique_ptr<SnapshotReader>> open(const std::string& path);
  ~SnapshotReader();
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;

  const Snapshot& snapshot() const { return snap_; }
  const std::string& path() const { return path_; }
  uint64_t ram_base() const { return ram_base_; }
  uint64_t ram_size() const { return ram_size_; }
  uint64_t page_count() const { return ram_size_ / mem::kPageSize; }
  uint64_t file_size() const { return file_size_; }
  // The header's format version (only versions this build reads open).
  uint32_t format_version() const { return format_version_; }
  // Whether `path` names the very file this reader opened (not a file
  // written over it since).
  bool is_file_at(const std::string& path) const;
  int fd() const { return fd_; }

  // The section table as stored (what `tandem snapshot info` lists).
  struct SectionEntry {
    uint32_t kind, instance, version;
    uint64_t length;  // payload bytes
  };
  const std::vector<SectionEntry>& sections() const { return sections_; }

  size_t block_count() const { return blocks_.size(); }
  // A block's index entry: its encoding (format::BlockEncoding), stored
  // bytes and pages (superseded copies included).
  struct BlockEntry {
    uint32_t encoding, stored_size, page_count;
  };
  // "raw", "zstd" or "lz4".
  static const char* encoding_name(uint32_t encoding);
  BlockEntry block_entry(size_t block) const {
    return {blocks_[block].encoding, blocks_[block].stored_size, blocks_[block].page_count};
  }
  // The block holding `page`'s current copy, or kZeroPage.
  uint32_t block_of(uint32_t page) const { return page_block_[page] - 1; }  // 0 - 1 = kZeroPage
  // The pages that have a block, 64 a word (PageBitmap's layout), and how
  // many: what a lazy restore marks absent.
  const std::vector<uint64_t>& stored_pages() const { return stored_pages_; }
  uint64_t stored_page_count() const { return stored_page_count_; }
  // The pages a block holds, in stored order (superseded copies read
  // format::kStaleSlot).
  std::span<const uint32_t> block_pages(size_t block) const;

  // Reads a block and compares its checksum.
  Status verify_block(size_t block) const;
  // verify_block() for every block.
  Status verify_memory(unsigned threads = 2) const;
  // Reads, checks and decompresses one block, and copies the pages whose
  // current copy it holds into `ram` (bypassing tracking: no dirty or
  // accessed bits change). Safe to call from several threads.
  Status load_block(size_t block, mem::GuestMemory& ram) const;
  // One page into dst (4 KiB): zero-filled for an elided page, else its
  // block is read and decompressed. Safe to call from several threads.
  Status load_page(uint32_t page, uint8_t* dst) const;
  // A block's pages, checked and decompressed, in block_pages() order
  // (block_pages(block).size() * 4 KiB bytes), for loaders that copy only
  // some of them. Safe to call from several threads.
  Status unpack_block_to(size_t block, std::vector<uint8_t>& out) const;
  // Eager restore: verify_memory(), then every block into `ram` and every
  // elided page zeroed. `ram` must have the snapshot's base and size.
  // `progress`, if set, is called (never concurrently) after each block is
  // verified and after each is loaded, with (steps done, 2 x block_count).
  using Progress = std::function<void(uint64_t done, uint64_t total)>;
  Status load_memory(mem::GuestMemory& ram, unsigned threads = 2, const Progress& progress = {}) const;

 private:
  struct Block {
    uint64_t offset;
    uint64_t checksum;
    uint32_t stored_size;
    uint32_t page_count;
    uint32_t encoding;
    size_t first_slot;  // its pages in slots_
  };
  SnapshotReader() = default;
  Status parse();
  Error error(const std::string& where, const std::string& what) const;
  // The block's stored bytes, checksum compared.
  Status read_block(size_t block, std::vector<uint8_t>& stored) const;
  // Its pages (page_count * 4 KiB) into dst.
  Status unpack_block(size_t block, const std::vector<uint8_t>& stored, uint8_t* dst) const;

  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  uint32_t format_version_ = 0;
  uint64_t ram_base_ = 0;
  uint64_t ram_size_ = 0;
  Snapshot snap_;
  std::vector<SectionEntry> sections_;
  std::vector<Block> blocks_;
  std::vector<uint32_t> slots_;       // page slots of all blocks, in block order
  // Per page: its block + 1, 0 for an elided page (so that the array
  // starts as all elided, untouched: ZeroedArray).
  ZeroedArray<uint32_t> page_block_;
  std::vector<uint64_t> stored_pages_;
  uint64_t stored_page_count_ = 0;
};

// open() and verify_memory(): nothing is handed out unless every byte of
// the file checked out. Then load_memory() into a GuestMemory of
// ram_size() bytes at ram_base().
Result<std::unique_ptr<SnapshotReader>> read_snapshot(const std::string& path);

}  // namespace tandem::state
