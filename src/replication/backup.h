// The backup's side of continuous checkpointing. It waits for a primary,
// holds the latest committed checkpoint (RAM in a GuestMemory of its own,
// the CPU and device state as a Snapshot) and runs nothing until it
// takes over.
//
// A checkpoint is staged as it arrives and committed only when its end
// message has come and every count and checksum matched: a half-received
// or damaged checkpoint never changes the committed state. (Checkpoint 0,
// the whole memory, has no committed state to keep and is written in
// place; it becomes the committed state at its end.) Each commit is
// acknowledged. Pages may come as diffs against the newest version held
// (diff_candidates.h says which pages the backup asks that for); a diff
// whose base is not that version is refused and the page asked for
// whole, and the checkpoint is held until it comes, then committed with
// the checkpoint that brought it. When the primary is gone (connection closed or cut short,
// or no message for heartbeat * kMissedHeartbeats), serve() builds the VM
// from the last commit with the backup's own network backends, announces
// the guest's MAC on each NIC and returns it to be run. A stream that is
// damaged or out of order is refused with an error message to the primary
// (which then runs on unprotected): the committed state stays, and the
// backup waits for a primary again.
//
// With an arbiter (arbiter.h) a lost primary is taken over only once the
// backup has taken the pair in etcd (the primary's lease ran out, and its
// standby token is still the one this backup got in the hello); while the
// lease lives it waits, and when the token is gone (the primary ran on
// unprotected) it does not go live and waits for a primary again.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <functional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "board/machine.h"
#include "replication/arbiter.h"
#include "base/zeroed_array.h"
#include "replication/connection.h"
#include "replication/diff_candidates.h"
#include "replication/stats.h"
#include "state/snapshot.h"

namespace tandem::replication {

struct BackupOptions {
  HostPort listen;
  // The backends the VM uses once it takes over; empty: the primary's.
  std::vector<std::string> nets;
  // Where the copies of the primary's writable drives live (drive<N>.img);
  // required when it has any.
  std::string drive_dir;
  unsigned heartbeat_ms = 100;
  bool quiet = false;
  // Go live only with the pair taken in etcd; the pair is named by
  // arbiter->name or else `listen`.
  std::optional<ArbiterOptions> arbiter;
  // A quasi-lockstep secondary (src/ft/): it runs the VM from checkpoint 0
  // on, outside the Backup. Each commit is handed to `on_commit`, on the
  // serving thread, while the committed state cannot change: `pages` the
  // pages it brought (every populated page of `ram` for the first), `ram`
  // and `state` the committed memory and CPU/device state. Fault
  // tolerance's messages go to `on_ft_message`, on the same thread. A lost
  // primary ends serve() (with a null machine, went_live() true once the
  // arbiter, if any, gave the pair) instead of a takeover.
  bool lockstep = false;
  std::function<void(uint64_t epoch, std::span<const uint32_t> pages, const mem::GuestMemory& ram,
                     const state::Snapshot& state)> on_commit;
  std::function<Status(Message&&)> on_ft_message;
};

class Backup {
 public:
  static Result<std::unique_ptr<Backup>> listen(const BackupOptions& o);
  uint16_t port() const { return listener_->port(); }

  // Serves primaries until one is lost after a commit; returns the VM to
  // run. Returns a null machine when the primary ended replication on
  // purpose (it powered off or stopped): nothing to take over.
  Result<std::unique_ptr<board::Machine>> serve();
  // The configuration of a VM run from `s` on this host: this backup's
  // --net backends and its drive copies in place of the primary's; no
  // monitor.
  Result<board::MachineConfig> vm_config(const state::Snapshot& s) const;
  // Any thread: serve() gives up its primary (if any) and returns a null
  // machine within a heartbeat.
  void request_stop() { stop_ = true; }
  // Lockstep: the secondary may go live (its primary was lost, and the
  // arbiter, if any, gave it the pair); the reason.
  bool went_live() const { return went_live_; }
  std::string lost_reason() const;
  // Any thread: when the last message from the primary arrived.
  std::chrono::steady_clock::time_point last_heard() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_heard_;
  }
  // Lockstep, any thread: a message to the primary being served; fails
  // when there is none or the connection broke.
  Status send_to_primary(MsgType type, uint64_t epoch, std::span<const uint8_t> payload = {});
  ReplicationStatus status() const;
  // The arbiter (null without one); after a takeover it owns the pair, and
  // the VM's output leaves only as it allows.
  Arbiter* arbiter() const { return arbiter_.get(); }
  // The committed memory (null before the first commit), for tests and
  // diagnostics: read it only while no checkpoint is being committed.
  const mem::GuestMemory* committed_memory() const { return committed_ ? ram_.get() : nullptr; }
  // Any thread: XXH3 of the committed memory, between commits (none
  // before the first).
  std::optional<uint64_t> committed_memory_hash() const;

 private:
  explicit Backup(const BackupOptions& o) : options_(o) {}
 public:
  ~Backup();

 private:
  enum class End { kLost, kRefused, kStopped };
  enum class Verdict { kGoLive, kStale, kStopped };
  // A lost primary, with an arbiter: asks etcd for the pair until it is
  // given, or the token shows the checkpoint stale, or a stop.
  Verdict ask_arbiter(const std::string& why);
  // One primary's connection until it ends; `why` says how.
  End serve_primary(Connection& c, std::string& why);
  Status on_hello(const Message& m);
  // The hello's arbiter pair and token against this backup's arbiter.
  Status check_arbiter(const Hello& h);
  // One message of a greeted primary; a complete checkpoint is committed.
  Status on_message(const Message& m);
  Result<std::unique_ptr<board::Machine>> take_over(const std::string& why);
  void log(const std::string& line) const;

  BackupOptions options_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<Arbiter> arbiter_;
  std::string token_;  // the standby token of the primary served
  // The committed state.
  std::optional<Hello> hello_;
  std::unique_ptr<mem::GuestMemory> ram_;
  std::optional<state::Snapshot> committed_;
  std::atomic<uint64_t> committed_epoch_{0};  // (read by the heartbeat thread)
  // The checkpoints being received: the one still arriving and any that
  // ended with pages missing (their diffs refused for a base that did not
  // match, now asked for whole); they are committed together once none is
  // missing. Checkpoint 0 is written in place.
  bool staging_ = false;
  uint64_t staging_epoch_ = 0;
  // Checkpoints held at most, waiting for refused pages, before the
  // stream is refused.
  static constexpr unsigned kMaxHeld = 16;
  bool any_ended_ = false;      // a checkpoint's end was accepted
  uint64_t last_ended_ = 0;     // and its epoch
  unsigned held_ = 0;           // checkpoints ended but not committed
  std::vector<uint32_t> staged_pages_;   // slot -> page
  std::vector<uint8_t> staged_data_;     // slot -> contents
  ZeroedArray<uint32_t> staged_slot_;    // page -> slot + 1 (0: not staged)
  std::unordered_set<uint32_t> missing_;  // pages refused and not yet resent whole
  std::unique_ptr<DiffCandidates> candidates_;  // the primary sends diffs
  std::optional<state::Snapshot> staged_state_;
  uint64_t staged_page_count_ = 0;
  struct StagedChunk {
    uint32_t drive;
    uint64_t chunk;
  };
  std::vector<StagedChunk> staged_chunks_;
  std::vector<uint8_t> staged_chunk_data_;
  uint64_t staged_disk_count_ = 0;
  uint32_t staged_disk_msgs_ = 0;
  // The writable drives' copies: fd (or -1 for a read-only drive), path,
  // size and chunk count, by drive index.
  struct DriveCopy {
    int fd = -1;
    std::string path;
    uint64_t size = 0;
  };
  std::vector<DriveCopy> drives_;
  std::vector<uint64_t> drive_chunks_;
  Status open_drives(const Hello& h);
  void close_drives();
  Status write_chunks(uint32_t drive, const std::vector<uint64_t>& chunks, const uint8_t* data);
  // A commit that failed half way: the state can no longer be taken over.
  std::string broken_;
  uint32_t staged_page_msgs_ = 0, staged_diff_msgs_ = 0, staged_state_msgs_ = 0;
  // The newest version of a page (staged, else committed), and where a new
  // one goes.
  uint8_t* newest(uint32_t page);
  uint8_t* stage(uint32_t page);
  Status on_pages(const Message& m, const std::string& where);
  Status on_diffs(const Message& m, const std::string& where);
  Status on_end(const Message& m, const std::string& where);
  // A reply could not be sent: whether the primary had ended replication
  // on purpose, its error message (`why`) unread before it closed the
  // connection; if so that is no loss to take over from.
  bool ended_on_purpose(Connection& c, std::string& why);
  // What on_message() answers (acks, feedback), sent by serve_primary.
  std::vector<Message> outbox_;
  void reset_staging();
  DiffStats diff_stats_;  // under mu_

  std::atomic<bool> stop_{false};
  std::atomic<bool> went_live_{false};
  std::mutex conn_mu_;
  Connection* conn_ = nullptr;  // the primary being served (lockstep sends)
  mutable std::mutex mu_;  // status() from another thread
  mutable std::mutex commit_mu_;  // held while committed memory changes
  std::string state_ = "standby", peer_, reason_;
  uint64_t commits_ = 0;
  std::chrono::steady_clock::time_point last_heard_{};
};

// The frame QEMU's announce-self sends for a guest after migration: a
// RARP request from the guest's MAC to the broadcast address, so that
// switches learn the guest's new port.
std::vector<uint8_t> rarp_announce(const dev::MacAddress& mac);

}  // namespace tandem::replication
