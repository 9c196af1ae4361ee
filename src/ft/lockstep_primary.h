// The primary of a quasi-lockstep pair (docs/architecture.md, "Quasi-
// lockstep fault tolerance"). It brings the secondary to its state with
// checkpointing's initial synchronisation (replication::Primary in
// lockstep mode), then mirrors to it every frame and virtio-rng byte its
// guest receives, compares the two guests' output frames per flow
// (comparator.h) and lets its own leave only once the secondary's match.
// A mismatch, output unmatched for longer than `unmatched_ms`, or
// `period_ms` without one resynchronises the secondary: both stop, the
// pages either side wrote since the last sync go over with the CPU and
// device state, and the output held until then leaves once the secondary
// has it. A lost secondary releases what is held; the VM runs on
// unprotected and says so.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/wakeup.h"
#include "base/result.h"
#include "board/machine.h"
#include "ft/comparator.h"
#include "ft/flow_maps.h"
#include "ft/ft_protocol.h"
#include "ft/ft_status.h"
#include "replication/arbiter.h"
#include "replication/primary.h"

namespace tandem::ft {

struct FtOptions {
  replication::HostPort peer;
  unsigned heartbeat_ms = 100;
  unsigned unmatched_ms = 100;  // resync when output waits this long for its match
  unsigned period_ms = 10000;   // and at least this often
};
// "peer=HOST:PORT[,heartbeat=MS][,unmatched=MS][,period=MS]"
Result<FtOptions> parse_ft_spec(const std::string& spec);

class LockstepPrimary {
 public:
  // On the vCPU thread; fails when the secondary cannot be reached or
  // refuses the VM. `world` (per NIC, taken only on success): TCP
  // mappings between this guest and the world, inherited from a failover
  // (flow_maps.h); they rewrite its frames for as long as this lives.
  static Result<std::unique_ptr<LockstepPrimary>> start(board::Machine& m, const FtOptions& o,
                                                        replication::Arbiter* arbiter = nullptr,
                                                        std::vector<FlowMaps>* world = nullptr);
  ~LockstepPrimary();
  LockstepPrimary(const LockstepPrimary&) = delete;
  LockstepPrimary& operator=(const LockstepPrimary&) = delete;

  // vCPU thread, between slices (a slice hook and the wake-ups).
  void tick();
  // vCPU thread, between hart 0's slices while the other harts run: the
  // slice hook's `due`, true whenever tick() has work (see the .cc).
  bool tick_due() const;
  // Any thread.
  FtStatus status() const;
  bool active() const { return primary_ != nullptr; }
  // vCPU thread: the world mappings, for a new protection (this one must
  // be inactive; it stops rewriting).
  std::vector<FlowMaps> take_world();

 private:
  class MirroredEntropy;
  enum class Phase { kSyncing, kComparing, kStopping, kAwaitingAck, kUnprotected };
  LockstepPrimary(board::Machine& m, const FtOptions& o, replication::Arbiter* arbiter);
  Status on_message(replication::Message&& msg);  // the receiving thread
  bool on_input(size_t nic, const uint8_t* frame, size_t len);
  bool on_output(size_t nic, const uint8_t* frame, size_t len);
  void start_resync(const char* cause, const std::string& detail);
  void release(std::vector<std::vector<uint8_t>>& frames, size_t nic, bool matched);
  void unprotect(const std::string& why);
  void gate_uncompared();
  void step();
  // After each tick: when tick() must look again at the latest though
  // nothing wakes the loop (an unmatched bound, the period, a limit).
  void plan_next_tick(std::chrono::steady_clock::time_point now);
  // From the output and input taps (any hart's thread): tick() is due by `t`.
  void due_by(std::chrono::steady_clock::time_point t);

  board::Machine& m_;
  FtOptions options_;
  replication::Arbiter* arbiter_;
  std::unique_ptr<replication::Primary> primary_;
  std::unique_ptr<MirroredEntropy> entropy_;
  int hook_ = -1;
  Wakeup wake_;  // the vCPU thread: messages or the end arrived
  std::vector<Comparator> compare_;  // per NIC
  std::vector<FlowMaps> world_;      // per NIC
  // Frames to the world and from it through world_.
  void send_out(size_t nic, std::vector<uint8_t>& frame);
  Phase phase_ = Phase::kSyncing;
  uint64_t epoch_ = 0;               // the sync epoch running now
  uint64_t resync_epoch_ = 0;        // the checkpoint of the resync under way
  std::chrono::steady_clock::time_point last_sync_, resync_started_;
  // plan_next_tick() and due_by(), for tick_due(): steady clock ticks.
  std::atomic<std::chrono::steady_clock::rep> due_at_{0};
  uint64_t gated_holds_ = 0;  // Machine::output_holds() when gate_uncompared() last emptied the gates
  // Output held at a resync's stun: it leaves once the secondary has the
  // state that produced it (per NIC).
  std::vector<std::vector<std::vector<uint8_t>>> after_ack_;

  // From the receiving thread.
  mutable std::mutex mu_;
  struct Output {
    uint64_t epoch;
    uint32_t nic;
    std::vector<uint8_t> frame;
  };
  std::deque<Output> outputs_;
  std::optional<DirtyPayload> dirty_;  // the secondary's, for resync_epoch_
  std::vector<uint64_t> drive_chunks_;  // by drive index; set before any message
  std::string failed_;
  FtStatus stats_;  // under mu_
  std::optional<std::chrono::steady_clock::time_point> last_resync_at_;  // under mu_
};

}  // namespace tandem::ft
