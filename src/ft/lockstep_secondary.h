// The secondary of a quasi-lockstep pair (lockstep_primary.h). It takes
// the primary's initial synchronisation as a checkpointing backup would
// (replication::Backup in lockstep mode) and then runs the VM from it:
// its guest gets the frames and virtio-rng bytes the primary mirrors (its
// own network backend's input is dropped), and each frame its guest sends
// goes to the primary for comparison instead of to the world. At a
// resync it stops, reports the pages its guest wrote since the last sync,
// and loads the checkpoint the primary sends into the running machine.
// When the primary is lost (and the arbiter, if any, gives it the pair)
// it goes live: it announces the guest's MAC, its backends carry the
// guest's traffic, and TCP connections opened since the last sync keep
// the primary's sequence numbers through the mappings it was sent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/wakeup.h"
#include "base/result.h"
#include "base/thread.h"
#include "board/machine.h"
#include "ft/ft_status.h"
#include "ft/flow_maps.h"
#include "ft/recent_frames.h"
#include "mem/dirty_log.h"
#include "replication/drive_log.h"
#include "replication/backup.h"

namespace tandem::ft {

struct SecondaryOptions {
  replication::HostPort listen;
  // The VM's backends, used once it goes live; empty: the primary's.
  std::vector<std::string> nets;
  // Where the copies of the primary's writable drives live (drive<N>.img).
  std::string drive_dir;
  unsigned heartbeat_ms = 100;
  std::optional<replication::ArbiterOptions> arbiter;
};

class LockstepSecondary {
 public:
  static Result<std::unique_ptr<LockstepSecondary>> listen(const SecondaryOptions& o);
  ~LockstepSecondary();
  LockstepSecondary(const LockstepSecondary&) = delete;
  LockstepSecondary& operator=(const LockstepSecondary&) = delete;
  uint16_t port() const { return backup_->port(); }

  // Waits for a primary's initial synchronisation and returns the VM built
  // from it, to be run on this thread (its hooks do the rest); null when
  // the wait ended without one (request_stop(), a primary that gave up).
  Result<board::Machine*> wait_for_machine();
  // Any thread: ends the wait, or the protection.
  void request_stop();
  FtStatus status() const;
  // vCPU thread. Whether it went live, and then (once) its TCP mappings
  // between guest and world, for the VM to be protected again (it stops
  // rewriting frames itself).
  bool live() const { return live_; }
  std::vector<FlowMaps> hand_over();
  // The arbiter (null without one); once live it owns the pair.
  replication::Arbiter* arbiter() const { return backup_->arbiter(); }

 private:
  class ReplayedEntropy;
  // What the serving thread hands the vCPU thread, tagged with the
  // primary's sync epoch.
  struct Item {
    enum class Kind { kInput, kEntropy, kMapping, kConsole } kind;
    uint64_t epoch;
    uint32_t nic;
    std::vector<uint8_t> bytes;
  };
  struct Commit {
    uint64_t epoch;
    std::vector<uint32_t> pages;
    std::vector<uint8_t> data;
    state::Snapshot state;
  };
  explicit LockstepSecondary(const SecondaryOptions& o);
  // The serving thread's.
  void on_commit(uint64_t epoch, std::span<const uint32_t> pages, const mem::GuestMemory& ram,
                 const state::Snapshot& s);
  Status on_message(replication::Message&& m);
  Status build_machine(std::span<const uint32_t> pages, const mem::GuestMemory& ram, const state::Snapshot& s);
  // The vCPU thread's.
  void tick();
  Status apply(Commit& c);
  void go_live();
  bool on_input(size_t nic, const uint8_t* frame, size_t len);
  bool on_output(size_t nic, const uint8_t* frame, size_t len);

  SecondaryOptions options_;
  std::unique_ptr<replication::Backup> backup_;
  Thread serving_;
  std::unique_ptr<board::Machine> machine_;
  std::unique_ptr<mem::DirtyLog> log_;
  std::vector<std::unique_ptr<replication::DriveLog>> drive_logs_;  // writable drives
  std::unique_ptr<ReplayedEntropy> entropy_;
  // Per NIC: the pair's mappings, the world's (from the primary), and
  // once live their sum, which rewrites its frames.
  std::vector<FlowMaps> pair_, world_, live_maps_;
  Wakeup wake_;  // the vCPU thread: messages or the end arrived
  int hook_ = -1;
  uint64_t applied_ = 0;  // the sync epoch the guest runs in
  bool stopped_ = false;  // paused for a resync
  bool live_ = false;
  bool exiting_ = false;  // request_exit() made
  uint64_t discarded_holds_ = 0;  // Machine::output_holds() when tick() last discarded
  // While secondary: what its guest sent (to the primary only), for a
  // failover (go_live()).
  RecentFrames unreleased_;
  void send_live(size_t nic, std::vector<uint8_t>& frame);
  size_t repeat_last_acks(const std::vector<RecentFrames::Frame>& sent);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool built_ = false, ended_ = false;
  std::string build_error_;
  std::deque<Item> items_;
  std::optional<uint64_t> sync_request_;
  std::deque<Commit> commits_;
  FtStatus stats_;  // under mu_
  std::chrono::steady_clock::time_point lost_at_;
};

}  // namespace tandem::ft
