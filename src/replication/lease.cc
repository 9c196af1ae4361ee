#include "replication/lease.h"

#include <algorithm>

namespace tandem::replication {

Lease::Lease(EtcdClient& etcd, std::string key, std::string last_key, std::string id, int64_t ttl_s, Now now)
    : etcd_(etcd), key_(std::move(key)), last_key_(std::move(last_key)), id_(std::move(id)), want_ttl_s_(ttl_s),
      now_(std::move(now)) {}

Lease::Clock::duration Lease::margin(int64_t ttl_s) {
  return std::max<Clock::duration>(std::chrono::milliseconds(200), std::chrono::milliseconds(ttl_s * 1000) / 5);
}

void Lease::confirmed(Clock::time_point sent) {
  const auto ttl = std::chrono::milliseconds(ttl_s_ * 1000);
  valid_until_ = (sent + ttl - margin(ttl_s_)).time_since_epoch().count();
  renew_at_ = sent + ttl / kRenewsPerTtl;
  state_ = State::kHeld;
}

void Lease::lose(const std::string& taker) {
  taker_ = taker;  // first: whoever sees kTaken may read it
  valid_until_ = 0;
  state_ = State::kTaken;
  if (lease_id_) (void)etcd_.revoke(lease_id_);  // whatever it still holds is not ours to keep
  lease_id_ = 0;
}

Result<Lease::Claim> Lease::acquire(const std::vector<Compare>& also, const std::vector<Op>& ops,
                                    const std::vector<std::string>& read) {
  const auto sent = now_();
  if (lease_id_) {
    auto ttl = etcd_.keep_alive(lease_id_);
    if (!ttl.ok()) return ttl.error();
    if (*ttl == 0) lease_id_ = 0;
    else ttl_s_ = *ttl;
  }
  if (!lease_id_) {
    auto g = etcd_.grant(want_ttl_s_);
    if (!g.ok()) return g.error();
    lease_id_ = g->id;
    ttl_s_ = g->ttl_s;
  }
  Txn t;
  t.compare.push_back(Compare::absent(key_));
  t.compare.insert(t.compare.end(), also.begin(), also.end());
  t.success = {Op::put(key_, id_, lease_id_), Op::put(last_key_, id_)};
  t.success.insert(t.success.end(), ops.begin(), ops.end());
  t.failure.push_back(Op::range(key_));
  for (const auto& k : read) t.failure.push_back(Op::range(k));
  auto r = etcd_.txn(t);
  if (!r.ok()) return r.error();
  Claim c;
  if (r->succeeded) {
    confirmed(sent);
    c.taken = true;
    return c;
  }
  const std::optional<KeyValue>& holder = r->ranges.empty() ? std::nullopt : r->ranges[0];
  // A transaction that etcd applied but whose answer was lost: the key is
  // already ours, on this lease (and `ops` were applied with it).
  if (holder && holder->value == id_ && holder->lease == lease_id_) {
    confirmed(sent);
    c.taken = true;
    return c;
  }
  c.holder = holder ? holder->value : "";
  c.reads.assign(r->ranges.begin() + (r->ranges.empty() ? 0 : 1), r->ranges.end());
  return c;
}

Status Lease::retake() {
  auto c = acquire({Compare::value_is(last_key_, id_)}, {}, {last_key_});
  if (!c.ok()) return c.error();
  if (c->taken) return Ok();
  if (!c->holder.empty()) {
    lose(c->holder);
  } else {
    const auto& last = c->reads.empty() ? std::nullopt : c->reads[0];
    lose(last ? last->value + " (held it meanwhile)" : "someone (" + last_key_ + " was erased)");
  }
  return Ok();
}

Status Lease::renew() {
  if (state_ != State::kHeld) return Ok();
  const auto sent = now_();
  // Until this succeeds, retry at a faster pace than a refresh.
  renew_at_ = sent + std::chrono::milliseconds(std::max<int64_t>(ttl_s_, 1) * 1000) / (2 * kRenewsPerTtl);
  auto ttl = etcd_.keep_alive(lease_id_);
  if (!ttl.ok()) return ttl.error();
  if (*ttl == 0) {
    lease_id_ = 0;  // expired in etcd: the key went with it
    return retake();
  }
  ttl_s_ = *ttl;
  auto kv = etcd_.get(key_);
  if (!kv.ok()) return kv.error();
  if (*kv && (*kv)->value == id_ && (*kv)->lease == lease_id_) {
    confirmed(sent);
    return Ok();
  }
  if (*kv) {
    lose((*kv)->value);
    return Ok();
  }
  return retake();  // erased while the lease lived (by hand)
}

void Lease::release() {
  if (lease_id_) (void)etcd_.revoke(lease_id_);
  lease_id_ = 0;
  valid_until_ = 0;
  if (state_ == State::kHeld) state_ = State::kFree;
}

}  // namespace tandem::replication
