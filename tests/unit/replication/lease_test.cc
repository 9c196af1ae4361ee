// The lease state machine (replication/lease.h) against a real etcd, with
// a fake clock: validity is reckoned from the clock the holder is given,
// so moving it shows when output would stop, whatever etcd does.
#include "replication/lease.h"

#include <gtest/gtest.h>

#include "etcd_server.h"

namespace tandem::replication {
namespace {

using namespace std::chrono_literals;
using Clock = Lease::Clock;

struct FakeClock {
  Clock::time_point t{std::chrono::hours(1000)};
  Lease::Now fn() {
    return [this] { return t; };
  }
};

constexpr char kKey[] = "tandem/pair/t/owner";
constexpr char kLast[] = "tandem/pair/t/last-owner";

// A real etcd (or a skip), a client with a short deadline, a fake clock.
class LeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    etcd_ = testing::EtcdServer::start(why);
    if (!etcd_) GTEST_SKIP() << why;
    c_ = std::make_unique<EtcdClient>(etcd_->endpoint(), 300);
  }
  Lease lease(const char* id) { return Lease(*c_, kKey, kLast, id, 1, clock_.fn()); }
  // The key's value now, "" when absent.
  std::string holder(const char* key = kKey) {
    auto kv = c_->get(key);
    EXPECT_TRUE(kv.ok()) << kv.error().message();
    return kv.ok() && *kv ? (*kv)->value : "";
  }
  std::unique_ptr<testing::EtcdServer> etcd_;
  std::unique_ptr<EtcdClient> c_;
  FakeClock clock_;
};

TEST_F(LeaseTest, ValidUntilTheTtlLessTheMarginAfterTheRefreshWasSent) {
  Lease a = lease("a");
  EXPECT_FALSE(a.valid(clock_.t)) << "free";
  auto claim = a.acquire();
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  ASSERT_TRUE(claim->taken);
  EXPECT_EQ(a.state(), Lease::State::kHeld);
  ASSERT_EQ(a.ttl_s(), 1) << "etcd started with a 500 ms election timeout grants 1 s";
  const auto t0 = clock_.t;
  const auto end = t0 + 1s - Lease::margin(1);
  EXPECT_TRUE(a.valid(t0));
  EXPECT_TRUE(a.valid(end - 1ns));
  EXPECT_FALSE(a.valid(end));
  EXPECT_EQ(a.renew_at(), t0 + 250ms);
  auto kv = c_->get(kKey);
  ASSERT_TRUE(kv.ok() && *kv);
  EXPECT_EQ((*kv)->value, "a");
  EXPECT_EQ((*kv)->lease, a.lease_id());
  EXPECT_EQ(holder(kLast), "a");

  clock_.t += 300ms;
  ASSERT_TRUE(a.renew().ok());
  EXPECT_EQ(a.valid_until(), clock_.t + 1s - Lease::margin(1));
  EXPECT_EQ(a.renew_at(), clock_.t + 250ms);
}

// Output stops by the holder's clock, before etcd lets the key go: here
// etcd (in real time) still holds it for us, but 900 ms passed by the
// clock without a refresh.
TEST_F(LeaseTest, ValidityLapsesWithoutARefreshWhileEtcdStillHoldsTheKey) {
  Lease a = lease("a");
  ASSERT_TRUE(a.acquire().ok());
  clock_.t += 900ms;
  EXPECT_FALSE(a.valid(clock_.t));
  EXPECT_EQ(a.state(), Lease::State::kHeld);
  EXPECT_EQ(holder(), "a");
  ASSERT_TRUE(a.renew().ok());
  EXPECT_TRUE(a.valid(clock_.t));
}

TEST_F(LeaseTest, ASecondClaimantIsToldTheHolderAndARetriedClaimIsIdempotent) {
  Lease a = lease("a"), b = lease("b");
  ASSERT_TRUE(a.acquire().ok());
  auto claim = b.acquire({}, {}, {kLast});
  ASSERT_TRUE(claim.ok());
  EXPECT_FALSE(claim->taken);
  EXPECT_EQ(claim->holder, "a");
  ASSERT_EQ(claim->reads.size(), 1u);
  ASSERT_TRUE(claim->reads[0]);
  EXPECT_EQ(claim->reads[0]->value, "a");
  EXPECT_EQ(b.state(), Lease::State::kFree);
  EXPECT_FALSE(b.valid(clock_.t));
  // An acquire whose answer was lost and that is sent again finds the key
  // already its own, on its lease.
  auto again = a.acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->taken);
}

TEST_F(LeaseTest, AnExpiredLeaseIsReplacedWhenNoOneHeldTheKeyMeanwhile) {
  Lease a = lease("a");
  ASSERT_TRUE(a.acquire().ok());
  const int64_t old = a.lease_id();
  ASSERT_TRUE(c_->revoke(old).ok());  // as etcd does when the TTL runs out
  clock_.t += 300ms;
  ASSERT_TRUE(a.renew().ok());
  EXPECT_EQ(a.state(), Lease::State::kHeld);
  EXPECT_TRUE(a.valid(clock_.t));
  EXPECT_NE(a.lease_id(), old);
  auto kv = c_->get(kKey);
  ASSERT_TRUE(kv.ok() && *kv);
  EXPECT_EQ((*kv)->value, "a");
  EXPECT_EQ((*kv)->lease, a.lease_id());
}

TEST_F(LeaseTest, AKeyTakenByAnotherFencesTheHolderForGood) {
  Lease a = lease("a"), b = lease("b");
  ASSERT_TRUE(a.acquire().ok());
  ASSERT_TRUE(c_->revoke(a.lease_id()).ok());
  auto claim = b.acquire();
  ASSERT_TRUE(claim.ok() && claim->taken);
  ASSERT_TRUE(a.renew().ok());
  EXPECT_EQ(a.state(), Lease::State::kTaken);
  EXPECT_EQ(a.taker(), "b");
  EXPECT_FALSE(a.valid(clock_.t - 1h)) << "valid at no time any more";
  ASSERT_TRUE(b.renew().ok());
  b.release();
  ASSERT_TRUE(a.renew().ok());
  EXPECT_EQ(a.state(), Lease::State::kTaken) << "a free key is not taken back: renew no longer tries";
}

// Someone held the key while this holder was cut off, and let it go: the
// key is free, but this holder's view is stale, so it does not take it.
TEST_F(LeaseTest, NoRetakeWhenAnotherHeldTheKeyInBetween) {
  Lease a = lease("a"), b = lease("b");
  ASSERT_TRUE(a.acquire().ok());
  ASSERT_TRUE(c_->revoke(a.lease_id()).ok());
  ASSERT_TRUE(b.acquire().ok());
  b.release();
  EXPECT_EQ(holder(), "") << "released: the key went with b's lease";
  ASSERT_TRUE(a.renew().ok());
  EXPECT_EQ(a.state(), Lease::State::kTaken);
  EXPECT_NE(a.taker().find("b"), std::string::npos) << a.taker();
}

TEST_F(LeaseTest, AnUnansweredRefreshExtendsNothing) {
  Lease a = lease("a");
  ASSERT_TRUE(a.acquire().ok());
  const auto until = a.valid_until();
  etcd_->pause();
  clock_.t += 300ms;
  Status st = a.renew();
  etcd_->resume();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("no answer"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find(etcd_->endpoint().url()), std::string::npos) << st.error().message();
  EXPECT_EQ(a.valid_until(), until);
  EXPECT_EQ(a.state(), Lease::State::kHeld);
  EXPECT_EQ(a.renew_at(), clock_.t + 125ms) << "retried at twice the pace";
  clock_.t += 125ms;
  ASSERT_TRUE(a.renew().ok());
  EXPECT_EQ(a.valid_until(), clock_.t + 1s - Lease::margin(1));
}

TEST_F(LeaseTest, ReleaseFreesTheKeyAtOnce) {
  Lease a = lease("a"), b = lease("b");
  ASSERT_TRUE(a.acquire().ok());
  a.release();
  EXPECT_EQ(a.state(), Lease::State::kFree);
  EXPECT_FALSE(a.valid(clock_.t));
  auto claim = b.acquire();
  ASSERT_TRUE(claim.ok());
  EXPECT_TRUE(claim->taken);
}

TEST(EtcdClient, UrlsAndBase64) {
  auto e = parse_etcd_url("http://127.0.0.1:2379/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->url(), "http://127.0.0.1:2379");
  for (const char* bad : {"127.0.0.1:2379", "https://h:1", "http://h", "http://h:1/v3", "http://h:0"})
    EXPECT_FALSE(parse_etcd_url(bad).ok()) << bad;
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "tandem/pair/x/owner",
                                                       std::string("\0\xff\x80", 3)}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("tandem"), "dGFuZGVt");
  EXPECT_FALSE(base64_decode("dG=Fu").ok());
  EXPECT_FALSE(base64_decode("d*").ok());
}

TEST(EtcdClient, UnreachableEtcdIsNamed) {
  const uint16_t port = testing::free_port();
  EtcdClient c({"127.0.0.1", port}, 300);
  auto g = c.grant(1);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("etcd at http://127.0.0.1:" + std::to_string(port)), std::string::npos)
      << g.error().message();
}

}  // namespace
}  // namespace tandem::replication
