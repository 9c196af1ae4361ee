// Replication's log of one writable drive: the 4 KiB chunks the guest
// wrote since the last take(), from the drive's write hook. Chunks are the
// size of pages, so they travel in the same blocks (state/page_block.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/result.h"
#include "dev/virtio_blk.h"
#include "mem/page_bitmap.h"

namespace tandem::board {
class Machine;
}

namespace tandem::replication {

inline constexpr uint64_t kChunkSize = 4096;

// Chunks of drive `drive` (its index among the VM's drives), ascending.
struct DriveChunks {
  uint32_t drive = 0;
  std::vector<uint64_t> chunks;
};

class DriveLog {
 public:
  // On the vCPU thread (the drive's hooks change there).
  DriveLog(dev::VirtioBlk& blk, uint32_t index);
  ~DriveLog();
  DriveLog(const DriveLog&) = delete;
  DriveLog& operator=(const DriveLog&) = delete;

  uint32_t index() const { return index_; }
  uint64_t size() const { return size_; }
  uint64_t chunk_count() const { return (size_ + kChunkSize - 1) / kChunkSize; }
  // The chunks written since the last take(), ascending; vCPU thread.
  std::vector<uint64_t> take();
  // Reads `chunks` into dst (4 KiB each; the drive's last chunk is padded
  // with zeros). Any thread: the drive is a file read with pread.
  Status read(const std::vector<uint64_t>& chunks, uint8_t* dst) const;
  // The chunks holding data (SEEK_DATA/SEEK_HOLE), for the initial copy:
  // a hole reads as zero on the backup too.
  std::vector<uint64_t> data_chunks() const;

 private:
  dev::VirtioBlk& blk_;
  uint32_t index_;
  uint64_t size_;
  int fd_;
  int hook_;
  mem::PageBitmap dirty_;
};

// A log of each writable drive of `m`, indexed as the VM's drives are
// (read-only ones count but get none); on the vCPU thread, or before the
// VM runs.
std::vector<std::unique_ptr<DriveLog>> log_writable_drives(board::Machine& m);

}  // namespace tandem::replication
