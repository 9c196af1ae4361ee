#include "dev/cow_overlay.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace tandem::dev {

Result<std::unique_ptr<CowOverlay>> CowOverlay::create(int base_fd, int overlay_fd, std::string base_path) {
  auto size = fd_size(base_fd);
  // A sparse file as large as the drive: chunks not overlaid take no space.
  if (size.ok() && ::ftruncate(overlay_fd, static_cast<off_t>(*size)) != 0) size = sys_error("size the overlay");
  if (!size.ok()) {
    ::close(base_fd);
    ::close(overlay_fd);
    return size.error().context("overlay of '" + base_path + "'");
  }
  return std::unique_ptr<CowOverlay>(new CowOverlay(base_fd, overlay_fd, std::move(base_path), *size));
}

CowOverlay::CowOverlay(int base_fd, int overlay_fd, std::string base_path, uint64_t size)
    : base_fd_(base_fd),
      overlay_fd_(overlay_fd),
      base_path_(std::move(base_path)),
      size_(size),
      chunks_((size + kChunkSize - 1) / kChunkSize),
      overlaid_(new std::atomic<uint8_t>[chunks_]()),
      chunk_buf_(kChunkSize) {}

CowOverlay::~CowOverlay() {
  ::close(base_fd_);
  ::close(overlay_fd_);
}

uint64_t CowOverlay::chunk_len(uint64_t chunk) const { return std::min(kChunkSize, size_ - chunk * kChunkSize); }

Status CowOverlay::read(uint8_t* buf, size_t len, uint64_t offset) {
  if (offset > size_ || len > size_ - offset) return Error("read past the end of the drive");
  // Runs of chunks from the same file are read with one pread.
  for (uint64_t at = offset, end = offset + len; at < end;) {
    bool from_overlay = overlaid(at / kChunkSize);
    uint64_t run_end = std::min(end, (at / kChunkSize + 1) * kChunkSize);
    while (run_end < end && overlaid(run_end / kChunkSize) == from_overlay)
      run_end = std::min(end, run_end + kChunkSize);
    Status st = pread_full(from_overlay ? overlay_fd_ : base_fd_, buf + (at - offset), run_end - at, at);
    if (!st.ok()) return st.error().context(from_overlay ? "overlay" : "'" + base_path_ + "'");
    at = run_end;
  }
  return Ok();
}

Status CowOverlay::write(const uint8_t* buf, size_t len, uint64_t offset) {
  if (offset > size_ || len > size_ - offset) return Error("write past the end of the drive");
  for (uint64_t at = offset, end = offset + len; at < end;) {
    uint64_t chunk = at / kChunkSize;
    uint64_t start = chunk * kChunkSize;
    uint64_t piece_end = std::min(end, start + chunk_len(chunk));
    const uint8_t* piece = buf + (at - offset);
    Status st;
    if (overlaid(chunk) || (at == start && piece_end == start + chunk_len(chunk))) {
      st = pwrite_full(overlay_fd_, piece, piece_end - at, at);
    } else {
      // A part of a chunk not overlaid yet: the rest of it must come along.
      st = pread_full(base_fd_, chunk_buf_.data(), chunk_len(chunk), start);
      if (!st.ok()) return st.error().context("'" + base_path_ + "'");
      std::memcpy(chunk_buf_.data() + (at - start), piece, piece_end - at);
      st = pwrite_full(overlay_fd_, chunk_buf_.data(), chunk_len(chunk), start);
    }
    if (!st.ok()) return st.error().context("overlay");
    if (!overlaid(chunk)) {
      overlaid_[chunk].store(1, std::memory_order_release);
      overlaid_count_++;
    }
    at = piece_end;
  }
  return Ok();
}

}  // namespace tandem::dev
