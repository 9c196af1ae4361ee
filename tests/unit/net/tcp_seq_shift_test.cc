#include "net/tcp_seq_shift.h"

#include <gtest/gtest.h>

#include "frames.h"

namespace tandem::net {
namespace {

using test::Frame;
using test::kGuestMac;

constexpr test::Mac kSlirpMac = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
constexpr uint32_t kGuest = 0x0a00020f, kHost = 0x0a000202;

Frame from_stack(uint32_t seq, uint32_t ack, uint8_t flags, std::string data = "") {
  return test::tcp_frame(kGuestMac, kSlirpMac, {kHost, kGuest, 40000, 80, seq, ack, flags, std::move(data)});
}
Frame from_guest(uint32_t seq, uint32_t ack, uint8_t flags, std::string data = "") {
  return test::tcp_frame(kSlirpMac, kGuestMac, {kGuest, kHost, 80, 40000, seq, ack, flags, std::move(data)});
}

// Recomputes the TCP checksum over the pseudo header: 0 when it is right.
uint16_t tcp_checksum_residue(const Frame& f) {
  auto ip = test::parse_ipv4(f);
  uint32_t sum = (ip->src >> 16) + (ip->src & 0xffff) + (ip->dst >> 16) + (ip->dst & 0xffff) + 6 +
                 uint32_t(ip->l4_len);
  return test::inet_checksum(f, ip->l4, ip->l4_len, sum);
}

TEST(TcpSeqShift, FindsTcpInIpv4AndIpv6Only) {
  Frame f = from_stack(1, 2, test::kTcpAck, "abc");
  TcpLocation at;
  ASSERT_TRUE(find_tcp(f.data(), f.size(), &at));
  EXPECT_EQ(at.tcp, 34u);
  EXPECT_EQ(at.payload_len, 3u);
  EXPECT_FALSE(find_tcp(f.data(), 40, &at));  // cut inside the TCP header

  Frame frag = f;
  test::put16(frag, 14 + 6, 0x0001);  // fragment offset 8: no TCP header here
  EXPECT_FALSE(find_tcp(frag.data(), frag.size(), &at));

  Frame arp = test::arp(1, test::kBroadcastMac, kGuestMac, kGuest, {}, kHost);
  EXPECT_FALSE(find_tcp(arp.data(), arp.size(), &at));

  // IPv6: 40-byte header, next header 6, then a 20-byte TCP header + 2 bytes.
  Frame v6 = test::ethernet(kGuestMac, kSlirpMac, test::kEtherIpv6, 40 + 22);
  v6[14] = 0x60;
  test::put16(v6, 14 + 4, 22);
  v6[14 + 6] = 6;
  v6[14 + 40 + 12] = 5 << 4;
  ASSERT_TRUE(find_tcp(v6.data(), v6.size(), &at));
  EXPECT_EQ(at.tcp, 54u);
  EXPECT_EQ(at.payload_len, 2u);
  v6[14 + 6] = 17;  // UDP
  EXPECT_FALSE(find_tcp(v6.data(), v6.size(), &at));
}

TEST(TcpSeqShift, WithoutARestoreFramesPassUnchangedAndTheHighMarkMoves) {
  TcpSeqShift shift;
  Frame syn = from_stack(1000, 0, test::kTcpSyn);
  Frame copy = syn;
  shift.to_guest(syn.data(), syn.size());
  EXPECT_EQ(syn, copy);
  EXPECT_EQ(shift.save().high, 1001u);  // a SYN takes one number
  Frame data = from_stack(1001, 5, test::kTcpAck | test::kTcpPsh, "hello");
  shift.to_guest(data.data(), data.size());
  EXPECT_EQ(shift.save().high, 1006u);
  Frame old = from_stack(900, 5, test::kTcpAck);  // a retransmission: no move back
  shift.to_guest(old.data(), old.size());
  EXPECT_EQ(shift.save().high, 1006u);
  Frame ack = from_guest(7, 1006, test::kTcpAck);
  copy = ack;
  EXPECT_FALSE(shift.from_guest(ack.data(), ack.size()));
  EXPECT_EQ(ack, copy);
}

TEST(TcpSeqShift, HighMarkFollowsSerialArithmeticAcrossTheWrap) {
  TcpSeqShift shift;
  Frame a = from_stack(0xfffffff0u, 0, test::kTcpAck, std::string(8, 'x'));
  shift.to_guest(a.data(), a.size());
  Frame b = from_stack(0xfffffff8u, 0, test::kTcpAck, std::string(32, 'y'));
  shift.to_guest(b.data(), b.size());
  EXPECT_EQ(shift.save().high, 0x18u);  // past the wrap, still "after"
}

TEST(TcpSeqShift, AfterResumeSequenceNumbersStartPastTheOldHighAndChecksumsHold) {
  TcpSeqShift old;
  Frame last = from_stack(5'000'000, 1, test::kTcpAck | test::kTcpFin, "bye");
  old.to_guest(last.data(), last.size());
  TcpSeqShift::State saved = old.save();
  EXPECT_EQ(saved.high, 5'000'004u);

  TcpSeqShift fresh;
  fresh.resume(saved);
  ASSERT_TRUE(fresh.shifting());
  Frame syn = from_stack(64'001, 0, test::kTcpSyn);  // a fresh stack's small ISN
  fresh.to_guest(syn.data(), syn.size());
  auto seg = *test::parse_tcp(syn);
  EXPECT_GT(int32_t(seg.seq - saved.high), 0) << "the guest would refuse this SYN in TIME_WAIT";
  EXPECT_EQ(tcp_checksum_residue(syn), 0);

  // The guest acknowledges in its own (shifted) numbers; the stack gets its own back.
  Frame synack = from_guest(777, seg.seq + 1, test::kTcpSyn | test::kTcpAck);
  EXPECT_TRUE(fresh.from_guest(synack.data(), synack.size()));
  EXPECT_EQ(test::parse_tcp(synack)->ack, 64'002u);
  EXPECT_EQ(test::parse_tcp(synack)->seq, 777u);  // the guest's own numbers untouched
  EXPECT_EQ(tcp_checksum_residue(synack), 0);

  // A SYN without ACK from the guest (it connects out) has no ack to shift.
  Frame guest_syn = from_guest(5, 0, test::kTcpSyn);
  Frame copy = guest_syn;
  EXPECT_FALSE(fresh.from_guest(guest_syn.data(), guest_syn.size()));
  EXPECT_EQ(guest_syn, copy);

  // A second restore shifts past the new high mark again.
  TcpSeqShift third;
  third.resume(fresh.save());
  Frame syn3 = from_stack(10, 0, test::kTcpSyn);
  third.to_guest(syn3.data(), syn3.size());
  EXPECT_GT(int32_t(test::parse_tcp(syn3)->seq - fresh.save().high), 0);
}

TEST(TcpSeqShift, ResumeBeforeAnyTcpKeepsFramesUnchanged) {
  TcpSeqShift fresh;
  fresh.resume(TcpSeqShift::State{});
  EXPECT_FALSE(fresh.shifting());
}

}  // namespace
}  // namespace tandem::net
