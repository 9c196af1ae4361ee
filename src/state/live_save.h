// Live save: writes a snapshot while the guest keeps running.
//
// kSuspend (pre-copy): every page is written by a background thread while
// the vCPU runs; pages the guest dirtied meanwhile (GuestMemory dirty
// bits, re-armed per round) are written again in the next round. When a
// round's dirty set is small, or after kMaxRounds, the VM stops, the
// remainder and the CPU/device state are written and the machine exits.
// Re-saving rather than copy-before-write keeps the guest's writes free of
// hooks while it runs; the cost is pages saved twice, which is reported.
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
#include <thread>
#include <vector>

#include "base/result.h"
#include "board/machine.h"
#include "state/snapshot_file.h"

namespace tandem::state {

struct SaveReport {
  double pause_ms = 0;        // stop-the-world: guest not running
  double total_ms = 0;        // request to file durable
  uint64_t file_bytes = 0;
  uint64_t pages_saved = 0;   // non-zero pages written, re-saves included
  uint64_t pages_saved_twice = 0;
  uint64_t active_pages = 0;
  unsigned rounds = 0;
};

struct SaveProgress {
  std::string phase;  // "copying", "stopping", "done", "failed"
  unsigned round = 0;
  uint64_t pages_done = 0;   // pages handed to the writer so far
  uint64_t pages_total = 0;  // pages in RAM
  double elapsed_ms = 0;
};

class LiveSave {
 public:
  static constexpr unsigned kMaxRounds = 8;
  // Stop when a round dirtied at most this many pages (4 MiB): writing
  // them with the guest stopped takes a few milliseconds.
  static constexpr size_t kStopThreshold = 1024;

  // Starts on the vCPU thread (between slices).
  static Result<std::unique_ptr<LiveSave>> start_suspend(board::Machine& m, const std::string& path);
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
  Status finish();
  void fail(const Error& e);

  board::Machine& m_;
  std::unique_ptr<SnapshotWriter> writer_;
  std::chrono::steady_clock::time_point t0_;
  std::thread worker_;
  std::atomic<bool> worker_done_{true};
  Status worker_status_;
  std::atomic<uint64_t> pages_done_{0};
  unsigned round_ = 0;
  uint64_t resaved_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  Result<SaveReport> result_{Error("save still running")};
};

}  // namespace tandem::state
