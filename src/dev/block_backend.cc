#include "dev/block_backend.h"

#include <unistd.h>

#include <cerrno>

namespace tandem::dev {

Status pread_full(int fd, uint8_t* buf, size_t len, uint64_t offset) {
  while (len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read at byte " + std::to_string(offset));
    if (n == 0) return Error("read at byte " + std::to_string(offset) + ": the file ends there");
    buf += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Ok();
}

Status pwrite_full(int fd, const uint8_t* buf, size_t len, uint64_t offset) {
  while (len > 0) {
    ssize_t n = ::pwrite(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_error("write at byte " + std::to_string(offset), n < 0 ? errno : ENOSPC);
    buf += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Ok();
}

Result<uint64_t> fd_size(int fd) {
  off_t end = ::lseek(fd, 0, SEEK_END);  // works for block devices too
  if (end < 0) return sys_error("find the drive's size");
  return static_cast<uint64_t>(end);
}

RawFileBackend::RawFileBackend(int fd, uint64_t size, std::string path, bool owns_fd, bool is_private)
    : fd_(fd), size_(size), path_(std::move(path)), owns_fd_(owns_fd), private_(is_private) {}

RawFileBackend::~RawFileBackend() {
  if (owns_fd_) ::close(fd_);
}

Status RawFileBackend::read(uint8_t* buf, size_t len, uint64_t offset) { return pread_full(fd_, buf, len, offset); }

Status RawFileBackend::write(const uint8_t* buf, size_t len, uint64_t offset) {
  return pwrite_full(fd_, buf, len, offset);
}

Status RawFileBackend::flush() {
  if (private_) return Ok();
  if (::fdatasync(fd_) != 0) return sys_error("flush drive '" + path_ + "'");
  return Ok();
}

std::string RawFileBackend::describe() const {
  return private_ ? "a private reflinked copy of '" + path_ + "'" : "'" + path_ + "'";
}

}  // namespace tandem::dev
