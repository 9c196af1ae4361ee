#include "ft/seq_map.h"

#include <gtest/gtest.h>

#include <random>

#include "ft_frames.h"
#include "net/tcp_seq_shift.h"

namespace tandem::ft {
namespace {

using namespace test;

TcpTuple tuple_of(const Frame& f, bool from_guest) {
  TcpTuple t;
  EXPECT_TRUE(tcp_tuple(f.data(), f.size(), from_guest, &t));
  return t;
}

TEST(SeqMap, TupleIsReadFromTheGuestsSideAndNamed) {
  TcpTuple o = tuple_of(out({}), true);
  TcpTuple i = tuple_of(in({}), false);
  EXPECT_EQ(o, i);
  EXPECT_EQ(describe(o), "10.0.2.15:80 -> 10.0.2.2:41234");
  Seg s6;
  s6.v6 = true;
  EXPECT_EQ(describe(tuple_of(out(s6), true)), "[fd00::15]:80 -> [fd00::2]:41234");
}

TEST(SeqMap, MappingEncodesAndDecodesBothFamilies) {
  for (bool v6 : {false, true}) {
    Seg s;
    s.v6 = v6;
    FlowMapping m{tuple_of(out(s), true), 0x80000001u, 0xfffffff0u};
    std::vector<uint8_t> bytes = encode(m);
    EXPECT_EQ(bytes.size(), v6 ? 45u : 21u);
    auto back = decode_flow_mapping(bytes.data(), bytes.size());
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, m);
  }
}

TEST(SeqMap, MalformedMappingsAreRefusedWithAReason) {
  EXPECT_EQ(decode_flow_mapping(nullptr, 0).error().message(), "flow mapping: empty");
  std::vector<uint8_t> bad = {5, 1, 2, 3};
  EXPECT_EQ(decode_flow_mapping(bad.data(), bad.size()).error().message(),
            "flow mapping: address family 5, want 4 or 6");
  std::vector<uint8_t> good = encode(FlowMapping{tuple_of(out({}), true), 7, 9});
  for (size_t n = 1; n < good.size(); n++) {
    auto r = decode_flow_mapping(good.data(), n);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(), "flow mapping: " + std::to_string(n) + " bytes, want 21 for IPv4");
  }
  good.push_back(0);
  EXPECT_FALSE(decode_flow_mapping(good.data(), good.size()).ok());
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; i++) {  // never crashes; accepts only the two lengths
    std::vector<uint8_t> junk(rng() % 60);
    for (auto& b : junk) b = uint8_t(rng());
    if (!junk.empty() && rng() % 2) junk[0] = rng() % 2 ? 4 : 6;
    auto r = decode_flow_mapping(junk.data(), junk.size());
    if (r.ok()) {
      EXPECT_TRUE(junk.size() == 21 || junk.size() == 45);
    }
  }
}

TEST(SeqMap, InboundMapsAckSackAndTsecrWithValidChecksums) {
  for (bool v6 : {false, true}) {
    for (bool odd : {false, true}) {
      SCOPED_TRACE(std::string(v6 ? "IPv6" : "IPv4") + (odd ? ", odd options" : ""));
      Seg s{.seq = 5000, .ack = 1001, .flags = kAck, .data = "GET /",
            .ts = std::pair{777u, 123456u}, .sack = {{1500, 1600}, {0xfffffff0u, 20}},
            .v6 = v6, .odd_options = odd};
      Frame f = in(s);
      ASSERT_TRUE(tcp_checksum_ok(f));
      SeqMap map;
      map.set({tuple_of(f, false), 0x10000000u, 40});
      ASSERT_TRUE(map.inbound(f.data(), f.size()));
      EXPECT_TRUE(tcp_checksum_ok(f));
      EXPECT_EQ(seq_of(f), 5000u);  // the client's own numbers stay
      EXPECT_EQ(ack_of(f), 0x10000000u + 1001);
      size_t ts = option_at(f, 8);
      ASSERT_NE(ts, 0u);
      EXPECT_EQ(ts % 2 == 0, !odd);  // the frame puts options at odd offsets when asked
      EXPECT_EQ(get32(f, ts + 2), 777u);         // TSval: the client's
      EXPECT_EQ(get32(f, ts + 6), 123456u + 40);  // TSecr: the secondary's clock
      size_t sack = option_at(f, 5);
      ASSERT_NE(sack, 0u);
      EXPECT_EQ(get32(f, sack + 2), 0x10000000u + 1500);
      EXPECT_EQ(get32(f, sack + 6), 0x10000000u + 1600);
      EXPECT_EQ(get32(f, sack + 10), 0x10000000u + 0xfffffff0u);
      EXPECT_EQ(get32(f, sack + 14), 0x10000000u + 20);
    }
  }
}

TEST(SeqMap, OutboundMapsSeqAndTsvalBack) {
  for (bool odd : {false, true}) {
    Seg s{.seq = 0x10000000u + 1001, .ack = 5005, .flags = kAck | kPsh, .data = "HTTP/1.1 200",
          .ts = std::pair{123456u + 40, 777u}, .odd_options = odd};
    Frame f = out(s);
    SeqMap map;
    map.set({tuple_of(f, true), 0x10000000u, 40});
    ASSERT_TRUE(map.outbound(f.data(), f.size()));
    EXPECT_TRUE(tcp_checksum_ok(f));
    EXPECT_EQ(seq_of(f), 1001u);
    EXPECT_EQ(ack_of(f), 5005u);  // already in the client's space
    size_t ts = option_at(f, 8);
    EXPECT_EQ(get32(f, ts + 2), 123456u);
    EXPECT_EQ(get32(f, ts + 6), 777u);
  }
}

TEST(SeqMap, UnmappedUnparseableAndNonAckFramesPassUnchanged) {
  SeqMap map;
  Frame f = in({.seq = 1, .ack = 2, .data = "x"});
  map.set({tuple_of(f, false), 100, 0});
  Frame other = in({.seq = 1, .ack = 2, .data = "x", .guest_port = 81});
  Frame copy = other;
  EXPECT_FALSE(map.inbound(other.data(), other.size()));
  EXPECT_EQ(other, copy);
  Frame cut(f.begin(), f.begin() + 40);  // inside the TCP header
  copy = cut;
  EXPECT_FALSE(map.inbound(cut.data(), cut.size()));
  EXPECT_EQ(cut, copy);
  Frame syn = in({.seq = 1, .ack = 0, .flags = kSyn});
  map.inbound(syn.data(), syn.size());
  EXPECT_EQ(ack_of(syn), 0u);  // no ACK flag: the field means nothing
  // Both offsets 0: nothing to map, the entry goes.
  map.set({tuple_of(f, false), 0, 0});
  EXPECT_EQ(map.size(), 0u);
}

TEST(SeqMap, SeqShiftKeepsWorkingOnTheSharedHelpers) {
  // net::TcpSeqShift patches with the same rewrite: its frames must still
  // check out from scratch.
  net::TcpSeqShift shift;
  shift.resume({0, 0xfffffff0u, true});
  Frame f = in({.seq = 100, .ack = 5, .data = "abc"});
  shift.to_guest(f.data(), f.size());
  EXPECT_EQ(seq_of(f), 100u + 0xfffffff1u);
  EXPECT_TRUE(tcp_checksum_ok(f));
}

}  // namespace
}  // namespace tandem::ft
