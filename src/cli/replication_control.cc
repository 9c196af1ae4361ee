#include "cli/replication_control.h"

namespace tandem::cli {

ReplicationControl::ReplicationControl(board::Machine& m) : m_(m) {
  hook_ = m_.add_slice_hook([this] {
    if (primary_) primary_->tick();
  });
}

ReplicationControl::~ReplicationControl() {
  primary_.reset();
  m_.remove_slice_hook(hook_);
}

Status ReplicationControl::start(const std::string& spec) {
  if (primary_ && primary_->active())
    return Error("already replicating to " + primary_->status().peer);
  auto o = replication::parse_replicate_spec(spec);
  if (!o.ok()) return o.error();
  primary_.reset();
  auto p = replication::Primary::start(m_, *o);
  if (!p.ok()) return p.error();
  primary_ = std::move(p).value();
  took_over_.reset();
  return Ok();
}

nlohmann::json ReplicationControl::status_json() const {
  if (primary_) return to_json(primary_->status());
  if (took_over_) return to_json(*took_over_);
  return {{"role", "none"}, {"state", "unprotected"}};
}

nlohmann::json to_json(const replication::ReplicationStatus& s) {
  return {{"role", s.role},
          {"state", s.state},
          {"peer", s.peer},
          {"reason", s.reason},
          {"epoch", s.epoch},
          {"epoch_ms", s.epoch_ms},
          {"checkpoints", s.checkpoints},
          {"committed", s.committed},
          {"early_checkpoints", s.early_checkpoints},
          {"checkpoints_per_s", s.checkpoints_per_s},
          {"stun_ms", {{"p50", s.stun_p50_ms}, {"p99", s.stun_p99_ms}}},
          {"send_ms", {{"p50", s.send_p50_ms}, {"p99", s.send_p99_ms}}},
          {"ack_ms", {{"p50", s.ack_p50_ms}, {"p99", s.ack_p99_ms}}},
          {"dirty_pages", {{"p50", s.dirty_pages_p50}, {"p99", s.dirty_pages_p99}}},
          {"history", {{"on", s.history},
                       {"deferred_pages", {{"p50", s.deferred_p50}, {"p99", s.deferred_p99}}},
                       {"cow_faults", s.cow_faults}}},
          {"bytes_per_checkpoint_p50", s.bytes_p50},
          {"bytes_sent", s.bytes_sent},
          {"output_held_bytes", s.output_held_bytes},
          {"backup_lag", s.backup_lag},
          {"last_heartbeat_ms_ago", s.last_heartbeat_ms_ago},
          {"sync", {{"pages", s.sync_pages}, {"rounds", s.sync_rounds}, {"stun_ms", s.sync_stun_ms}}}};
}

}  // namespace tandem::cli
