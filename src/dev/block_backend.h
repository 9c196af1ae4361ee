// Where a virtio-blk drive's bytes live on the host: a raw image file
// written in place, or a private copy of one (dev/private_drive.h) that the
// VM writes instead of the image. The device and the snapshot code (which
// copies a drive's content, state/disk_copy.h) see only this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"

namespace tandem::dev {

// pread/pwrite of the whole range, retrying short transfers and EINTR; a
// read past the end of the file is an error.
Status pread_full(int fd, uint8_t* buf, size_t len, uint64_t offset);
Status pwrite_full(int fd, const uint8_t* buf, size_t len, uint64_t offset);

class BlockBackend {
 public:
  virtual ~BlockBackend() = default;
  // Bytes of the drive (fixed for the backend's life).
  virtual uint64_t size() const = 0;
  // read() may run on another thread than write() (a snapshot's copier),
  // provided the two never touch the same 64 KiB chunk at the same time.
  virtual Status read(uint8_t* buf, size_t len, uint64_t offset) = 0;
  virtual Status write(const uint8_t* buf, size_t len, uint64_t offset) = 0;
  // Makes completed writes durable; a private copy needs nothing (it
  // ends with the process).
  virtual Status flush() = 0;
  // A file holding the drive's whole content, byte for byte (for a
  // reflink of it), or -1 when the content is spread over two files.
  virtual int whole_file_fd() const = 0;
  // True when the content lives only as long as this process (a private
  // copy): a suspend must write it out somewhere first.
  virtual bool is_private() const = 0;
  // What the drive runs on, for messages ("private overlay of 'x'").
  virtual std::string describe() const = 0;
};

// A raw image used in place.
class RawFileBackend : public BlockBackend {
 public:
  // Takes ownership of `fd` when `owns_fd`.
  RawFileBackend(int fd, uint64_t size, std::string path, bool owns_fd = true, bool is_private = false);
  ~RawFileBackend() override;
  RawFileBackend(const RawFileBackend&) = delete;
  RawFileBackend& operator=(const RawFileBackend&) = delete;

  uint64_t size() const override { return size_; }
  Status read(uint8_t* buf, size_t len, uint64_t offset) override;
  Status write(const uint8_t* buf, size_t len, uint64_t offset) override;
  Status flush() override;
  int whole_file_fd() const override { return fd_; }
  bool is_private() const override { return private_; }
  std::string describe() const override;

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
  bool owns_fd_;
  bool private_;
};

// The size of an open file or block device.
Result<uint64_t> fd_size(int fd);

}  // namespace tandem::dev
