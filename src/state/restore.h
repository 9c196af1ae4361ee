// Restore from a snapshot file, in one of three modes (docs/snapshot-format.md):
//   eager        load and check all memory, then run;
//   lazy         run at once; a page is loaded on its first touch (by the
//                CPU or a device), together with the rest of its block;
//                100 ms after the start an idle-priority thread checks
//                every block's checksum, so a damaged file stops the VM
//                even where the guest has not touched the damage;
//   working-set  load the blocks holding the pages of the code the guest
//                ran while it was being saved (the snapshot's code-blocks,
//                at most kWorkingSetHead pages; without them, the first
//                kWorkingSetHead active pages) on two threads (a helper
//                thread while the machine is set up, the caller's too from
//                start()), run, and let the helper decode that code for
//                the hart (in the order the guest first ran it), then, at
//                SCHED_IDLE, load the working set in order of first touch
//                and then every other block; a touch of a page not yet
//                loaded is served at once by the toucher.
// Only the code is loaded before the first instruction: a busy guest's
// working set can be thousands of pages (a 1 GiB memtouch guest: 3,200-
// 4,500), and loading all of it first delayed the first instruction by
// 5 ms on two threads, 23 ms on one; the guest needs its pages one at a
// time, in about the order recorded. What it needs most right after a
// restore is decoded code: its block cache is empty, and its first
// request runs at decode speed (about 6,000 blocks in the first 6 ms of a
// restored HTTP guest); the second thread takes that work off its core.
// Pages are marked absent in GuestMemory; its loader hook runs before any
// access to an absent page, so nothing reads a page before it is loaded.
// The idle-priority part steps aside on a host whose cores are busy (a
// guest computing, the clients it serves) and the restore behaves like
// lazy; on an idle core it loads the working set ahead of the guest. Each
// block is copied in once (see load_block_safely).
// Any mode can also record the working set (record_working_set(): the
// suspend's trace, run on the restored guest's first milliseconds, and
// the file rewritten with it first; state/working_set_record.h).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/thread.h"
#include "base/zeroed_array.h"
#include "board/machine.h"
#include "state/snapshot_file.h"

namespace tandem::state {

enum class RestoreMode { kEager, kLazy, kWorkingSet };
// Pages a working-set restore loads before the first instruction (1 MiB
// at most). A guest's code working set is 190-370 pages in a suspend's
// trace and 380-700 in a 100 ms recording here; the helper loads the rest
// of it as it decodes. On a recorded HTTP guest, heads of 128, 256 and 512
// pages answered alike (medians 5.5-5.6 ms, lazy 6.6); a 704-page head
// (a 200 ms recording, under the old cap of 1,024) lost to lazy in 5 of 8.
inline constexpr size_t kWorkingSetHead = 256;
Result<RestoreMode> parse_restore_mode(std::string_view text);
const char* restore_mode_name(RestoreMode mode);

struct RestoreReport {
  RestoreMode mode = RestoreMode::kWorkingSet;
  double first_instruction_ms = 0;  // open of the file to the guest's first instruction
  double resident_ms = -1;          // ... to all memory loaded (-1: not yet)
  double working_set_ms = -1;       // ... to the active pages loaded (-1: not yet)
  uint64_t active_pages = 0;        // in the snapshot's working set
  uint64_t pages_prefetched = 0;    // loaded before the guest started
  uint64_t pages_on_demand = 0;     // loaded because the guest touched them
  uint64_t pages_streamed = 0;      // loaded by the background thread
  uint64_t blocks_offered = 0;      // decoded ahead for the harts, summed (working-set)
  uint64_t pages_not_loaded = 0;    // stored pages still absent
  // --record-working-set: "off", "recording", "writing", "written" or
  // "failed" (record_error says why); what was recorded.
  std::string record_status = "off";
  std::string record_error;
  uint64_t recorded_pages = 0;
  uint64_t recorded_code_blocks = 0;
};

class Restore {
 public:
  // Opens and checks the file, builds the machine and applies the state;
  // `adjust` may change run-time options (stats, monitor) of the config.
  // `progress` follows an eager restore's loading (SnapshotReader::load_memory).
  static Result<std::unique_ptr<Restore>> open(const std::string& path, RestoreMode mode,
                                                const std::function<void(board::MachineConfig&)>& adjust,
                                                const SnapshotReader::Progress& progress = {});
  ~Restore();

  board::Machine& machine() { return *machine_; }
  // Call right before running the guest: finishes the working set's head
  // (an error if one of its blocks is damaged: do not run the guest then),
  // notes the time, starts streaming.
  Status start();
  RestoreReport report() const;
  // Records the working set (state/working_set_record.h): the pages the
  // guest touches and the code it enters in its first `window_ms` from
  // start(), then rewrites the file with them first, on a thread of its
  // own at idle priority. Call before start().
  void record_working_set(double window_ms) { record_window_ms_ = window_ms; }
  // Closes the recording window now if it is open (a save is about to
  // trace the guest itself, or the guest has ended). vCPU thread, or with
  // the hart stopped.
  void end_recording();
  // Ends the recording and waits for the file to be rewritten: its error
  // if that failed. Call once the guest has stopped.
  Status finish_recording();
  // Set when a page could not be loaded; the VM was stopped.
  std::string load_error() const;

 private:
  Restore() = default;
  enum class Why { kPrefetch, kOnDemand, kStream };
  // `needed`: the page a toucher waits for (-1: none).
  Status load_block_safely(size_t block, Why why, int64_t needed = -1);
  void wait_present(int64_t page) const;
  void load_head();
  void on_absent(size_t page);
  void stream();
  void verify();
  void stop_vm(const Error& e);

  RestoreMode mode_ = RestoreMode::kWorkingSet;
  std::chrono::steady_clock::time_point t0_;
  std::unique_ptr<SnapshotReader> reader_;
  std::unique_ptr<board::Machine> machine_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // load_error_, head_error_, record_error_
  // Per page, who copies it in (load_block_safely); atomic_ref because
  // the array is calloc'd (ZeroedArray: a page's byte is faulted in when
  // it is first claimed, not all of them before the guest starts).
  enum : uint8_t { kUnclaimed = 0, kCopying = 1, kCopied = 2 };
  ZeroedArray<uint8_t> page_claim_;
  std::atomic_ref<uint8_t> claim(uint32_t page) { return std::atomic_ref<uint8_t>(page_claim_[page]); }
  static_assert(std::atomic_ref<uint8_t>::required_alignment == 1);
  std::atomic<uint64_t> absent_left_{0};
  std::atomic<uint64_t> on_demand_{0}, streamed_{0}, blocks_offered_{0};
  // Blocks handed to the hart at a time: small enough that the first
  // arrive while the guest is still in its first requests.
  static constexpr size_t kOfferBatch = 128;
  // A lazy restore checks the whole file this long after the start.
  static constexpr int kVerifyDelayMs = 100;
  std::atomic<uint64_t> prefetched_{0};
  // The helper thread (help()) and how far the restore is; it waits for
  // each stage before its part of the next.
  void help();
  void advance(int stage);
  enum : int { kAbandoned = -1, kOpening = 0, kTableKnown = 1, kHeadKnown = 2, kRunning = 3 };
  std::atomic<int> stage_{kOpening};
  size_t expected_blocks_ = 0;  // set before kTableKnown
  cpu::Hart::BlockTable block_table_;
  std::atomic<bool> table_made_{false};
  // Working-set: the blocks loaded before the first instruction, taken in
  // turn (head_next_) by the helper and, from start(), the caller's thread.
  std::vector<uint32_t> head_blocks_;
  std::atomic<size_t> head_next_{0};
  std::atomic<int> head_busy_{0};
  std::optional<Error> head_error_;  // guarded by mu_
  double first_instruction_ms_ = 0;
  std::atomic<double> resident_ms_{-1};
  std::atomic<double> working_set_ms_{-1};
  std::string load_error_;
  // Recording (--record-working-set).
  enum : int { kRecordOff, kRecording, kRecordWriting, kRecordWritten, kRecordFailed };
  std::atomic<int> record_state_{kRecordOff};
  double record_window_ms_ = 0;
  std::chrono::steady_clock::time_point record_t0_;
  int record_hook_ = 0;
  uint64_t recorded_pages_ = 0, recorded_code_ = 0;  // set before kRecordWriting
  std::optional<Error> record_error_;                 // guarded by mu_
  Thread recorder_;
  void start_recording();
  Thread helper_;  // last: it uses everything above
};

}  // namespace tandem::state
