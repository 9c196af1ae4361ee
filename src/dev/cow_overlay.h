// A copy-on-write overlay over a read-only raw image: the drive of a VM
// that must not change the image (a restored snapshot's drive copy, `run
// --snapshot`) when the filesystem cannot reflink (dev/private_drive.h).
//
// The overlay file is the VM's own, sparse and as large as the drive;
// chunk i of the drive lives at the same offset in it once overlaid, and
// a bitmap says which chunks are. Reads of a chunk not overlaid come from
// the image; the first write to a chunk moves it into the overlay (copying
// the image's chunk first when the write covers only part of it). Nothing
// is ever written to the image.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dev/block_backend.h"

namespace tandem::dev {

class CowOverlay : public BlockBackend {
 public:
  // The unit of copy-on-write: a 4 KiB guest write into a fresh chunk
  // copies 60 KiB, and the map stays 1 byte per 64 KiB (16 KiB per GiB).
  static constexpr uint64_t kChunkSize = 64 * 1024;

  // Takes ownership of both fds. `base_fd`: the image, read-only;
  // `overlay_fd`: an empty file of the VM's own, sized here.
  static Result<std::unique_ptr<CowOverlay>> create(int base_fd, int overlay_fd, std::string base_path);
  ~CowOverlay() override;
  CowOverlay(const CowOverlay&) = delete;
  CowOverlay& operator=(const CowOverlay&) = delete;

  uint64_t size() const override { return size_; }
  Status read(uint8_t* buf, size_t len, uint64_t offset) override;
  Status write(const uint8_t* buf, size_t len, uint64_t offset) override;
  Status flush() override { return Ok(); }
  int whole_file_fd() const override { return -1; }
  bool is_private() const override { return true; }
  std::string describe() const override { return "a private overlay of '" + base_path_ + "'"; }

  uint64_t chunks_overlaid() const { return overlaid_count_; }
  bool overlaid(uint64_t chunk) const { return overlaid_[chunk].load(std::memory_order_acquire) != 0; }

 private:
  CowOverlay(int base_fd, int overlay_fd, std::string base_path, uint64_t size);
  uint64_t chunk_len(uint64_t chunk) const;

  int base_fd_;
  int overlay_fd_;
  std::string base_path_;
  uint64_t size_;
  uint64_t chunks_;
  // Set (release) once the chunk's bytes are in the overlay, so a reader
  // on another thread that sees the bit finds them there.
  std::unique_ptr<std::atomic<uint8_t>[]> overlaid_;
  std::atomic<uint64_t> overlaid_count_{0};
  std::vector<uint8_t> chunk_buf_;  // the writer's partial-chunk merge
};

}  // namespace tandem::dev
