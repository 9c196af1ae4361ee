#include "ft/comparator.h"

#include <gtest/gtest.h>

#include <random>

#include "ft_frames.h"

namespace tandem::ft {
namespace {

using namespace test;
using std::chrono::milliseconds;
using Time = Comparator::TimePoint;

const Time t0 = Time{} + std::chrono::seconds(100);

// One connection to the guest's port 80 as each guest answers it: their
// ISNs and timestamp clocks differ; the client's numbers are shared.
struct Conn {
  uint32_t p_isn = 1000, s_isn = 0x90000000u;
  uint32_t p_ts = 5000, s_ts = 5040;
  uint32_t c_isn = 70000;
  bool v6 = false;
  uint32_t acked = 0;  // client bytes the guest acknowledges

  Frame seg(bool secondary, uint32_t rel, const std::string& data, uint8_t flags) const {
    Seg s;
    s.seq = (secondary ? s_isn : p_isn) + rel;
    s.ack = c_isn + 1 + acked;
    s.flags = flags;
    s.data = data;
    s.ts = std::pair{secondary ? s_ts : p_ts, 900u};
    s.v6 = v6;
    return out(s);
  }
  // rel: position in the stream, 0 = the SYN, data from 1.
  Frame p(uint32_t rel, const std::string& data, uint8_t flags = kAck | kPsh) const {
    return seg(false, rel, data, flags);
  }
  Frame s(uint32_t rel, const std::string& data, uint8_t flags = kAck | kPsh) const {
    return seg(true, rel, data, flags);
  }
  Frame p_synack() const { return p(0, "", kSyn | kAck); }
  Frame s_synack() const { return s(0, "", kSyn | kAck); }
};

void primary(Comparator& c, const Frame& f, Time at = t0) { c.primary(f.data(), f.size(), at); }
void secondary(Comparator& c, const Frame& f, Time at = t0) { c.secondary(f.data(), f.size(), at); }

void open(Comparator& c, const Conn& k) {
  primary(c, k.p_synack());
  secondary(c, k.s_synack());
  ASSERT_EQ(c.take_releasable(), std::vector<Frame>{k.p_synack()});
}

const char* kFlow = "tcp 10.0.2.15:80 -> 10.0.2.2:41234";

TEST(Comparator, SameStreamSplitDifferentlyMatches) {
  Comparator c;
  Conn k;
  open(c, k);
  std::vector<Frame> p = {k.p(1, "hello "), k.p(7, "world, "), k.p(14, "this is tandem")};
  for (const Frame& f : p) primary(c, f);
  EXPECT_TRUE(c.take_releasable().empty());
  secondary(c, k.s(1, "hello wor"));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{p[0]});
  secondary(c, k.s(10, "ld, this is tandem"));
  EXPECT_EQ(c.take_releasable(), (std::vector<Frame>{p[1], p[2]}));
  EXPECT_FALSE(c.divergence());
  ComparatorStats st = c.stats();
  EXPECT_EQ(st.matched_frames, 4u);
  EXPECT_EQ(st.held_frames, 0u);
  EXPECT_EQ(st.secondary_bytes, 0u);
}

TEST(Comparator, Ipv6StreamMatchesToo) {
  Comparator c;
  Conn k;
  k.v6 = true;
  open(c, k);
  primary(c, k.p(1, "abcdef"));
  secondary(c, k.s(1, "abc"));
  secondary(c, k.s(4, "def"));
  EXPECT_EQ(c.take_releasable().size(), 1u);
}

TEST(Comparator, SecondaryLaggingThenCatchingUpReleasesInOrder) {
  Comparator c;
  Conn k;
  open(c, k);
  std::string data = "0123456789abcdefghij";
  std::vector<Frame> p;
  for (uint32_t i = 0; i < 20; i += 4) p.push_back(k.p(1 + i, data.substr(i, 4)));
  for (const Frame& f : p) primary(c, f, t0 + milliseconds(1));
  EXPECT_EQ(c.oldest_unmatched(t0 + milliseconds(11)), milliseconds(10));
  std::vector<Frame> got;
  for (uint32_t i = 0; i < 20; i++) {
    secondary(c, k.s(1 + i, data.substr(i, 1)));
    for (Frame& f : c.take_releasable()) got.push_back(std::move(f));
    EXPECT_EQ(got.size(), (i + 1) / 4);  // a segment goes once all its bytes came
  }
  EXPECT_EQ(got, p);
  EXPECT_EQ(c.oldest_unmatched(t0 + milliseconds(11)), milliseconds(0));
}

TEST(Comparator, DifferingByteIsADivergenceNamingFlowAndPosition) {
  Comparator c;
  Conn k;
  open(c, k);
  std::string data(2000, 'a');
  std::string other = data;
  other[1234] = 'b';
  primary(c, k.p(1, data.substr(0, 1000)));
  primary(c, k.p(1001, data.substr(1000)));
  secondary(c, k.s(1, other.substr(0, 1500)));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->kind, DivergenceKind::content);
  EXPECT_EQ(c.divergence()->flow, kFlow);
  EXPECT_EQ(c.divergence()->description, std::string(kFlow) + ": payload differs at stream byte 1,234");
  // The diverged flow holds everything until a resync, even what matched.
  EXPECT_TRUE(c.take_releasable().empty());
  EXPECT_EQ(c.stats().divergences[size_t(DivergenceKind::content)], 1u);
  EXPECT_EQ(c.stats().held_frames, 2u);
}

TEST(Comparator, IsnOffsetIsLearnedAndInputRewrittenForTheSecondary) {
  Comparator c;
  Conn k;
  // The client's SYN passes as it is: nothing is mapped yet.
  Frame syn = in({.seq = k.c_isn, .ack = 0, .flags = kSyn, .ts = std::pair{900u, 0u}});
  Frame copy = syn;
  EXPECT_FALSE(c.to_secondary(syn.data(), syn.size()));
  EXPECT_EQ(syn, copy);
  open(c, k);
  std::vector<FlowMapping> up = c.take_mapping_updates();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(describe(up[0].tuple), "10.0.2.15:80 -> 10.0.2.2:41234");
  EXPECT_EQ(up[0].seq, k.s_isn - k.p_isn);
  EXPECT_EQ(up[0].ts, 40u);
  EXPECT_TRUE(c.take_mapping_updates().empty());  // taken once

  // The client acknowledges what the primary sent (its numbers), with a
  // SACK block and the primary's timestamp echoed.
  Frame ack = in({.seq = k.c_isn + 1, .ack = k.p_isn + 1 + 500, .flags = kAck, .data = "GET",
                  .ts = std::pair{901u, k.p_ts}, .sack = {{k.p_isn + 600, k.p_isn + 700}},
                  .odd_options = true});
  ASSERT_TRUE(c.to_secondary(ack.data(), ack.size()));
  EXPECT_TRUE(tcp_checksum_ok(ack));
  EXPECT_EQ(ack_of(ack), k.s_isn + 1 + 500);
  EXPECT_EQ(seq_of(ack), k.c_isn + 1);
  size_t ts = option_at(ack, 8), sack = option_at(ack, 5);
  EXPECT_EQ(get32(ack, ts + 2), 901u);
  EXPECT_EQ(get32(ack, ts + 6), k.s_ts);
  EXPECT_EQ(get32(ack, sack + 2), k.s_isn + 600);
  EXPECT_EQ(get32(ack, sack + 6), k.s_isn + 700);
  EXPECT_EQ(c.seq_map().size(), 1u);
}

TEST(Comparator, SecondaryAhead) {
  // The secondary's whole answer comes first; the primary's then matches
  // at once, the SYN-ACK included.
  Comparator c;
  Conn k;
  secondary(c, k.s_synack());
  secondary(c, k.s(1, "response"));
  primary(c, k.p_synack());
  primary(c, k.p(1, "resp"));
  primary(c, k.p(5, "onse"));
  EXPECT_EQ(c.take_releasable().size(), 3u);
  EXPECT_EQ(c.stats().secondary_bytes, 0u);
}

TEST(Comparator, AnAcknowledgmentWaitsForTheSecondarysToReachIt) {
  Comparator c;
  Conn k;
  open(c, k);
  k.acked = 10;  // the primary got 10 bytes from the client and says so
  Frame p_ack = k.p(1, "", kAck);
  primary(c, p_ack);
  k.acked = 5;
  secondary(c, k.s(1, "", kAck));
  EXPECT_TRUE(c.take_releasable().empty());  // the client must not learn of bytes the secondary lacks
  k.acked = 10;
  secondary(c, k.s(1, "", kAck));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{p_ack});
  // A duplicate ACK of the primary's is matched at once.
  primary(c, p_ack);
  EXPECT_EQ(c.take_releasable().size(), 1u);
}

TEST(Comparator, FinsMatchAtTheSamePlaceAndTheClosedConnectionIsForgotten) {
  Comparator c;
  Conn k;
  open(c, k);
  c.take_mapping_updates();
  primary(c, k.p(1, "bye", kAck | kFin));
  secondary(c, k.s(1, "b"));
  EXPECT_TRUE(c.take_releasable().empty());
  secondary(c, k.s(2, "ye", kAck | kFin));
  EXPECT_EQ(c.take_releasable().size(), 1u);
  // The client acknowledges the FIN and sends its own; both guests ack it.
  Frame fin = in({.seq = k.c_isn + 1, .ack = k.p_isn + 5, .flags = kAck | kFin});
  c.to_secondary(fin.data(), fin.size());
  k.acked = 1;  // the client's FIN
  primary(c, k.p(5, "", kAck));
  EXPECT_EQ(c.flows(), 1u);
  secondary(c, k.s(5, "", kAck));
  EXPECT_EQ(c.take_releasable().size(), 1u);
  EXPECT_EQ(c.flows(), 0u);
  EXPECT_EQ(c.seq_map().size(), 0u);
  std::vector<FlowMapping> up = c.take_mapping_updates();
  ASSERT_EQ(up.size(), 1u);  // the secondary's mapping goes too
  EXPECT_EQ(up[0].seq, 0u);
  EXPECT_EQ(up[0].ts, 0u);
}

TEST(Comparator, FinAtAnotherPlaceIsAFlagsDivergence) {
  Comparator c;
  Conn k;
  open(c, k);
  primary(c, k.p(1, "hello", kAck | kFin));
  secondary(c, k.s(1, "hello!", kAck | kFin));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->kind, DivergenceKind::flags);
  EXPECT_EQ(c.divergence()->description,
            std::string(kFlow) + ": FIN at stream byte 5 on the primary, 6 on the secondary");
}

TEST(Comparator, DataPastTheOthersFinIsAFlagsDivergence) {
  Comparator c;
  Conn k;
  open(c, k);
  secondary(c, k.s(1, "ab", kAck | kFin));
  primary(c, k.p(1, "abc"));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->description,
            std::string(kFlow) + ": the primary sent data past the other's FIN at stream byte 2");
}

TEST(Comparator, SynOnOneSideOnlyIsAFlagsDivergence) {
  Comparator c;
  Conn k;
  primary(c, k.p_synack());
  secondary(c, k.s(1, "x"));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->description,
            std::string(kFlow) + ": SYN from the primary only (the secondary's first segment here: ACK, 1 bytes)");
}

TEST(Comparator, ResetsMatchByMeaning) {
  Comparator c;
  Conn k;
  open(c, k);
  Frame rst = k.p(1, "", kRst | kAck);
  primary(c, rst);
  EXPECT_TRUE(c.take_releasable().empty());
  secondary(c, k.s(1, "", kRst | kAck));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{rst});
  EXPECT_EQ(c.flows(), 0u);
}

TEST(Comparator, ConnectionsOpenBeforeComparisonMapWithOffsetZero) {
  // After a resync both guests hold one state: same numbers, no SYN seen.
  Comparator c;
  Conn k;
  Frame p = k.p(100, "data");
  primary(c, p);
  Conn same = k;
  same.s_isn = k.p_isn;
  same.s_ts = k.p_ts;
  secondary(c, same.s(100, "da"));
  secondary(c, same.s(102, "ta"));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{p});
  EXPECT_TRUE(c.take_mapping_updates().empty());
}

TEST(Comparator, DatagramsMatchInOrderPerFlow) {
  Comparator c;
  Frame a = udp_out(5353, 53, "query a"), b = udp_out(5353, 53, "query b");
  Frame other = udp_out(5354, 53, "query c");
  primary(c, a);
  primary(c, b);
  primary(c, other);
  secondary(c, udp_out(5354, 53, "query c"));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{other});  // flows are independent
  secondary(c, udp_out(5353, 53, "query a"));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{a});
  secondary(c, udp_out(5353, 53, "query x"));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->kind, DivergenceKind::content);
  // The IP payload: 8 bytes of UDP header, then "query " and the byte.
  EXPECT_EQ(c.divergence()->description, "udp 10.0.2.15:5353 -> 10.0.2.2:53: datagram differs at byte 14");
  EXPECT_TRUE(c.take_releasable().empty());
}

TEST(Comparator, DatagramsOfAnotherLengthDiffer) {
  Comparator c;
  primary(c, udp_out(1, 2, "abc"));
  secondary(c, udp_out(1, 2, "abcd"));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->description,
            "udp 10.0.2.15:1 -> 10.0.2.2:2: datagram differs in length: 11 bytes on the primary, 12 on the secondary");
}

TEST(Comparator, IcmpEchoesMatchPerIdentifier) {
  Comparator c;
  Frame p7 = ping_out(7, 1, "ping"), p8 = ping_out(8, 1, "ping"), p6 = ping_out(7, 1, "ping", true);
  primary(c, p7);
  primary(c, p8);
  primary(c, p6);
  secondary(c, ping_out(8, 1, "ping"));
  secondary(c, ping_out(7, 1, "ping", true));
  EXPECT_EQ(c.take_releasable(), (std::vector<Frame>{p8, p6}));
  secondary(c, ping_out(7, 1, "pong"));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->flow, "icmp 10.0.2.15 -> 10.0.2.2 id 7");
}

TEST(Comparator, ArpMatchesByMeaning) {
  Comparator c;
  using net::test::arp;
  Frame req = arp(1, net::test::kBroadcastMac, kGuestMac, kGuest4, {}, kClient4);
  primary(c, req);
  // Another target MAC (a request's is unused) still means the same.
  secondary(c, arp(1, net::test::kBroadcastMac, kGuestMac, kGuest4, {1, 2, 3, 4, 5, 6}, kClient4));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{req});
  primary(c, req);
  secondary(c, arp(1, net::test::kBroadcastMac, kGuestMac, kGuest4, {}, kClient4 + 1));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->description, "arp: message differs at byte 15");
}

TEST(Comparator, UnparseableFramesAreComparedWhole) {
  Comparator c;
  Frame tiny = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  primary(c, tiny);
  secondary(c, tiny);
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{tiny});
  Frame bad_ip = udp_out(1, 2, "x");
  bad_ip[14] = 0x44;  // IHL 16 bytes: not an IPv4 header
  primary(c, bad_ip);
  Frame other = bad_ip;
  other[30] ^= 1;
  secondary(c, other);
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->description, "ethertype 0x0800: frame differs at byte 30");
}

TEST(Comparator, SecondaryOutputBeyondTheCapIsADivergenceNotGrowth) {
  Comparator c(4096);
  Conn k;
  secondary(c, k.s_synack());  // the primary has not got there: all waits
  for (uint32_t i = 0; i < 10; i++) secondary(c, k.s(1 + 1000 * i, std::string(1000, 'x')));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->kind, DivergenceKind::memory);
  EXPECT_EQ(c.divergence()->description,
            std::string(kFlow) + ": the secondary's unmatched output would pass the cap of 4,096 bytes");
  EXPECT_LE(c.stats().secondary_bytes, 4096u);
  EXPECT_EQ(c.stats().divergences[size_t(DivergenceKind::memory)], 1u);
}

TEST(Comparator, ResyncedReleasesAllHeldAndStartsAfresh) {
  Comparator c;
  Conn k;
  open(c, k);
  Frame u = udp_out(1, 2, "held");
  std::vector<Frame> held = {k.p(1, "abc"), u, k.p(4, "def")};
  primary(c, held[0]);
  primary(c, held[1]);
  primary(c, held[2]);
  secondary(c, k.s(1, "abX"));
  secondary(c, udp_out(9, 9, "left over"));
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.resynced(), held);
  EXPECT_FALSE(c.divergence());
  EXPECT_EQ(c.flows(), 1u);  // the connection, not the datagrams
  EXPECT_EQ(c.seq_map().size(), 0u);
  ComparatorStats st = c.stats();
  EXPECT_EQ(st.held_frames, 0u);
  EXPECT_EQ(st.secondary_bytes, 0u);
  EXPECT_EQ(st.divergences[size_t(DivergenceKind::content)], 1u);  // counts stay
  // Both guests continue from the primary's state: the primary's numbers.
  Frame next = k.p(7, "ghi");
  primary(c, next);
  Conn same = k;
  same.s_isn = k.p_isn;
  secondary(c, same.s(7, "ghi"));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{next});
  EXPECT_FALSE(c.divergence());
}

// The guests' retransmission timers run on their own hosts' time: after a
// resync one may resend what was sent before it while the other goes on.
TEST(Comparator, RetransmissionOfWhatWasSentBeforeAResyncIsNotADivergence) {
  Comparator c;
  Conn k;
  open(c, k);
  primary(c, k.p(1, "request one "));  // 12 bytes, the secondary's differ
  secondary(c, k.s(1, "request 1   "));
  ASSERT_TRUE(c.divergence());
  (void)c.resynced();
  Conn same = k;
  same.s_isn = k.p_isn;
  // The primary resends the answer the resync released; the secondary
  // does not, and sends the next one.
  Frame again = k.p(1, "request one ");
  Frame next = k.p(13, "two");
  primary(c, again);
  primary(c, next);
  secondary(c, same.s(13, "two"));
  EXPECT_EQ(c.take_releasable(), (std::vector<Frame>{again, next}));
  // Now the secondary resends, and the primary goes on.
  secondary(c, same.s(1, "request one two"));
  Frame third = k.p(16, "three");
  primary(c, third);
  secondary(c, same.s(16, "three"));
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{third});
  EXPECT_FALSE(c.divergence());
}

TEST(Comparator, NewDataPastTheResyncPointStillHasToMatch) {
  Comparator c;
  Conn k;
  open(c, k);
  primary(c, k.p(1, "abc"));
  secondary(c, k.s(1, "abc"));
  (void)c.take_releasable();
  (void)c.resynced();
  Conn same = k;
  same.s_isn = k.p_isn;
  primary(c, k.p(4, "def"));
  secondary(c, same.s(7, "ghi"));  // skipped "def": not a retransmission
  ASSERT_TRUE(c.divergence());
  EXPECT_EQ(c.divergence()->kind, DivergenceKind::sequence);
}

TEST(Comparator, AFinSentBeforeAResyncMayBeResentByOneSide) {
  Comparator c;
  Conn k;
  open(c, k);
  primary(c, k.p(1, "bye", kAck | kFin));
  secondary(c, k.s(1, "bye", kAck | kFin));
  ASSERT_EQ(c.take_releasable().size(), 1u);
  (void)c.resynced();
  Frame fin_again = k.p(1, "bye", kAck | kFin);
  primary(c, fin_again);
  EXPECT_EQ(c.take_releasable(), std::vector<Frame>{fin_again});
  EXPECT_FALSE(c.divergence());
}

TEST(Comparator, OldestUnmatchedIsTheAgeOfTheFirstHeldFrameNotMatched) {
  Comparator c;
  EXPECT_EQ(c.oldest_unmatched(t0), milliseconds(0));
  primary(c, udp_out(1, 2, "a"), t0);
  primary(c, udp_out(3, 4, "b"), t0 + milliseconds(5));
  EXPECT_EQ(c.oldest_unmatched(t0 + milliseconds(30)), milliseconds(30));
  secondary(c, udp_out(1, 2, "a"));
  EXPECT_EQ(c.oldest_unmatched(t0 + milliseconds(30)), milliseconds(25));
  std::string what;
  (void)c.oldest_unmatched(t0 + milliseconds(30), &what);
  EXPECT_NE(what.find("udp"), std::string::npos) << what;
  EXPECT_NE(what.find("-byte frame unmatched"), std::string::npos) << what;
}

TEST(Comparator, OldestUnmatchedNamesTheSegment) {
  Comparator c;
  Conn k;
  open(c, k);
  primary(c, k.p(1, "", kAck | kFin), t0);
  std::string what;
  EXPECT_EQ(c.oldest_unmatched(t0 + milliseconds(1), &what), milliseconds(1));
  EXPECT_EQ(what, std::string(kFlow) + ": a " + std::to_string(k.p(1, "", kAck | kFin).size()) +
                      "-byte segment (FIN) unmatched");
}

// What LockstepPrimary's slice hook is due for between frames: a frame
// that can leave, a mismatch, an offset or a closed connection to pass on.
TEST(Comparator, WorkPendingOnlyWhenTheRunLoopHasSomethingToDo) {
  Comparator c;
  Conn k;
  EXPECT_FALSE(c.work_pending());
  primary(c, k.p_synack());
  EXPECT_FALSE(c.work_pending());  // waits for the secondary: no work yet
  secondary(c, k.s_synack());
  EXPECT_TRUE(c.work_pending());  // matched, and an offset learned
  c.take_releasable();
  EXPECT_TRUE(c.work_pending());
  c.take_mapping_updates();
  EXPECT_FALSE(c.work_pending());
  // The secondary ran ahead: the primary's frame matches as it comes.
  secondary(c, k.s(1, "hello"));
  EXPECT_FALSE(c.work_pending());
  primary(c, k.p(1, "hello"));
  EXPECT_TRUE(c.work_pending());
  EXPECT_EQ(c.take_releasable().size(), 1u);
  EXPECT_FALSE(c.work_pending());
  // Both close; the client's last ACK, mirrored, ends the connection.
  primary(c, k.p(6, "", kAck | kFin));
  secondary(c, k.s(6, "", kAck | kFin));
  EXPECT_EQ(c.take_releasable().size(), 1u);
  Frame fin = in({.seq = k.c_isn + 1, .ack = k.p_isn + 7, .flags = kAck | kFin});
  c.to_secondary(fin.data(), fin.size());
  k.acked = 1;
  secondary(c, k.s(7, "", kAck));
  primary(c, k.p(7, "", kAck));
  EXPECT_TRUE(c.work_pending());
  EXPECT_EQ(c.take_releasable().size(), 1u);
  EXPECT_TRUE(c.work_pending());  // the secondary's mapping goes
  EXPECT_EQ(c.take_mapping_updates().size(), 1u);
  EXPECT_FALSE(c.work_pending());
  // A mismatch stays pending until the resync.
  primary(c, udp_out(1, 2, "a"));
  secondary(c, udp_out(1, 2, "b"));
  EXPECT_TRUE(c.work_pending());
  c.take_releasable();
  EXPECT_TRUE(c.work_pending());
  c.resynced();
  EXPECT_FALSE(c.work_pending());
}

TEST(Comparator, OldestUnmatchedAtIsWhenTheFirstUnmatchedFrameCame) {
  Comparator c;
  EXPECT_FALSE(c.oldest_unmatched_at());
  primary(c, udp_out(1, 2, "a"), t0);
  primary(c, udp_out(3, 4, "b"), t0 + milliseconds(5));
  EXPECT_EQ(c.oldest_unmatched_at(), t0);
  secondary(c, udp_out(1, 2, "a"));
  EXPECT_EQ(c.oldest_unmatched_at(), t0 + milliseconds(5));
  secondary(c, udp_out(3, 4, "b"));
  EXPECT_FALSE(c.oldest_unmatched_at());
}

}  // namespace
}  // namespace tandem::ft
