// Figures both sides report in query-replication.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::replication {

// A window of recent samples for p50/p99.
class Samples {
 public:
  void add(double v) {
    if (values_.size() < kWindow) values_.push_back(v);
    else values_[next_++ % kWindow] = v;
  }
  double percentile(double p) const {
    if (values_.empty()) return 0;
    std::vector<double> v = values_;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
  }
  size_t count() const { return values_.size(); }

 private:
  static constexpr size_t kWindow = 1024;
  std::vector<double> values_;
  size_t next_ = 0;
};

struct Stats {
  uint64_t checkpoints = 0;       // stuns taken
  uint64_t early = 0;             // of which ended early (output waiting)
  uint64_t committed = 0;         // acknowledged by the backup
  uint64_t pages_sent = 0;
  uint64_t initial_pages = 0;  // sent while the guest ran, before checkpoint 0's stun
  double first_stun_ms = 0;    // checkpoint 0's
  unsigned sync_rounds = 0;
  uint64_t cow_faults = 0;     // deferred pages the guest's writes copied
  double sender_cpu_total_ms = 0;
  Samples stun_ms, send_ms, ack_ms, dirty_pages, deferred_pages, bytes, page_bytes, sender_cpu_ms;
};

// Page diffs (issue 13), as each side sees them.
struct DiffStats {
  bool on = false;
  uint64_t candidates = 0;    // pages the backup reports as diff candidates
  uint64_t diff_pages = 0;    // pages sent (received) as diffs
  uint64_t diff_bytes = 0;    // their diffs' bytes before compression
  uint64_t refused = 0;       // diffs the backup refused (base mismatch)
  // The primary's copies of what it last sent of candidate pages.
  uint64_t kept_pages = 0;
  uint64_t kept_bytes = 0;    // memory they hold (allocated)
  uint64_t budget_bytes = 0;
  uint64_t evicted = 0;       // copies dropped for the budget, least useful first
  uint64_t whole = 0;         // candidates with a copy sent whole: the diff was not small enough
  uint64_t held = 0;          // backup: checkpoints held until refused pages came whole
};

// The arbiter (arbiter.h) as one side sees it.
struct ArbiterStatus {
  std::string url, pair, id;
  // "owner" (may release), "unrenewed" (owner, validity lapsed: output
  // held), "fenced" (another side took the pair), "standby" (a backup's).
  std::string state;
  std::string holder;  // fenced: who holds the pair
  int64_t ttl_s = 0;
  double valid_ms = 0;  // how long validity lasts from now (owner)
  uint64_t renewals = 0, failures = 0;
  std::string last_error;
};

struct ReplicationStatus {
  std::string role;    // "primary", "backup"
  // "syncing", "protected", "backup-lost" (with an arbiter: waiting for
  // etcd to record the end of protection), "unprotected"; a backup's
  // "standby", "syncing", "asking-arbiter" (its primary lost), "took-over"
  std::string state;
  std::string peer;
  std::string reason;  // why protection ended, if it did
  uint64_t epoch = 0;  // running (primary) or last committed (backup)
  double epoch_ms = 0;
  double checkpoints_per_s = 0;
  uint64_t checkpoints = 0, committed = 0;
  uint64_t early_checkpoints = 0;  // ended before the epoch, output waiting
  double stun_p50_ms = 0, stun_p99_ms = 0, send_p50_ms = 0, send_p99_ms = 0;
  double ack_p50_ms = 0, ack_p99_ms = 0;  // stun to ack: the added output delay
  double dirty_pages_p50 = 0, dirty_pages_p99 = 0, bytes_p50 = 0;
  // The modification history: pages protected at the stun instead of
  // copied in it, per checkpoint, and those a guest write copied first.
  bool history = false;
  double deferred_p50 = 0, deferred_p99 = 0;
  uint64_t cow_faults = 0;
  DiffStats diff;
  // Bytes of memory (pages and diffs messages) per checkpoint, and the
  // sender thread's CPU time per checkpoint.
  double page_bytes_p50 = 0;
  double sender_cpu_ms_p50 = 0;
  double sender_cpu_s = 0;  // in all
  uint64_t output_held_bytes = 0;
  uint64_t backup_lag = 0;  // checkpoints taken and not yet acknowledged
  double last_heartbeat_ms_ago = 0;
  uint64_t bytes_sent = 0;
  // The initial synchronisation: pages copied while the guest ran, in
  // how many rounds, and the stun that ended it.
  uint64_t sync_pages = 0;
  unsigned sync_rounds = 0;
  double sync_stun_ms = 0;
  std::optional<ArbiterStatus> arbiter;  // with --arbiter
};

}  // namespace tandem::replication
