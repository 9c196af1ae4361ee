// Live save: writes a snapshot while the guest keeps running.
//
// kSuspend (pre-copy): every page is written by a background thread while
// the vCPU runs; pages the guest dirtied meanwhile (the save's own
// DirtyLog, an epoch per round) are written again in the next round. When a
// round's dirty set is small, or after kMaxRounds, the VM stops, the
// remainder and the CPU/device state are written and the machine exits.
// Re-saving rather than copy-before-write keeps the guest's writes free of
// hooks while it runs; the cost is pages saved twice, which is reported.
// The last round before the stop writes the pages touched so far again, in
// order of first touch, so that a working-set restore finds them packed
// into consecutive blocks instead of spread over the whole file.
//
// kSnapshot (copy-on-write): the state is that of the request's instant
// and the VM keeps running. At the request the CPU and device state are
// captured and every page is write-protected (a bitmap and a TLB flush:
// the pause is microseconds); a background thread copies each page out and
// lifts its protection, and the first guest or device write to a page not
// yet copied first copies it (GuestMemory's write hook). Copy-before-write
// rather than re-saving is what keeps the file at the request's instant.
// Each writable drive gets a copy of its content at the instant next to
// the file (FILE.driveN, state/disk_snapshot.h: a reflink, or a background
// copy that guest writes overtake by copying the old blocks first); the
// file is committed once those copies are durable, and names them as its
// drives.
//
// kSuspend flushes the drives (fdatasync) before committing: the disk is
// then as durable as the snapshot that expects it.
//
// A page whose working-set trace fires (any read, write or fetch, by the
// CPU or a device) from the request until the stop is recorded as active,
// in order of first touch; restore loads those first.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/thread.h"
#include "board/machine.h"
#include "state/disk_snapshot.h"
#include "state/snapshot.h"
#include "state/snapshot_file.h"

namespace tandem::state {

struct SaveReport {
  double pause_ms = 0;        // stop-the-world: guest not running
  double commit_ms = 0;       // of which writing the index and header, fsync, rename
  double total_ms = 0;        // request to file durable
  uint64_t file_bytes = 0;
  uint64_t pages_saved = 0;   // non-zero pages written, re-saves included
  uint64_t pages_saved_twice = 0;
  uint64_t active_pages = 0;
  // kSuspend: pages written again in first-touch order before the stop.
  uint64_t working_set_pages = 0;
  unsigned rounds = 0;
  // kSnapshot with writable drives: the copies of the drives at the
  // instant (FILE.driveN), their bytes, how many of those a guest write
  // had to copy ahead of the background copier, and whether the
  // filesystem made every copy by reflink.
  std::vector<std::string> drive_copies;
  uint64_t disk_bytes = 0;
  uint64_t disk_bytes_copied_early = 0;
  bool disk_reflink = false;
};

struct SaveProgress {
  std::string phase;  // "copying", "stopping", "done", "failed"
  unsigned round = 0;
  uint64_t pages_done = 0;   // pages handed to the writer so far
  uint64_t pages_total = 0;  // pages in RAM
  uint64_t disk_bytes_done = 0;   // writable drives' copies (kSnapshot)
  uint64_t disk_bytes_total = 0;
  double elapsed_ms = 0;
};

class LiveSave {
 public:
  static constexpr unsigned kMaxRounds = 8;
  // Stop when a round dirtied at most this many pages (2 MiB): writing
  // them with the guest stopped takes a few milliseconds.
  static constexpr size_t kStopThreshold = 512;
  // Cached blocks run before the trace that the snapshot lists after the
  // traced ones (Machine::recent_blocks, every hart's): the code of
  // requests served before the save, for a restore to decode ahead. A restored guest's first
  // request ran about 6,000 blocks, part of them traced; 4,000 more decode
  // in about 1.5 ms on the restore's second thread.
  static constexpr size_t kRecentCode = 4000;

  // Starts on the vCPU thread (between slices).
  static Result<std::unique_ptr<LiveSave>> start_suspend(board::Machine& m, const std::string& path);
  static Result<std::unique_ptr<LiveSave>> start_snapshot(board::Machine& m, const std::string& path);
  ~LiveSave();

  // Called on the vCPU thread between slices; advances the save. Returns
  // true once finished (then result() is set and, for a suspend, the
  // machine was asked to exit).
  bool tick();
  bool finished() const { return finished_; }
  const Result<SaveReport>& result() const { return result_; }
  SaveProgress progress() const;

 private:
  LiveSave(board::Machine& m, std::unique_ptr<SnapshotWriter> writer);
  void start_round(std::vector<uint32_t> pages);
  void start_copy_out();
  bool finish_snapshot();
  void on_protected_write(size_t page);
  Status finish();
  void fail(const Error& e);

  board::Machine& m_;
  std::unique_ptr<SnapshotWriter> writer_;
  std::chrono::steady_clock::time_point t0_;
  Thread worker_;
  std::atomic<bool> worker_done_{true};
  Status worker_status_;
  std::atomic<uint64_t> pages_done_{0};
  unsigned round_ = 0;
  uint64_t resaved_ = 0;
  bool working_set_written_ = false;
  std::vector<uint64_t> recent_code_;
  uint64_t working_set_pages_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  // kSuspend: the save's own dirty log (replication may hold another).
  std::unique_ptr<mem::DirtyLog> dirty_log_;
  // kSnapshot: the state captured at the request, and the pages the write
  // hook copied before the background thread reached them.
  bool cow_ = false;
  std::unique_ptr<mem::WriteHook> cow_hook_;
  Snapshot cow_snap_;
  double cow_pause_ms_ = 0;
  std::mutex cow_mu_;
  std::vector<uint8_t> cow_done_;  // per page: copied out (by either side)
  std::unordered_map<uint32_t, std::unique_ptr<uint8_t[]>> cow_copies_;
  // kSnapshot: the writable drives' copies at the instant (null or empty
  // without writable drives); the file commits only once they are done.
  std::unique_ptr<DriveSnapshots> drives_;
  Result<SaveReport> result_{Error("save still running")};
};

}  // namespace tandem::state
