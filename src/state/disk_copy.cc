#include "state/disk_copy.h"

#include <fcntl.h>
#include <linux/fs.h>  // FICLONE
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/bytes.h"
#include "state/file_util.h"

namespace tandem::state {

namespace {

constexpr uint64_t kBlock = 4096;

bool all_zero(const uint8_t* p, size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

Result<uint64_t> file_size(int fd) {
  off_t end = ::lseek(fd, 0, SEEK_END);  // works for block devices too
  if (end < 0) return sys_error("find the drive's size");
  return static_cast<uint64_t>(end);
}

}  // namespace

Result<DriveIdentity> drive_identity(int fd) {
  auto size = file_size(fd);
  if (!size.ok()) return size.error();
  DriveIdentity id;
  id.bytes = *size;
  XXH3_state_t* h = XXH3_createState();
  if (!h) return Error("out of memory");
  XXH3_64bits_reset(h);
  uint8_t le[8];
  store_le<uint64_t>(le, id.bytes);
  XXH3_64bits_update(h, le, sizeof le);
  uint64_t blocks = (id.bytes + kBlock - 1) / kBlock;
  uint64_t n = std::min<uint64_t>(kIdentitySamples, blocks);
  uint8_t buf[kBlock];
  Status st;
  for (uint64_t k = 0; k < n && st.ok(); k++) {
    uint64_t block = n == 1 ? 0 : k * (blocks - 1) / (n - 1);
    uint64_t off = block * kBlock;
    size_t len = static_cast<size_t>(std::min(kBlock, id.bytes - off));
    st = pread_all(fd, buf, len, off);
    if (st.ok()) XXH3_64bits_update(h, buf, len);
  }
  id.sample = XXH3_64bits_digest(h);
  XXH3_freeState(h);
  if (!st.ok()) return st.error();
  return id;
}

Status check_drive_identity(const std::string& path, const DriveIdentity& expect) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return Error("its copy '" + path +
                   "' is missing (a snapshot of a VM with a writable drive is the snapshot file plus "
                   "this copy: keep and move them together)");
    return sys_error("open its copy '" + path + "'", err);
  }
  auto id = drive_identity(fd);
  ::close(fd);
  if (!id.ok()) return id.error().context("read its copy '" + path + "'");
  if (id->bytes != expect.bytes)
    return Error("its copy '" + path + "' is " + std::to_string(id->bytes) + " bytes, but the snapshot's was " +
                 std::to_string(expect.bytes) + " (truncated, or not this snapshot's copy)");
  if (id->sample != expect.sample)
    return Error("its copy '" + path +
                 "' does not hold the snapshot's content (sampled blocks differ: it belongs to another "
                 "snapshot, or a VM restored from this snapshot has written to it since)");
  return Ok();
}

Result<std::unique_ptr<DiskCopy>> DiskCopy::start(int source_fd, const std::string& dest, const Options& options) {
  auto size = file_size(source_fd);
  if (!size.ok()) return size.error().context("copy drive to '" + dest + "'");
  auto source = std::make_unique<dev::RawFileBackend>(source_fd, *size, "the drive", /*owns_fd=*/false);
  auto c = start(*source, dest, options);
  if (c.ok()) (*c)->owned_source_ = std::move(source);
  return c;
}

Result<std::unique_ptr<DiskCopy>> DiskCopy::start(dev::BlockBackend& source, const std::string& dest,
                                                  const Options& options) {
  const uint64_t size = source.size();
  const int source_fd = source.whole_file_fd();
  struct stat sst {}, dst {};
  bool have_source = source_fd >= 0 && ::fstat(source_fd, &sst) == 0;
  // A VM restored from FILE with --drive-in-place runs on FILE.driveN:
  // saving to FILE again would rename the new copy over the file the VM
  // still writes (an unlinked inode then, whose writes are lost when the
  // VM exits). A private copy (the default) has no name: nothing to meet.
  if (have_source && ::stat(dest.c_str(), &dst) == 0 && dst.st_dev == sst.st_dev && dst.st_ino == sst.st_ino)
    return Error("copy drive to '" + dest + "': that is the drive itself (this VM runs on a snapshot's drive "
                 "copy, restored with --drive-in-place); save the snapshot under another name");
  mode_t mode = have_source && S_ISREG(sst.st_mode) ? (sst.st_mode & 0777) : 0600;
  std::string tmp = dest + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("create drive copy '" + tmp + "'");
  Method method = Method::kCopy;
  if (options.allow_reflink && source_fd >= 0 && ::ioctl(fd, FICLONE, source_fd) == 0) {
    method = Method::kReflink;
  } else if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    auto e = sys_error("size drive copy '" + tmp + "'");
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  std::unique_ptr<DiskCopy> c(new DiskCopy(source, fd, dest, size, method));
  if (options.background) {
    DiskCopy* self = c.get();
    c->copier_ = Thread([self] {
      while (!self->stop_ && self->copy_next()) {
      }
    });
  }
  return c;
}

DiskCopy::DiskCopy(dev::BlockBackend& source, int dest_fd, std::string dest, uint64_t size, Method method)
    : source_(source),
      dest_fd_(dest_fd),
      dest_(std::move(dest)),
      tmp_(dest_ + ".tmp"),
      size_(size),
      method_(method),
      chunks_((size + kChunkSize - 1) / kChunkSize) {
  if (method_ == Method::kReflink) {
    // The filesystem keeps the instant now; only syncing is left.
    state_.assign(chunks_, kDone);
    bytes_done_ = size_;
  } else {
    state_.assign(chunks_, kPending);
    copy_buf_.resize(kBatchChunks * kChunkSize);
    hook_buf_.resize(kBatchChunks * kChunkSize);
  }
}

DiskCopy::~DiskCopy() {
  stop_ = true;
  if (copier_.joinable()) copier_.join();
  ::close(dest_fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Status DiskCopy::copy_chunks(uint64_t first, uint64_t end, uint8_t* buf) {
  uint64_t off = first * kChunkSize;
  uint64_t len = std::min(end * kChunkSize, size_) - off;
  Status st = source_.read(buf, static_cast<size_t>(len), off);
  if (!st.ok()) return st.error().context("copy drive to '" + dest_ + "': read the drive");
  // Runs of non-zero 4 KiB blocks are written; zero blocks stay holes (the
  // copy was sized with holes, so they read as zero already).
  for (uint64_t at = 0; at < len;) {
    uint64_t n = std::min(kBlock, len - at);
    if (all_zero(buf + at, static_cast<size_t>(n))) {
      at += n;
      continue;
    }
    uint64_t run = at + n;
    while (run < len) {
      uint64_t m = std::min(kBlock, len - run);
      if (all_zero(buf + run, static_cast<size_t>(m))) break;
      run += m;
    }
    st = pwrite_all(dest_fd_, buf + at, static_cast<size_t>(run - at), off + at);
    if (!st.ok()) return st.error().context("copy drive to '" + dest_ + "'");
    at = run;
  }
  return Ok();
}

void DiskCopy::set_error(const Error& e) {
  if (error_.empty()) error_ = e.message();
}

Status DiskCopy::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.empty()) return Ok();
  return Error(error_);
}

// The writer's thread. Holding mu_ while copying keeps the copier from
// claiming the chunks meanwhile; the copier holds it only to claim and to
// mark done, never during its I/O.
void DiskCopy::before_write(uint64_t offset, uint64_t len) {
  if (method_ == Method::kReflink || len == 0 || finished_) return;
  uint64_t first = offset / kChunkSize;
  if (first >= chunks_) return;
  uint64_t last = std::min((offset + len - 1) / kChunkSize, chunks_ - 1);
  std::unique_lock<std::mutex> lock(mu_);
  for (uint64_t c = first; c <= last;) {
    // A chunk the copier is reading: its old content is in the copier's
    // buffer once it is marked done.
    chunk_done_.wait(lock, [&] { return state_[c] != kClaimed; });
    if (state_[c] == kDone) {
      c++;
      continue;
    }
    uint64_t end = c + 1;
    while (end <= last && end - c < kBatchChunks && state_[end] == kPending) end++;
    Status st = copy_chunks(c, end, hook_buf_.data());
    if (!st.ok()) set_error(st.error());
    uint64_t bytes = std::min(end * kChunkSize, size_) - c * kChunkSize;
    for (; c < end; c++) state_[c] = kDone;
    bytes_done_ += bytes;
    bytes_early_ += bytes;
  }
}

bool DiskCopy::copy_next() {
  if (finished_) return false;
  uint64_t first, end;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (next_ < chunks_ && state_[next_] != kPending) next_++;
    first = end = next_;
    while (end < chunks_ && end - first < kBatchChunks && state_[end] == kPending) state_[end++] = kClaimed;
    next_ = end;
  }
  if (first == chunks_) {
    finish();
    return false;
  }
  Status st = copy_chunks(first, end, copy_buf_.data());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!st.ok()) set_error(st.error());
    for (uint64_t c = first; c < end; c++) state_[c] = kDone;
    bytes_done_ += std::min(end * kChunkSize, size_) - first * kChunkSize;
  }
  chunk_done_.notify_all();
  return true;
}

// Every chunk is in the copy (nothing writes it any more): make it durable
// and compute what restore will check, off the vCPU thread.
void DiskCopy::finish() {
  Status st;
  if (::fdatasync(dest_fd_) != 0) st = sys_error("sync drive copy '" + tmp_ + "'");
  if (st.ok()) {
    auto id = drive_identity(dest_fd_);
    if (id.ok()) identity_ = *id;
    else st = id.error().context("drive copy '" + tmp_ + "'");
  }
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    set_error(st.error());
  }
  finished_ = true;
}

Result<DriveIdentity> DiskCopy::commit() {
  if (!finished_) return Error("drive copy '" + dest_ + "' is not finished");
  TANDEM_TRY(status());
  if (::rename(tmp_.c_str(), dest_.c_str()) != 0) return sys_error("rename '" + tmp_ + "' to '" + dest_ + "'");
  committed_ = true;
  TANDEM_TRY(fsync_parent_dir(dest_));
  return identity_;
}

void DiskCopy::discard() {
  if (committed_) ::unlink(dest_.c_str());
}

}  // namespace tandem::state
