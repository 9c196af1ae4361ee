// The protected VM's side of continuous checkpointing
// (docs/architecture.md, "Continuous checkpointing").
//
// start() connects to the backup, sends the machine configuration and
// starts the initial synchronisation: a sender thread copies every
// populated page (and drive chunk holding data) while the guest runs, as
// checkpoint 0's first pages, then, round by round as a suspend does,
// those written meanwhile; when a round leaves few, checkpoint 0's stun
// ends it. From then on tick(), on the vCPU thread between slices, ends
// an epoch every `epoch_ms`, or sooner when output waits and the guest
// idles: it takes the pages dirtied since the last one from replication's
// own DirtyLog, copies the often written ones, protects the rarely
// written ones (DeferredCopy), reads the drives' written chunks and
// captures CPU and device state (the stun; the guest waits only for
// this), and queues the checkpoint for the sender, which sends the pages
// the backup reported as changing little as diffs (diff_sender.h). Guest output of epoch
// N (frames, console bytes) is held by the machine's output gates until
// the backup acknowledges checkpoint N. When the backup is lost (closed,
// an error message, or no message for `heartbeat_ms * kMissedHeartbeats`),
// the primary releases what it holds and runs on unprotected, and says so.
//
// With an arbiter (arbiter.h), acknowledged output leaves only while the
// arbiter's lease is valid, and a lost backup's unacknowledged output only
// once etcd records that the VM runs on unprotected (the backup can then
// no longer go live); until then it is held. A primary whose pair another
// side took stops protecting (the run loop then drops its output).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread.h"
#include "board/machine.h"
#include "replication/arbiter.h"
#include "replication/connection.h"
#include "replication/deferred_copy.h"
#include "replication/diff_sender.h"
#include "replication/drive_log.h"
#include "replication/page_buffer.h"
#include "replication/stats.h"
#include "state/page_block.h"
#include "state/snapshot.h"

namespace tandem::replication {

struct ReplicateOptions {
  HostPort to;
  unsigned epoch_ms = 20;
  unsigned heartbeat_ms = 100;
  // The modification history: a dirty page written in at most
  // `cold_epochs` of the last 16 epochs (this one included) is protected
  // at the stun and copied after it, instead of copied during it.
  bool history = true;
  unsigned cold_epochs = 2;
  // End an epoch early, at least kMinEarlyGap after the last stun, when
  // the guest has produced output and waits for an interrupt: it has
  // nothing to do but wait for that output to be released.
  bool early = true;
  // Page diffs: the backup reports pages whose last `diff_after` versions
  // each changed at most `diff_words` 8-byte words; for those the primary
  // keeps what it last sent (at most `diff_mib` MiB of copies) and sends
  // diffs against it (diff_sender.h).
  bool diff = true;
  unsigned diff_after = 2;
  unsigned diff_words = 64;
  unsigned diff_mib = 128;
  // Quasi-lockstep fault tolerance (src/ft/): the peer is a secondary
  // that runs the VM from checkpoint 0 on. No epochs end by themselves
  // after checkpoint 0 (request_checkpoint() takes one), and the output
  // gates are left to fault tolerance. Its messages from the secondary go
  // to `on_ft_message` on the receiving thread; an error loses the peer.
  bool lockstep = false;
  std::function<Status(Message&&)> on_ft_message;
};
// "to=HOST:PORT[,epoch=MS][,heartbeat=MS][,history=on|off][,cold=N]
// [,early=on|off][,diff=on|off][,diff-after=N][,diff-words=N][,diff-mib=N]";
// the error names the part.
Result<ReplicateOptions> parse_replicate_spec(const std::string& spec);

// Heartbeats a side may miss before the other is taken for gone.
inline constexpr unsigned kMissedHeartbeats = 3;

class Primary {
 public:
  // On the vCPU thread. Fails with a clear error when the backup cannot be
  // reached or refuses the machine. With `arbiter` (the VM's, which owns
  // the pair; it must outlive the Primary) the protection is recorded in
  // etcd first, and the backup must run with the same arbiter and pair.
  static Result<std::unique_ptr<Primary>> start(board::Machine& m, const ReplicateOptions& o,
                                                Arbiter* arbiter = nullptr);
  ~Primary();
  Primary(const Primary&) = delete;
  Primary& operator=(const Primary&) = delete;

  // vCPU thread, between slices: ends the epoch when it is due, releases
  // acknowledged output, notices a lost backup.
  void tick();
  // vCPU thread: whether tick() must run now although no event woke the
  // loop (the backup's messages and the epoch timer come as io sources):
  // an epoch end that is due but was put off, a full queue say. Not while
  // a lost backup's end of protection waits for the arbiter (its wake-up).
  bool tick_due() const;
  ReplicationStatus status() const;
  // Checkpoint 0 was taken (the secondary starts from it).
  bool synced() const { return synced_; }
  // Lockstep, vCPU thread, after synced(): a checkpoint now of the pages
  // and drive chunks written since the last one and `extra_pages`,
  // `extra_chunks` (ascending; drives by index); returns its epoch.
  uint64_t request_checkpoint(const std::vector<uint32_t>& extra_pages,
                              const std::vector<DriveChunks>& extra_chunks = {});
  // Each drive's chunk count by index (0 for a read-only one).
  std::vector<uint64_t> drive_chunk_counts() const;
  // The newest checkpoint the peer acknowledged, if any.
  std::optional<uint64_t> acked() const {
    if (!any_acked_) return std::nullopt;
    return acked_.load();
  }
  uint64_t bytes_sent() const { return conn_->bytes_sent(); }
  // Whether the peer is lost (tick() then ends protection).
  bool peer_lost() const;
  // Any thread: a message to the peer; a failure loses it.
  Status send_to_peer(MsgType type, uint64_t epoch, std::span<const uint8_t> payload = {});
  // Stops protecting: held output is released (with an arbiter, the
  // protection's end is recorded first, and the run loop releases it).
  void stop(const std::string& why);
  bool active() const { return !stopped_; }

 private:
  struct Checkpoint {
    bool live = false;  // a round of the initial copy: pages read at send time
    uint64_t epoch = 0;
    std::vector<uint32_t> pages;
    PageBuffer data;  // the pages' contents at the stun
    // Each writable drive's chunks written in the epoch, and their
    // contents at the stun (not for a live round).
    struct DiskPart {
      uint32_t drive = 0;
      std::vector<uint64_t> chunks;
      PageBuffer data;
    };
    std::vector<DiskPart> disks;
    // Pages protected at the stun instead of copied (history=on).
    std::shared_ptr<DeferredCopy> deferred;
    state::Snapshot snap;  // encoded by the sender, off the stun
    std::chrono::steady_clock::time_point stun_at;
  };
  Primary(board::Machine& m, const ReplicateOptions& o, std::unique_ptr<Connection> c, Arbiter* arbiter);
  // Connects, sends the hello and waits for the backup's ready.
  static Result<std::unique_ptr<Connection>> handshake(const ReplicateOptions& o, const Hello& h);
  void take_checkpoint(std::vector<uint32_t> pages, std::chrono::steady_clock::time_point t0);
  // Every drive log's chunks written since the last take (live: not read).
  Status take_disks(Checkpoint& c, bool read);
  void send_loop();
  void receive_loop();
  Status send_live(const Checkpoint& c);
  Status send_disk(uint64_t epoch, const Checkpoint::DiskPart& d, const uint8_t* data, uint64_t& msgs,
                   uint64_t& chunks);
  Status send_checkpoint(const Checkpoint& c);
  Status send_pages(uint64_t epoch, std::span<const uint32_t> pages, const uint8_t* data, uint64_t& msgs,
                    uint64_t& diff_msgs);
  Status send_whole(uint64_t epoch, std::span<const uint32_t> pages, const uint8_t* data, uint64_t& msgs);
  void lose_backup(const std::string& why);

  board::Machine& m_;
  ReplicateOptions options_;
  std::unique_ptr<Connection> conn_;
  Arbiter* arbiter_;  // null without
  bool unprotecting_ = false;  // the backup is lost; the arbiter is told
  std::unique_ptr<mem::DirtyLog> log_;
  std::vector<std::unique_ptr<DriveLog>> drives_;  // writable drives
  // history=on: replication's write hook, the pages of the last stun that
  // it protected, and whether the sender is still copying them (a stun
  // protects no more until it is done).
  std::unique_ptr<mem::WriteHook> cow_;
  std::unique_ptr<DiffSender> diff_;  // diff=on
  std::shared_ptr<DeferredCopy> deferred_;
  std::atomic<bool> deferred_busy_{false};
  // Per drive: chunks the last sync round took, for checkpoint 0's stun.
  std::vector<std::vector<uint64_t>> pending_chunks_;
  int wake_fd_ = -1;    // eventfd: an ack or a loss for the vCPU thread
  int timer_fd_ = -1;   // timerfd: wakes an idle guest's loop at epoch ends

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Checkpoint> queue_;
  std::vector<PageBuffer> spare_;  // buffers of checkpoints sent
  bool round_sent_ = false;  // a round of the initial copy went out
  bool quit_ = false;
  std::string lost_;     // why the backup is gone (empty: it is not)
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> acked_{0};
  std::atomic<bool> any_acked_{false};
  std::atomic<uint64_t> last_heard_ns_{0};

  uint64_t epoch_number_ = 0;  // the epoch running now
  std::atomic<bool> synced_{false};  // checkpoint 0 was taken
  unsigned sync_rounds_ = 0;
  std::chrono::steady_clock::duration epoch_;
  std::chrono::steady_clock::time_point next_due_;  // when it ends
  std::chrono::steady_clock::time_point last_stun_;
  std::chrono::steady_clock::time_point started_;
  Stats stats_;  // under mu_
  std::deque<std::pair<uint64_t, std::chrono::steady_clock::time_point>> stun_times_;  // under mu_
  std::string reason_;
  // The sender thread's own.
  uint64_t sync_msgs_ = 0;   // pages messages of checkpoint 0's initial copy
  uint64_t sync_pages_ = 0;  // and the pages in them
  uint64_t sync_disk_msgs_ = 0, sync_disk_chunks_ = 0;
  std::atomic<uint64_t> epoch_sent_{0};
  state::BlockEncoder encoder_;
  state::EncodedBlock block_;
  std::vector<uint32_t> gather_pages_;  // whole pages between diffs, gathered
  PageBuffer gather_;
  Thread sender_;
  Thread receiver_;
};

}  // namespace tandem::replication
