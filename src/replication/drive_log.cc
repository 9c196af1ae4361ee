#include "replication/drive_log.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "board/machine.h"
#include "dev/block_backend.h"

namespace tandem::replication {

DriveLog::DriveLog(dev::VirtioBlk& blk, uint32_t index)
    : blk_(blk),
      index_(index),
      size_(blk.backend().size()),
      fd_(blk.backend().whole_file_fd()),
      dirty_(static_cast<size_t>((size_ + kChunkSize - 1) / kChunkSize)) {
  hook_ = blk_.add_write_hook([this](uint64_t offset, uint64_t len) {
    for (uint64_t c = offset / kChunkSize; c <= (offset + len - 1) / kChunkSize && c < dirty_.size(); c++)
      dirty_.set(c);
  });
}

DriveLog::~DriveLog() { blk_.remove_write_hook(hook_); }

std::vector<uint64_t> DriveLog::take() {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < dirty_.word_count(); i++)
    if (dirty_.word(i))
      for (uint64_t w = dirty_.take_word(i); w; w &= w - 1) out.push_back(i * 64 + std::countr_zero(w));
  return out;
}

Status DriveLog::read(const std::vector<uint64_t>& chunks, uint8_t* dst) const {
  for (size_t i = 0; i < chunks.size(); i++) {
    const uint64_t off = chunks[i] * kChunkSize;
    const size_t n = static_cast<size_t>(std::min(kChunkSize, size_ - off));
    uint8_t* p = dst + i * kChunkSize;
    Status st = dev::pread_full(fd_, p, n, off);
    if (!st.ok()) return st.error().context("drive " + std::to_string(index_));
    if (n < kChunkSize) std::memset(p + n, 0, kChunkSize - n);
  }
  return Ok();
}

std::vector<uint64_t> DriveLog::data_chunks() const {
  std::vector<uint64_t> out;
  off_t pos = 0;
  for (;;) {
    off_t data = ::lseek(fd_, pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: no data after pos (or no SEEK_DATA: see below)
    off_t hole = ::lseek(fd_, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size_);
    for (uint64_t c = static_cast<uint64_t>(data) / kChunkSize;
         c * kChunkSize < static_cast<uint64_t>(hole) && c < chunk_count(); c++)
      if (out.empty() || out.back() != c) out.push_back(c);
    pos = hole;
    if (static_cast<uint64_t>(pos) >= size_) break;
  }
  if (out.empty() && pos == 0 && ::lseek(fd_, 0, SEEK_DATA) < 0 && errno != ENXIO) {
    // A file system without SEEK_DATA: every chunk.
    for (uint64_t c = 0; c < chunk_count(); c++) out.push_back(c);
  }
  return out;
}

std::vector<std::unique_ptr<DriveLog>> log_writable_drives(board::Machine& m) {
  std::vector<std::unique_ptr<DriveLog>> logs;
  uint32_t index = 0;
  for (size_t slot = 0; slot < m.virtio_count(); slot++)
    if (auto* blk = dynamic_cast<dev::VirtioBlk*>(&m.virtio_device(slot)))
      if (uint32_t i = index++; !blk->read_only()) logs.push_back(std::make_unique<DriveLog>(*blk, i));
  return logs;
}

}  // namespace tandem::replication
