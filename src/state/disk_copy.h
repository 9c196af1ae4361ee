// Keeps a drive image's content of one instant in a second file while the
// VM goes on writing the image: the disk half of a snapshot that lets the
// guest continue (docs/architecture.md, "Saving and restoring state").
//
// start() first tries a reflink (ioctl FICLONE) when one file holds the
// whole drive: the filesystem shares the blocks and copies on write by
// itself, which is instant on btrfs and xfs. A drive on a copy-on-write
// overlay (dev/cow_overlay.h) is read through the overlay and copied.
// Elsewhere a background thread copies the image in 64 KiB chunks, and the
// drive calls before_write() ahead of every guest write: a chunk the copier
// has not reached yet is copied first, with its old content (the disk
// analogue of GuestMemory's write hook). Chunks that read as zero are left
// as holes, so a sparse image gives a sparse copy. Either way the copy is
// made durable (fdatasync) and its identity computed on the background
// thread; commit() only renames it into place.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread.h"
#include "dev/block_backend.h"

namespace tandem::state {

// What a restore checks of a drive copy before running on it: its size and
// a checksum of sampled blocks (reading the whole image would make restore
// as slow as the disk is big).
struct DriveIdentity {
  uint64_t bytes = 0;
  // XXH3 of the size and of kIdentitySamples 4 KiB blocks spread evenly
  // over the file, the first and the last included.
  uint64_t sample = 0;
  bool operator==(const DriveIdentity&) const = default;
};
inline constexpr unsigned kIdentitySamples = 64;

Result<DriveIdentity> drive_identity(int fd);
// Refuses, with a message naming `path`, a missing file, one of another
// size, or one whose sampled blocks differ.
Status check_drive_identity(const std::string& path, const DriveIdentity& expect);

class DiskCopy {
 public:
  static constexpr uint64_t kChunkSize = 64 * 1024;
  // The background copier claims this many chunks per read (1 MiB).
  static constexpr uint64_t kBatchChunks = 16;

  enum class Method { kReflink, kCopy };
  struct Options {
    bool allow_reflink = true;
    // false: no thread; the caller calls copy_next() until it returns
    // false (tests order the copier against writes this way).
    bool background = true;
  };

  // Call with no write to the drive in flight (the snapshot instant).
  // Creates `dest`.tmp; `source` stays the caller's and must live as long
  // as this object.
  static Result<std::unique_ptr<DiskCopy>> start(dev::BlockBackend& source, const std::string& dest,
                                                 const Options& options);
  // The same for a raw image open at `source_fd` (the caller's).
  static Result<std::unique_ptr<DiskCopy>> start(int source_fd, const std::string& dest, const Options& options);
  // Stops the copier; removes the temporary file unless committed.
  ~DiskCopy();
  DiskCopy(const DiskCopy&) = delete;
  DiskCopy& operator=(const DiskCopy&) = delete;

  // Before a write of [offset, offset + len) to the image lands, on the
  // writer's thread: preserves the old content of chunks not yet copied
  // (waits if the copier is reading one of them).
  void before_write(uint64_t offset, uint64_t len);
  // Copies the next batch of chunks not yet copied; at the end syncs the
  // copy and computes its identity. Returns false once everything is done.
  bool copy_next();

  // The copy holds the whole instant and is durable (or it failed).
  bool done() const { return finished_; }
  // The first I/O error of the copy (then the snapshot must fail).
  Status status() const;
  uint64_t bytes_total() const { return size_; }
  uint64_t bytes_done() const { return bytes_done_; }
  // Of bytes_done(), those copied by before_write() ahead of the copier.
  uint64_t bytes_copied_early() const { return bytes_early_; }
  Method method() const { return method_; }
  const std::string& path() const { return dest_; }

  // Once done() without error: renames the copy to its final name (and
  // syncs the directory). Returns the identity restore will check.
  Result<DriveIdentity> commit();
  // After commit(): removes the final file again (the snapshot it belongs
  // to could not be committed).
  void discard();

 private:
  enum : uint8_t { kPending = 0, kClaimed = 1, kDone = 2 };
  DiskCopy(dev::BlockBackend& source, int dest_fd, std::string dest, uint64_t size, Method method);
  // Copies [first, end) chunks with `buf` (the caller owns them in state_).
  Status copy_chunks(uint64_t first, uint64_t end, uint8_t* buf);
  void finish();
  void set_error(const Error& e);

  std::unique_ptr<dev::BlockBackend> owned_source_;  // start(int source_fd, ...)
  dev::BlockBackend& source_;
  int dest_fd_;
  std::string dest_;
  std::string tmp_;
  uint64_t size_;
  Method method_;
  uint64_t chunks_;
  Thread copier_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> bytes_early_{0};
  bool committed_ = false;
  DriveIdentity identity_;

  mutable std::mutex mu_;
  std::condition_variable chunk_done_;
  std::vector<uint8_t> state_;     // per chunk; guarded by mu_
  uint64_t next_ = 0;              // the copier's cursor (copier only)
  std::vector<uint8_t> copy_buf_;  // the copier's batch buffer
  std::vector<uint8_t> hook_buf_;  // before_write()'s chunk buffer; guarded by mu_
  std::string error_;              // guarded by mu_
};

}  // namespace tandem::state
