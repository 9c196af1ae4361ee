#include "cli/replication_control.h"

#include <unistd.h>

namespace tandem::cli {

ReplicationControl::ReplicationControl(board::Machine& m, replication::Arbiter* arbiter) : m_(m), arbiter_(arbiter) {
  hook_ = m_.add_slice_hook([this] { tick(); }, [this] { return tick_due(); });
  if (arbiter_) {
    m_.hold_output(true);
    m_.add_io_source(arbiter_->wake_fd(), [this] {
      uint64_t v;
      while (::read(arbiter_->wake_fd(), &v, sizeof v) > 0) {
      }
      tick();
    });
  }
}

ReplicationControl::~ReplicationControl() {
  primary_.reset();
  m_.remove_slice_hook(hook_);
  if (arbiter_) {
    m_.remove_io_source(arbiter_->wake_fd());
    // The last output, if it may leave; else it never will.
    if (!arbiter_->fenced() && arbiter_->protection_ended() && arbiter_->may_release()) m_.hold_output(false);
    else m_.discard_held_output();
  }
}

// The harts stop for tick() only when it has work that no io source woke
// the loop for (the backup's messages, the epoch timer, the arbiter's news
// after each renewal and once protection ended; any stop of the harts runs
// every hook): an epoch end that was put off, and without protection under
// an arbiter, output the gates took since tick() last let it go.
bool ReplicationControl::tick_due() const {
  if (primary_ && primary_->active()) return primary_->tick_due();
  if (!arbiter_ || m_.output_holds() == released_holds_) return false;
  return arbiter_->fenced() || (arbiter_->protection_ended() && arbiter_->may_release());
}

void ReplicationControl::tick() {
  if (primary_) primary_->tick();
  if (!arbiter_ || (primary_ && primary_->active())) return;
  const uint64_t holds = m_.output_holds();
  if (arbiter_->fenced()) {
    if (m_.held_output_bytes()) m_.discard_held_output();
    released_holds_ = holds;
    return;
  }
  if (!arbiter_->protection_ended() || !arbiter_->may_release()) return;
  // Epochs here only separate what left from what came after.
  const uint64_t e = m_.output_epoch();
  m_.release_output(e);
  m_.set_output_epoch(e + 1);
  released_holds_ = holds;
}

Status open_gates_for_protection(board::Machine& m, replication::Arbiter* arbiter) {
  if (!arbiter) return Ok();
  if (arbiter->fenced())
    return Error("pair '" + arbiter->pair() + "' was taken by another side: this VM must not be protected again");
  if (!arbiter->protection_ended() || !arbiter->may_release())
    return Error("the arbiter at " + arbiter->url() + " has not renewed pair '" + arbiter->pair() +
                 "' or recorded the end of the last protection yet: try again");
  // Held output may leave now, and the gates start afresh for the epochs
  // the primary numbers from 0.
  m.hold_output(false);
  return Ok();
}

Status ReplicationControl::start(const std::string& spec) {
  if (primary_ && primary_->active())
    return Error("already replicating to " + primary_->status().peer);
  auto o = replication::parse_replicate_spec(spec);
  if (!o.ok()) return o.error();
  TANDEM_TRY(open_gates_for_protection(m_, arbiter_));
  primary_.reset();
  auto p = replication::Primary::start(m_, *o, arbiter_);
  if (arbiter_) m_.hold_output(true);  // (the primary holds it too)
  if (!p.ok()) return p.error();
  primary_ = std::move(p).value();
  took_over_.reset();
  return Ok();
}

replication::ReplicationStatus ReplicationControl::status() const {
  replication::ReplicationStatus s;
  if (primary_) s = primary_->status();
  else if (took_over_) s = *took_over_;
  else s.role = "none", s.state = "unprotected";
  if (arbiter_) s.arbiter = arbiter_->status();  // as it is now
  return s;
}

nlohmann::json ReplicationControl::status_json() const {
  replication::ReplicationStatus s = status();
  if (s.role != "none") return to_json(s);
  nlohmann::json j = {{"role", s.role}, {"state", s.state}};
  if (s.arbiter) j["arbiter"] = to_json(*s.arbiter);
  return j;
}

nlohmann::json to_json(const replication::ArbiterStatus& a) {
  return {{"url", a.url},     {"pair", a.pair},         {"id", a.id},
          {"state", a.state}, {"holder", a.holder},     {"ttl_s", a.ttl_s},
          {"valid_ms", a.valid_ms}, {"renewals", a.renewals}, {"failures", a.failures},
          {"last_error", a.last_error}};
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
          {"diff", {{"on", s.diff.on},
                    {"candidates", s.diff.candidates},
                    {"diff_pages", s.diff.diff_pages},
                    {"diff_bytes", s.diff.diff_bytes},
                    {"whole", s.diff.whole},
                    {"refused", s.diff.refused},
                    {"held", s.diff.held},
                    {"kept_pages", s.diff.kept_pages},
                    {"kept_mib", static_cast<double>(s.diff.kept_bytes) / (1 << 20)},
                    {"budget_mib", static_cast<double>(s.diff.budget_bytes) / (1 << 20)},
                    {"evicted", s.diff.evicted}}},
          {"bytes_per_checkpoint_p50", s.bytes_p50},
          {"page_bytes_per_checkpoint_p50", s.page_bytes_p50},
          {"sender_cpu_ms", {{"p50", s.sender_cpu_ms_p50}, {"total_s", s.sender_cpu_s}}},
          {"bytes_sent", s.bytes_sent},
          {"output_held_bytes", s.output_held_bytes},
          {"backup_lag", s.backup_lag},
          {"last_heartbeat_ms_ago", s.last_heartbeat_ms_ago},
          {"sync", {{"pages", s.sync_pages}, {"rounds", s.sync_rounds}, {"stun_ms", s.sync_stun_ms}}},
          {"arbiter", s.arbiter ? to_json(*s.arbiter) : nlohmann::json()}};
}

}  // namespace tandem::cli
