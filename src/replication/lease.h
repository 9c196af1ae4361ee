// One key held in etcd under a lease of its own, and the holder's own
// reckoning of until when no one else can hold it: the state machine
// under the arbiter (replication/arbiter.h), with the clock passed in so
// that tests can move time.
//
//   free --acquire: the key is absent--> held --renew: lease and key ours--> held
//   held --renew: lease expired or key gone, and `last_key` still names us--> held (a new lease)
//   held --renew: another holds the key, or held it meanwhile--> taken (for good)
//
// "Valid" is what output release asks: held, and now < valid_until, where
// valid_until = (when the last refresh that etcd confirmed was *sent*) +
// TTL - margin. etcd starts its TTL when the request arrives, later than
// it was sent, so the holder's validity ends first (by the margin, for
// scheduling and clock rate) and never outlives the lease in etcd. A
// refresh that fails or goes unanswered extends nothing: validity lapses
// on its own, whatever the renewing thread is doing (stopped, blocked).
//
// `last_key` (no lease) names the last holder; every acquire writes it.
// An expired lease is replaced only while it still names this holder:
// otherwise someone held the key in between (a backup went live) and this
// holder's view of the world is stale.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "replication/etcd_client.h"

namespace tandem::replication {

class Lease {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  enum class State { kFree, kHeld, kTaken };

  Lease(EtcdClient& etcd, std::string key, std::string last_key, std::string id, int64_t ttl_s,
        Now now = Clock::now);

  struct Claim {
    bool taken = false;
    std::string holder;  // not taken: the key's holder ("" when absent)
    std::vector<std::optional<KeyValue>> reads;  // not taken: the keys asked for
  };
  // Takes the key when it is absent and every compare in `also` holds:
  // key = id on this holder's lease (granted now, or refreshed), `last_key`
  // = id, and `ops`, all in one transaction. Not taken: who holds the key
  // and what `read` found.
  Result<Claim> acquire(const std::vector<Compare>& also = {}, const std::vector<Op>& ops = {},
                        const std::vector<std::string>& read = {});
  // Refreshes the lease and checks the key (state machine above). An
  // error (etcd unreachable) changes nothing: validity runs out.
  Status renew();
  // Revokes the lease (the key goes with it) and forgets it.
  void release();

  // These three from any thread.
  State state() const { return state_; }
  bool valid(Clock::time_point now) const {
    return state_ == State::kHeld && now.time_since_epoch().count() < valid_until_;
  }
  Clock::time_point valid_until() const { return Clock::time_point(Clock::duration(valid_until_.load())); }

  Clock::time_point renew_at() const { return renew_at_; }
  int64_t ttl_s() const { return ttl_s_; }  // as etcd granted it
  int64_t lease_id() const { return lease_id_; }
  const std::string& id() const { return id_; }
  const std::string& key() const { return key_; }
  // kTaken: who took the key (any thread, once state() says kTaken).
  const std::string& taker() const { return taker_; }

  // Validity ends this long before the lease's TTL runs out in etcd, and
  // a refresh is due every TTL / kRenewsPerTtl.
  static Clock::duration margin(int64_t ttl_s);
  static constexpr int kRenewsPerTtl = 4;

 private:
  void confirmed(Clock::time_point sent);
  void lose(const std::string& taker);
  // Drops an expired lease and takes the key again if no one held it meanwhile.
  Status retake();

  EtcdClient& etcd_;
  std::string key_, last_key_, id_;
  int64_t want_ttl_s_;
  Now now_;
  int64_t lease_id_ = 0;
  int64_t ttl_s_ = 0;
  std::atomic<State> state_{State::kFree};
  std::atomic<Clock::rep> valid_until_{0};
  Clock::time_point renew_at_{};
  std::string taker_;
};

}  // namespace tandem::replication
