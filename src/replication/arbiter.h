// The arbiter against split brain (docs/replication-protocol.md,
// "Arbiter"): etcd decides which side of a protected pair may release
// output, so that a primary cut off from its backup but not from etcd and
// a backup that lost its primary never both show the world a VM.
//
// Keys, under tandem/pair/<pair>/:
//   owner       the id of the side allowed to release output, on that
//               side's lease (Lease: kept alive; validity reckoned by
//               the owner's clock)
//   last-owner  the last side that took `owner` (no lease)
//   standby     the token of the protection running now (no lease): the
//               backup that received it in the primary's hello holds a
//               checkpoint covering all output released so far
// A VM that runs takes `owner` (absent) and erases `standby`. Protection
// writes a new token; a primary that loses its backup erases it before it
// releases output the backup has not got. A backup that lost its primary
// goes live only by taking `owner` in one transaction with "owner absent
// and standby = my token": while the primary's lease lives it waits; once
// the token is gone its checkpoint is stale and it never goes live.
//
// Renewals run on a thread of the arbiter's own; the run loop only reads
// may_release() (atomics and the clock) and is woken through wake_fd().
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "base/thread.h"
#include "replication/connection.h"
#include "replication/etcd_client.h"
#include "replication/lease.h"
#include "replication/stats.h"

namespace tandem::replication {

struct ArbiterOptions {
  EtcdEndpoint etcd;
  std::string name;  // the pair; empty: the backup's HOST:PORT
  int64_t ttl_s = 1;  // asked for; etcd raises it to its minimum
  bool quiet = false;  // no diagnostics on stderr (tests)
};
// "etcd=http://HOST:PORT[,name=NAME][,ttl=SECONDS]"; the error names the part.
Result<ArbiterOptions> parse_arbiter_spec(const std::string& spec);
// The pair's name: name= when given, else the backup's address.
std::string pair_name(const ArbiterOptions& o, const HostPort& backup);

class Arbiter {
 public:
  // The arbiter of a VM that runs (`run --arbiter`): takes the pair now,
  // erasing a standby token (no backup holds this VM's state yet), and
  // renews it. Fails naming the URL when etcd does not answer, and the
  // holder when the pair is owned.
  static Result<std::unique_ptr<Arbiter>> own(const ArbiterOptions& o, const std::string& pair);
  // A backup's: owns nothing until take_over(); etcd must answer now.
  static Result<std::unique_ptr<Arbiter>> stand_by(const ArbiterOptions& o, const std::string& pair);
  // Stops renewing and revokes the lease: the pair is free at once.
  ~Arbiter();
  Arbiter(const Arbiter&) = delete;
  Arbiter& operator=(const Arbiter&) = delete;

  const std::string& pair() const { return pair_; }
  std::string url() const { return etcd_.endpoint().url(); }

  // Any thread, without blocking: output may leave the VM now, that is
  // until valid_until() (while no refresh extends it).
  bool may_release() const { return lease_.valid(Lease::Clock::now()); }
  Lease::Clock::time_point valid_until() const { return lease_.valid_until(); }
  // Another side took the pair: this VM's output must never leave it.
  bool fenced() const { return lease_.state() == Lease::State::kTaken; }
  // Readable (an eventfd) after each renewal and when protection ended:
  // the run loop's cue to look at may_release() and fenced() again.
  int wake_fd() const { return wake_fd_; }

  // --- the owner's protection by a backup ---
  // Blocking (start of replication): a new standby token, for the hello.
  Result<std::string> protect();
  // Erases the token on the renewing thread; protection_ended() is true
  // once etcd has done it (from then on the backup cannot go live, so
  // output it has not got may leave). Retried until it is done.
  void unprotect();
  bool protection_ended() const { return !protected_; }
  // The same, blocking (an orderly stop), bounded by the client's timeout.
  Status unprotect_now();

  // --- a backup's ---
  // The standby token in etcd now ("" when there is none).
  Result<std::string> standby_token();
  enum class TakeOver { kTaken, kHeld, kStale };
  // Takes the pair when its owner is gone and the standby token is still
  // `token`: from then on this arbiter is the owner and renews. kHeld: the
  // owner's lease is live; kStale: the token is gone or another (the
  // primary ran on unprotected, or another VM took the pair), so this
  // backup's checkpoint must never run. `holder`: who owns the pair.
  Result<TakeOver> take_over(const std::string& token, std::string& holder);

  ArbiterStatus status() const;

 private:
  Arbiter(const ArbiterOptions& o, std::string pair, const char* role);
  std::string key(const char* leaf) const { return "tandem/pair/" + pair_ + "/" + leaf; }
  void start_renewing();
  void renew_loop();
  Status erase_token();
  void log(const std::string& line) const;

  ArbiterOptions options_;
  std::string pair_;
  EtcdClient etcd_;
  Lease lease_;
  int wake_fd_ = -1;
  uint64_t protections_ = 0;
  std::atomic<bool> protected_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool quit_ = false;
  bool unprotect_wanted_ = false;
  ArbiterStatus stats_;  // renewals, failures, last_error: under mu_
  Thread thread_;
};

}  // namespace tandem::replication
