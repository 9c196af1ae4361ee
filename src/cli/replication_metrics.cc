#include "cli/replication_metrics.h"

#include <cstdio>

namespace tandem::cli {

namespace {
using Labels = std::vector<std::pair<std::string, std::string>>;

const std::vector<std::string> kPrimaryStates = {"syncing", "protected", "backup-lost", "unprotected"};
const std::vector<std::string> kBackupStates = {"standby", "syncing", "asking-arbiter", "took-over"};
const std::vector<std::string> kArbiterStates = {"owner", "unrenewed", "fenced", "standby"};

std::string text(double v, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g%s", v, unit);
  return buf;
}

Labels with(const Labels& base, const char* key, const char* value) {
  Labels l = base;
  l.emplace_back(key, value);
  return l;
}

// p50 and p99 of a window of recent checkpoints, as a gauge per quantile;
// `per_unit` turns the status's unit into the metric's (1000 ms a second).
void add_quantiles(std::vector<Metric>& out, const std::string& name, const std::string& help, double p50,
                   double p99, double per_unit, const Labels& role, const std::string& chart = {}) {
  out.push_back(gauge(name, help, p50 / per_unit, with(role, "quantile", "0.5"), chart));
  out.push_back(gauge(name, help, p99 / per_unit, with(role, "quantile", "0.99"), chart));
}

void add_primary(std::vector<Metric>& m, const replication::ReplicationStatus& s, const Labels& role) {
  m.push_back(gauge("tandem_replication_epoch_length_seconds", "The epoch: how often a checkpoint is due.",
                    s.epoch_ms / 1000, role));
  m.push_back(counter("tandem_replication_checkpoints_early_total",
                      "Checkpoints taken before the epoch's end because output waited and the guest idled.",
                      static_cast<double>(s.early_checkpoints), role));
  add_quantiles(m, "tandem_replication_stun_seconds", "The guest's pause per checkpoint, over recent checkpoints.",
                s.stun_p50_ms, s.stun_p99_ms, 1000, role, "stun (s)");
  add_quantiles(m, "tandem_replication_send_seconds", "Sending a checkpoint, over recent checkpoints.",
                s.send_p50_ms, s.send_p99_ms, 1000, role);
  add_quantiles(m, "tandem_replication_ack_seconds",
                "From a stun to the backup's acknowledgement: the delay added to output.", s.ack_p50_ms,
                s.ack_p99_ms, 1000, role, "output delay (s)");
  add_quantiles(m, "tandem_replication_dirty_pages", "Pages dirtied per checkpoint, over recent checkpoints.",
                s.dirty_pages_p50, s.dirty_pages_p99, 1, role);
  add_quantiles(m, "tandem_replication_deferred_pages",
                "Pages per checkpoint protected at the stun and copied after it (the modification history).",
                s.deferred_p50, s.deferred_p99, 1, role);
  m.push_back(counter("tandem_replication_cow_faults_total",
                      "Deferred pages a guest write copied before the sender did.", static_cast<double>(s.cow_faults),
                      role));
  m.push_back(gauge("tandem_replication_checkpoint_bytes", "Stream bytes per checkpoint (median of recent ones).",
                    s.bytes_p50, with(role, "quantile", "0.5")));
  m.push_back(gauge("tandem_replication_checkpoint_memory_bytes",
                    "Bytes of pages and diffs per checkpoint (median of recent ones).", s.page_bytes_p50,
                    with(role, "quantile", "0.5")));
  m.push_back(counter("tandem_replication_sent_bytes_total", "Bytes sent to the backup.",
                      static_cast<double>(s.bytes_sent), role, "sent to the backup (bytes / s)"));
  m.push_back(counter("tandem_replication_sender_cpu_seconds_total", "CPU time of the sender thread.",
                      s.sender_cpu_s, role));
  m.push_back(gauge("tandem_replication_output_held_bytes",
                    "Guest output (frames, console bytes) held until the backup acknowledges its checkpoint.",
                    static_cast<double>(s.output_held_bytes), role, "held output (bytes)"));
  m.push_back(gauge("tandem_replication_backup_lag_checkpoints", "Checkpoints taken and not yet acknowledged.",
                    static_cast<double>(s.backup_lag), role));
  m.push_back(gauge("tandem_replication_sync_pages", "Pages of the initial synchronisation copied while the guest ran.",
                    static_cast<double>(s.sync_pages), role));
  m.push_back(gauge("tandem_replication_sync_stun_seconds", "The stun that ended the initial synchronisation.",
                    s.sync_stun_ms / 1000, role));
}

void add_diff(std::vector<Metric>& m, const replication::DiffStats& d, const Labels& role) {
  m.push_back(gauge("tandem_replication_diff_candidate_pages",
                    "Pages the backup reports as changing little: sent as diffs.", static_cast<double>(d.candidates),
                    role));
  m.push_back(counter("tandem_replication_diff_pages_total", "Pages sent (received) as diffs.",
                      static_cast<double>(d.diff_pages), role));
  m.push_back(counter("tandem_replication_diff_bytes_total", "Bytes of those diffs before compression.",
                      static_cast<double>(d.diff_bytes), role));
  m.push_back(counter("tandem_replication_diff_whole_total",
                      "Candidate pages sent whole: their diff was not small enough.", static_cast<double>(d.whole),
                      role));
  m.push_back(counter("tandem_replication_diff_refused_total", "Diffs the backup refused (their base differed).",
                      static_cast<double>(d.refused), role));
  m.push_back(counter("tandem_replication_diff_held_total",
                      "Checkpoints the backup held until refused pages came whole.", static_cast<double>(d.held),
                      role));
  m.push_back(gauge("tandem_replication_diff_kept_pages", "Copies of sent pages the primary keeps to diff against.",
                    static_cast<double>(d.kept_pages), role));
  m.push_back(gauge("tandem_replication_diff_kept_bytes", "Memory those copies hold.",
                    static_cast<double>(d.kept_bytes), role));
  m.push_back(gauge("tandem_replication_diff_budget_bytes", "The most memory the copies may hold (diff-mib).",
                    static_cast<double>(d.budget_bytes), role));
  m.push_back(counter("tandem_replication_diff_evicted_total", "Copies dropped for the budget.",
                      static_cast<double>(d.evicted), role));
}

}  // namespace

void add_arbiter(StatusSection& out, const replication::ArbiterStatus& a, const Labels& role) {
  out.figures.emplace_back("arbiter", a.state + " (" + a.url + ", pair " + a.pair + ")");
  if (!a.holder.empty()) out.figures.emplace_back("pair holder", a.holder);
  if (!a.last_error.empty()) out.figures.emplace_back("arbiter error", a.last_error);
  add_state_set(out.metrics, "tandem_arbiter_state",
                "The arbiter (etcd) as this side sees it: owner may release output.", kArbiterStates, a.state, role);
  out.metrics.push_back(gauge("tandem_arbiter_lease_valid_seconds", "How long the held lease stays valid from now.",
                              a.valid_ms / 1000, role));
  out.metrics.push_back(gauge("tandem_arbiter_ttl_seconds", "The lease's time to live.", static_cast<double>(a.ttl_s),
                              role));
  out.metrics.push_back(counter("tandem_arbiter_renewals_total", "Lease renewals etcd granted.",
                                static_cast<double>(a.renewals), role));
  out.metrics.push_back(counter("tandem_arbiter_failures_total", "Lease renewals that failed.",
                                static_cast<double>(a.failures), role));
}
StatusSection replication_section(const replication::ReplicationStatus& s) {
  StatusSection out{"replication", {}, {}};
  const Labels role = {{"role", s.role}};
  out.figures = {{"role", s.role}, {"state", s.state}};
  const bool primary = s.role == "primary", backup = s.role == "backup";
  add_state_set(out.metrics, "tandem_replication_state",
                "The side's protection state: a primary syncing, protected, backup-lost or unprotected; a backup "
                "standby, syncing, asking-arbiter or took-over.",
                primary ? kPrimaryStates : backup ? kBackupStates : std::vector<std::string>{}, s.state, role);
  if (s.arbiter) add_arbiter(out, *s.arbiter, role);
  if (!primary && !backup) return out;  // not replicating
  out.figures.emplace_back("peer", s.peer);
  out.figures.emplace_back("epoch", std::to_string(s.epoch));
  if (!s.reason.empty()) out.figures.emplace_back("reason", s.reason);
  out.figures.emplace_back("committed", std::to_string(s.committed));
  out.figures.emplace_back("last heartbeat", text(s.last_heartbeat_ms_ago, " ms ago"));
  auto& m = out.metrics;
  m.push_back(gauge("tandem_replication_epoch", "The epoch running (primary) or last committed (backup).",
                    static_cast<double>(s.epoch), role));
  if (primary)
    m.push_back(counter("tandem_replication_checkpoints_total", "Checkpoints taken (stuns).",
                        static_cast<double>(s.checkpoints), role, "checkpoints / s"));
  m.push_back(counter("tandem_replication_checkpoints_committed_total",
                      "Checkpoints the backup acknowledged (primary) or committed (backup).",
                      static_cast<double>(s.committed), role, "checkpoints / s"));
  m.push_back(gauge("tandem_replication_last_heartbeat_seconds", "Seconds since the peer was last heard from.",
                    s.last_heartbeat_ms_ago / 1000, role));
  if (primary) {
    out.figures.emplace_back("checkpoints / s", text(s.checkpoints_per_s, ""));
    out.figures.emplace_back("stun p50 / p99", text(s.stun_p50_ms, " / ") + text(s.stun_p99_ms, " ms"));
    out.figures.emplace_back("held output", std::to_string(s.output_held_bytes) + " bytes");
    add_primary(m, s, role);
  }
  add_diff(m, s.diff, role);
  return out;
}

}  // namespace tandem::cli
