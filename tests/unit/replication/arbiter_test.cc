// The arbiter's protocol (replication/arbiter.h) between a primary's and a
// backup's arbiter on a real etcd, in real time (1 s leases): one owner
// per pair; a backup goes live only when the owner is gone and its token
// stands; a primary cut off from etcd stops releasing before the backup
// can take the pair, and is fenced once it hears of it.
#include "replication/arbiter.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <thread>

#include "base/thread.h"
#include "etcd_server.h"

namespace tandem::replication {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ArbiterOptions options(const EtcdEndpoint& at) {
  ArbiterOptions o;
  o.etcd = at;
  o.ttl_s = 1;
  o.quiet = true;
  return o;
}

template <typename F>
bool eventually(F done, std::chrono::milliseconds within) {
  const auto end = Clock::now() + within;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A TCP forwarder to etcd that can be cut (connections closed at once),
// as a network partition between one side and etcd.
class Cuttable {
 public:
  explicit Cuttable(EtcdEndpoint to) : to_(std::move(to)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = Thread([this] { serve(); });
  }
  ~Cuttable() {
    quit_ = true;
    thread_.join();
    ::close(fd_);
  }
  EtcdEndpoint endpoint() const { return {"127.0.0.1", port_}; }
  void cut(bool on) { cut_ = on; }

 private:
  // One request per connection (the client's way), one at a time.
  void serve() {
    while (!quit_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      int down = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (down < 0) continue;
      if (!cut_) {
        if (auto up = connect_tcp({to_.host, to_.port}, 500); up.ok()) {
          pump(down, *up);
          ::close(*up);
        }
      }
      ::close(down);
    }
  }
  // Both ways until either side closes, or a cut.
  void pump(int down, int up) {
    const int fds[2] = {down, up};
    char buf[4096];
    for (;;) {
      pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
      if (::poll(p, 2, 20) < 0 || quit_ || cut_) return;
      for (int i = 0; i < 2; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(fds[i], buf, sizeof buf, 0);
        if (n <= 0) return;
        if (::send(fds[1 - i], buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
      }
    }
  }

  EtcdEndpoint to_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> quit_{false}, cut_{false};
  Thread thread_;
};

TEST(Arbiter, OnePairOneOwner) {
  TANDEM_START_ETCD(etcd);
  auto p = Arbiter::own(options(etcd->endpoint()), "pair-a");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_TRUE((*p)->may_release());
  EXPECT_EQ((*p)->status().state, "owner");
  EXPECT_EQ((*p)->status().ttl_s, 1);
  auto q = Arbiter::own(options(etcd->endpoint()), "pair-a");
  ASSERT_FALSE(q.ok());
  const std::string& m = q.error().message();
  EXPECT_NE(m.find("pair 'pair-a' is owned by '" + (*p)->status().id + "'"), std::string::npos) << m;
  EXPECT_NE(m.find(etcd->endpoint().url()), std::string::npos) << m;
  EXPECT_TRUE(Arbiter::own(options(etcd->endpoint()), "pair-b").ok()) << "another pair is another key";
  // Renewals keep it valid beyond the TTL, and wake the run loop.
  pollfd w{(*p)->wake_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&w, 1, 1000), 1);
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE((*p)->may_release());
  EXPECT_GE((*p)->status().renewals, 4u);
  // Gone (an orderly exit revokes the lease): the pair is free at once.
  p->reset();
  EXPECT_TRUE(Arbiter::own(options(etcd->endpoint()), "pair-a").ok());
}

TEST(Arbiter, UnreachableEtcdRefusesToStartNamingTheUrl) {
  ArbiterOptions o = options({"127.0.0.1", testing::free_port()});
  for (bool own : {true, false}) {
    auto r = own ? Arbiter::own(o, "p") : Arbiter::stand_by(o, "p");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find(o.etcd.url()), std::string::npos) << r.error().message();
  }
  auto bad = parse_arbiter_spec("etcd=http://h:1,name=a/b");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("name 'a/b'"), std::string::npos);
  auto good = parse_arbiter_spec("etcd=http://h:1,name=web-1,ttl=3");
  ASSERT_TRUE(good.ok()) << good.error().message();
  EXPECT_EQ(good->name, "web-1");
  EXPECT_EQ(good->ttl_s, 3);
  EXPECT_EQ(pair_name(*good, {"10.0.0.2", 7000}), "web-1");
  good->name.clear();
  EXPECT_EQ(pair_name(*good, {"10.0.0.2", 7000}), "10.0.0.2:7000");
  EXPECT_FALSE(parse_arbiter_spec("name=x").ok()) << "etcd= is required";
}

TEST(Arbiter, TheBackupWaitsForTheOwnersLeaseAndThenGoesLive) {
  TANDEM_START_ETCD(etcd);
  auto p = Arbiter::own(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(p.ok());
  auto token = (*p)->protect();
  ASSERT_TRUE(token.ok()) << token.error().message();
  EXPECT_FALSE((*p)->protection_ended());
  auto b = Arbiter::stand_by(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(b.ok());
  auto seen = (*b)->standby_token();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, *token);
  EXPECT_EQ((*b)->status().state, "standby");
  std::string holder;
  auto r = (*b)->take_over(*token, holder);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, Arbiter::TakeOver::kHeld);
  EXPECT_EQ(holder, (*p)->status().id);
  EXPECT_FALSE((*b)->may_release());
  p->reset();  // the primary is gone, still protected: its token stands
  r = (*b)->take_over(*token, holder);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Arbiter::TakeOver::kTaken);
  EXPECT_TRUE((*b)->may_release());
  EXPECT_EQ((*b)->status().state, "owner");
  auto seen_after = (*b)->standby_token();
  ASSERT_TRUE(seen_after.ok());
  EXPECT_EQ(*seen_after, "") << "taken over: no backup holds this VM's state";
  EXPECT_FALSE(Arbiter::own(options(etcd->endpoint()), "pair").ok()) << "the backup owns the pair now";
}

TEST(Arbiter, APrimaryThatRanOnUnprotectedMakesTheBackupsCheckpointStale) {
  TANDEM_START_ETCD(etcd);
  auto p = Arbiter::own(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(p.ok());
  auto token = (*p)->protect();
  ASSERT_TRUE(token.ok());
  auto b = Arbiter::stand_by(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(b.ok());
  (*p)->unprotect();  // as the run loop asks when the backup is lost
  ASSERT_TRUE(eventually([&] { return (*p)->protection_ended(); }, 2000ms));
  std::string holder;
  auto r = (*b)->take_over(*token, holder);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Arbiter::TakeOver::kStale);
  EXPECT_EQ(holder, (*p)->status().id);
  p->reset();  // and even once the primary is gone
  r = (*b)->take_over(*token, holder);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Arbiter::TakeOver::kStale);
  EXPECT_EQ(holder, "");
  // A new protection's token is not the old one.
  auto p2 = Arbiter::own(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(p2.ok());
  auto token2 = (*p2)->protect();
  ASSERT_TRUE(token2.ok());
  EXPECT_NE(*token2, *token);
  EXPECT_TRUE((*p2)->unprotect_now().ok());
  EXPECT_TRUE((*p2)->protection_ended());
}

// The case the arbiter exists for, as a partition: the primary loses
// etcd (and its backup), the backup keeps etcd. The primary's output
// stops before the backup can go live, and once it hears etcd again it
// learns it was fenced and never releases again.
TEST(Arbiter, APrimaryCutOffFromEtcdStopsReleasingBeforeTheBackupGoesLive) {
  TANDEM_START_ETCD(etcd);
  Cuttable link(etcd->endpoint());
  auto p = Arbiter::own(options(link.endpoint()), "pair");
  ASSERT_TRUE(p.ok()) << p.error().message();
  auto token = (*p)->protect();
  ASSERT_TRUE(token.ok());
  auto b = Arbiter::stand_by(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(b.ok());

  const auto cut_at = Clock::now();
  link.cut(true);
  std::string holder;
  Clock::time_point live_at{};
  for (int i = 0; i < 100 && live_at == Clock::time_point{}; i++) {
    auto r = (*b)->take_over(*token, holder);
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_NE(*r, Arbiter::TakeOver::kStale);
    if (*r == Arbiter::TakeOver::kTaken) live_at = Clock::now();
    else std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(live_at, Clock::time_point{}) << "the backup never got the pair";
  // may_release() is "now < valid_until()": the primary's output stopped
  // then, at least the margin before the backup got the pair.
  const auto stopped_at = (*p)->valid_until();
  EXPECT_LT(stopped_at + Lease::margin(1), live_at) << "both could release output";
  EXPECT_LE(live_at - cut_at, 3s);
  EXPECT_FALSE((*p)->may_release());
  EXPECT_FALSE((*p)->fenced()) << "it has not heard yet";
  EXPECT_EQ((*p)->status().state, "unrenewed");

  link.cut(false);
  ASSERT_TRUE(eventually([&] { return (*p)->fenced(); }, 3000ms));
  EXPECT_FALSE((*p)->may_release());
  EXPECT_EQ((*p)->status().state, "fenced");
  EXPECT_EQ((*p)->status().holder, (*b)->status().id);
  EXPECT_FALSE((*p)->protect().ok());
  EXPECT_TRUE((*b)->may_release());
}

// An etcd that stops answering for a moment (shorter than the lease)
// holds output only while validity lapses, and renewals resume.
TEST(Arbiter, OutputResumesWhenEtcdAnswersAgainInTime) {
  TANDEM_START_ETCD(etcd);
  auto p = Arbiter::own(options(etcd->endpoint()), "pair");
  ASSERT_TRUE(p.ok());
  etcd->pause();
  EXPECT_TRUE(eventually([&] { return !(*p)->may_release(); }, 2000ms));
  etcd->resume();
  EXPECT_TRUE(eventually([&] { return (*p)->may_release(); }, 3000ms));
  EXPECT_GE((*p)->status().failures, 1u);
  EXPECT_FALSE((*p)->fenced());
}

}  // namespace
}  // namespace tandem::replication
