// The comparator fed at random: the same TCP stream chopped differently
// by each guest, interleaved at random, always matches; one byte changed
// always diverges at that byte; random and mangled frames never crash it.
#include <gtest/gtest.h>

#include <random>

#include "ft/comparator.h"
#include "ft_frames.h"

namespace tandem::ft {
namespace {

using namespace test;
using Time = Comparator::TimePoint;

struct Side {
  uint32_t isn, ts;
};

// The guest's answer chopped into segments of 1-1460 bytes, SYN-ACK first
// and FIN last; now and then a segment is sent again (a retransmission).
std::vector<Frame> chop(std::mt19937& rng, const Side& side, const std::string& data) {
  std::vector<Frame> out;
  auto seg = [&](uint32_t rel, std::string d, uint8_t flags) {
    Seg s;
    s.seq = side.isn + rel;
    s.ack = 70001;
    s.flags = flags;
    s.data = std::move(d);
    s.ts = std::pair{side.ts + rel / 1000, 900u};
    return test::out(s);
  };
  out.push_back(seg(0, "", kSyn | kAck));
  for (size_t at = 0; at < data.size();) {
    size_t n = std::min<size_t>(data.size() - at, 1 + rng() % 1460);
    out.push_back(seg(uint32_t(1 + at), data.substr(at, n), kAck | kPsh));
    if (rng() % 10 == 0) out.push_back(out.back());
    at += n;
  }
  out.push_back(seg(uint32_t(1 + data.size()), "", kAck | kFin));
  return out;
}

struct Outcome {
  std::vector<Frame> released;
  std::optional<Divergence> divergence;
};

Outcome feed(std::mt19937& rng, const std::vector<Frame>& p, const std::vector<Frame>& s) {
  Comparator c;
  Outcome r;
  Time now{};
  size_t pi = 0, si = 0;
  while (pi < p.size() || si < s.size()) {
    bool take_p = si == s.size() || (pi < p.size() && rng() % 2);
    const Frame& f = take_p ? p[pi++] : s[si++];
    auto side = take_p ? &Comparator::primary : &Comparator::secondary;
    (c.*side)(f.data(), f.size(), now);
    if (rng() % 3 == 0)
      for (Frame& g : c.take_releasable()) r.released.push_back(std::move(g));
  }
  for (Frame& g : c.take_releasable()) r.released.push_back(std::move(g));
  r.divergence = c.divergence();
  return r;
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s(n, 0);
  for (char& ch : s) ch = char(rng());
  return s;
}

TEST(ComparatorRandom, SameStreamChoppedAtRandomAlwaysReleasesEverythingInOrder) {
  for (uint32_t seed = 0; seed < 200; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::string data = random_bytes(rng, 1 + rng() % 30000);
    Side ps{uint32_t(rng()), uint32_t(rng())}, ss{uint32_t(rng()), uint32_t(rng())};
    std::vector<Frame> p = chop(rng, ps, data), s = chop(rng, ss, data);
    Outcome r = feed(rng, p, s);
    EXPECT_FALSE(r.divergence) << r.divergence->description;
    EXPECT_EQ(r.released, p);
  }
}

TEST(ComparatorRandom, OneByteChangedAlwaysDivergesThere) {
  for (uint32_t seed = 0; seed < 200; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::string data = random_bytes(rng, 1 + rng() % 30000);
    std::string other = data;
    size_t at = rng() % data.size();
    other[at] = char(other[at] ^ (1 + rng() % 255));
    Side ps{uint32_t(rng()), uint32_t(rng())}, ss{uint32_t(rng()), uint32_t(rng())};
    std::vector<Frame> p = chop(rng, ps, data), s = chop(rng, ss, other);
    Outcome r = feed(rng, p, s);
    ASSERT_TRUE(r.divergence);
    EXPECT_EQ(r.divergence->kind, DivergenceKind::content);
    EXPECT_EQ(r.divergence->description,
              "tcp 10.0.2.15:80 -> 10.0.2.2:41234: payload differs at stream byte " + group_digits(at));
    // Nothing past the changed byte left the host.
    size_t released_bytes = 0;
    for (size_t i = 1; i < r.released.size(); i++)  // after the SYN-ACK
      released_bytes = std::max<size_t>(released_bytes, seq_of(r.released[i]) - ps.isn - 1 +
                                                            (r.released[i].size() - 66));
    EXPECT_LE(released_bytes, at);
  }
}

TEST(ComparatorRandom, RandomAndMangledFramesNeverCrashIt) {
  std::mt19937 rng(7);
  Comparator c(1 << 16);
  Time now{};
  std::vector<Frame> valid = {
      out({.seq = 1, .ack = 2, .flags = kSyn | kAck, .ts = std::pair{1u, 2u}}),
      out({.seq = 2, .ack = 2, .data = "abc", .sack = {{1, 2}}}),
      in({.seq = 2, .ack = 5, .flags = kAck | kFin, .ts = std::pair{1u, 2u}, .odd_options = true}),
      out({.seq = 9, .ack = 2, .flags = kRst, .v6 = true}),
      udp_out(1, 2, "x"),
      ping_out(3, 4, "y", true),
      net::test::arp(1, net::test::kBroadcastMac, kGuestMac, kGuest4, {}, kClient4),
  };
  for (int i = 0; i < 200000; i++) {
    Frame f;
    if (rng() % 4 == 0) {
      f.resize(rng() % 120);
      for (auto& b : f) b = uint8_t(rng());
    } else {
      f = valid[rng() % valid.size()];
      for (int n = rng() % 4; n > 0; n--) f[rng() % f.size()] = uint8_t(rng());
      if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    }
    switch (rng() % 3) {
      case 0: c.primary(f.data(), f.size(), now); break;
      case 1: c.secondary(f.data(), f.size(), now); break;
      default: c.to_secondary(f.data(), f.size()); break;
    }
    if (rng() % 16 == 0) c.take_releasable();
    if (rng() % 64 == 0) c.take_mapping_updates();
    if (rng() % 5000 == 0) c.resynced();
    ASSERT_LE(c.stats().secondary_bytes, size_t{1} << 16);
  }
  c.oldest_unmatched(now);
  c.resynced();
  EXPECT_EQ(c.stats().held_frames, 0u);
}

}  // namespace
}  // namespace tandem::ft
