#include "replication/arbiter.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>

#include "base/key_values.h"

namespace tandem::replication {

namespace {
using Clock = Lease::Clock;

// After a failed attempt to erase the standby token, the next comes this much later.
constexpr auto kUnprotectRetry = std::chrono::milliseconds(100);

// "<role>@<host>:<pid>:<random>": unique to this process and run.
std::string side_id(const char* role) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char tail[32];
  std::snprintf(tail, sizeof tail, ":%d:%08x", static_cast<int>(getpid()), rd());
  return std::string(role) + "@" + host + tail;
}

bool valid_pair_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != ':') return false;
  return true;
}
}  // namespace

Result<ArbiterOptions> parse_arbiter_spec(const std::string& spec) {
  ArbiterOptions o;
  bool have_etcd = false;
  auto parts = split_key_values(spec);
  if (!parts.ok()) return parts.error().context("arbiter '" + spec + "'");
  for (const auto& [key, value] : *parts) {
    if (key == "etcd") {
      auto e = parse_etcd_url(value);
      if (!e.ok()) return e.error().context("arbiter etcd");
      o.etcd = *e;
      have_etcd = true;
    } else if (key == "name") {
      if (!valid_pair_name(value))
        return Error("arbiter: name '" + value + "': expected 1 to 200 letters, digits, '.', '_', '-' or ':'");
      o.name = value;
    } else if (key == "ttl") {
      char* end = nullptr;
      long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end || v < 1 || v > 60)
        return Error("arbiter: ttl=" + value + ": expected seconds from 1 to 60");
      o.ttl_s = v;
    } else {
      return Error("arbiter '" + spec + "': unknown option '" + key + "' (etcd, name, ttl)");
    }
  }
  if (!have_etcd) return Error("arbiter '" + spec + "': etcd=http://HOST:PORT is required");
  return o;
}

std::string pair_name(const ArbiterOptions& o, const HostPort& backup) {
  return o.name.empty() ? backup.text() : o.name;
}

Arbiter::Arbiter(const ArbiterOptions& o, std::string pair, const char* role)
    : options_(o),
      pair_(std::move(pair)),
      // A request must not outlast the validity it is meant to extend.
      etcd_(o.etcd, static_cast<int>(std::clamp<int64_t>(o.ttl_s * 1000 / Lease::kRenewsPerTtl, 100, 2000))),
      lease_(etcd_, key("owner"), key("last-owner"), side_id(role), o.ttl_s) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  stats_.url = etcd_.endpoint().url();
  stats_.pair = pair_;
  stats_.id = lease_.id();
}

Arbiter::~Arbiter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
  lease_.release();
  ::close(wake_fd_);
}

void Arbiter::log(const std::string& line) const {
  if (!options_.quiet) std::fprintf(stderr, "tandem: arbiter: %s\n", line.c_str());
}

Result<std::unique_ptr<Arbiter>> Arbiter::own(const ArbiterOptions& o, const std::string& pair) {
  if (!valid_pair_name(pair)) return Error("arbiter: '" + pair + "' cannot name a pair: give name=");
  std::unique_ptr<Arbiter> a(new Arbiter(o, pair, "primary"));
  auto c = a->lease_.acquire({}, {Op::del(a->key("standby"))});
  if (!c.ok()) return c.error().context("arbiter: cannot take pair '" + pair + "'");
  if (!c->taken)
    return Error("arbiter: pair '" + pair + "' is owned by '" + c->holder + "' (etcd at " + a->url() +
                 "): another VM of this pair runs (a primary, or a backup that took over); stop it or pick "
                 "another name=");
  a->start_renewing();
  return a;
}

Result<std::unique_ptr<Arbiter>> Arbiter::stand_by(const ArbiterOptions& o, const std::string& pair) {
  if (!valid_pair_name(pair)) return Error("arbiter: '" + pair + "' cannot name a pair: give name=");
  std::unique_ptr<Arbiter> a(new Arbiter(o, pair, "backup"));
  if (auto v = a->etcd_.version(); !v.ok()) return v.error().context("arbiter: cannot reach etcd");
  return a;
}

void Arbiter::start_renewing() {
  log("holds pair '" + pair_ + "' at " + url() + " as " + lease_.id() + " (lease TTL " +
      std::to_string(lease_.ttl_s()) + " s)");
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.ttl_s = lease_.ttl_s();
  }
  thread_ = Thread([this] { renew_loop(); });
}

void Arbiter::renew_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  bool failing = false;
  Clock::time_point unprotect_at{};
  while (!quit_) {
    if (fenced()) {
      cv_.wait(lock, [&] { return quit_; });
      break;
    }
    Clock::time_point wake = lease_.renew_at();
    if (unprotect_wanted_) wake = std::min(wake, unprotect_at);
    cv_.wait_until(lock, wake);
    if (quit_) break;
    const auto now = Clock::now();
    const bool renew = now >= lease_.renew_at();
    const bool unprotect = unprotect_wanted_ && now >= unprotect_at;
    if (!renew && !unprotect) continue;
    lock.unlock();
    Status st = renew ? lease_.renew() : Ok();
    bool erased = false;
    if (st.ok() && unprotect && !fenced()) {
      st = erase_token();
      erased = st.ok();
    }
    const std::string taker = lease_.taker();
    const int64_t ttl = lease_.ttl_s();
    lock.lock();
    if (erased) unprotect_wanted_ = false;
    else if (unprotect) unprotect_at = Clock::now() + kUnprotectRetry;
    stats_.ttl_s = ttl;
    if (st.ok()) {
      stats_.renewals += renew;
      if (failing) log("etcd at " + url() + " answers again: pair '" + pair_ + "' renewed");
      failing = false;
    } else {
      stats_.failures++;
      stats_.last_error = st.error().message();
      if (!failing)
        log("cannot renew pair '" + pair_ + "' (" + st.error().message() + "); output stops in " +
            std::to_string(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    lease_.valid_until() - Clock::now()).count())) +
            " ms unless etcd answers by then, and is held until it does");
      failing = true;
    }
    if (fenced())
      log("pair '" + pair_ + "' was taken by '" + taker +
          "': this VM's output is dropped from now on and the VM should be stopped");
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
}

Result<std::string> Arbiter::protect() {
  const std::string token = lease_.id() + "#" + std::to_string(++protections_);
  Txn t;
  t.compare = {Compare::value_is(key("owner"), lease_.id())};
  t.success = {Op::put(key("standby"), token)};
  t.failure = {Op::range(key("owner"))};
  auto r = etcd_.txn(t);
  if (!r.ok()) return r.error().context("arbiter");
  if (!r->succeeded) {
    const auto& owner = r->ranges.empty() ? std::nullopt : r->ranges[0];
    return Error("arbiter: this VM does not hold pair '" + pair_ + "' (its owner is " +
                 (owner ? "'" + owner->value + "'" : std::string("nobody")) + ")");
  }
  protected_ = true;
  return token;
}

Status Arbiter::erase_token() {
  Txn t;
  t.compare = {Compare::value_is(key("owner"), lease_.id())};
  t.success = {Op::del(key("standby"))};
  t.failure = {Op::range(key("owner"))};
  auto r = etcd_.txn(t);
  if (!r.ok()) return r.error();
  if (!r->succeeded) {
    const auto& owner = r->ranges.empty() ? std::nullopt : r->ranges[0];
    return Error("pair '" + pair_ + "' is " + (owner ? "owned by '" + owner->value + "'" : std::string("not held")) +
                 " now");
  }
  protected_ = false;
  return Ok();
}

void Arbiter::unprotect() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    unprotect_wanted_ = true;
  }
  cv_.notify_all();
}

Status Arbiter::unprotect_now() {
  Status st = erase_token();
  if (!st.ok()) return st.error().context("arbiter: erase the standby token");
  return Ok();
}

Result<std::string> Arbiter::standby_token() {
  auto kv = etcd_.get(key("standby"));
  if (!kv.ok()) return kv.error().context("arbiter");
  return *kv ? (*kv)->value : std::string();
}

Result<Arbiter::TakeOver> Arbiter::take_over(const std::string& token, std::string& holder) {
  auto c = lease_.acquire({Compare::value_is(key("standby"), token)}, {Op::del(key("standby"))}, {key("standby")});
  if (!c.ok()) return c.error().context("arbiter");
  if (c->taken) {
    start_renewing();
    return TakeOver::kTaken;
  }
  holder = c->holder;
  const auto& now = c->reads.empty() ? std::nullopt : c->reads[0];
  if (now && now->value == token) return TakeOver::kHeld;
  lease_.release();  // nothing to wait for: drop the lease granted for it
  return TakeOver::kStale;
}

ArbiterStatus Arbiter::status() const {
  ArbiterStatus s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
  }
  const auto now = Clock::now();
  switch (lease_.state()) {
    case Lease::State::kFree:
      s.state = "standby";
      break;
    case Lease::State::kHeld:
      s.state = lease_.valid(now) ? "owner" : "unrenewed";
      s.valid_ms = std::max(0.0, std::chrono::duration<double, std::milli>(lease_.valid_until() - now).count());
      break;
    case Lease::State::kTaken:
      s.state = "fenced";
      s.holder = lease_.taker();
      break;
  }
  return s;
}

}  // namespace tandem::replication
