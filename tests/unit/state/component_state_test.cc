// Every component state through the codec: encode, decode, equal; every
// truncation refused with the decoder's output untouched; a future
// version refused; and guards that fail when a State struct grows a field
// its serializer does not know.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "cpu/hart.h"
#include "mem/phys_bus.h"
#include "state/cpu_state.h"
#include "state/dev_state.h"
#include "test_util.h"

namespace tandem::state {
namespace {

using testing::sample_clint;
using testing::sample_hart;
using testing::sample_plic;
using testing::sample_rtc;
using testing::sample_transport;
using testing::sample_uart;

// Number of members of an aggregate (brace-initialisable from that many
// values of anything). Used only in unevaluated contexts.
struct AnyField {
  template <typename T>
  operator T() const;
};
template <typename T, typename... A>
constexpr size_t field_count() {
  if constexpr (requires { T{A{}..., AnyField{}}; }) {
    return field_count<T, A..., AnyField>();
  } else {
    return sizeof...(A);
  }
}

template <typename T>
std::vector<uint8_t> encoded(const T& s) {
  Encoder e;
  encode(e, s);
  return e.take();
}

// Round trip, then every strict prefix must fail and leave the output as
// it was, then a version from the future must fail naming the field.
template <typename T>
void check_codec(const T& state, const std::string& scope, uint32_t current = 1) {
  SCOPED_TRACE(scope);
  std::vector<uint8_t> bytes = encoded(state);
  {
    T out{};
    Decoder d(bytes);
    ASSERT_TRUE(decode(d, &out).ok()) << d.status().error().message();
    EXPECT_TRUE(d.finish().ok());
    EXPECT_TRUE(out == state);
  }
  for (size_t n = 0; n < bytes.size(); n++) {
    T out{};
    Decoder d(bytes.data(), n);
    Status st = decode(d, &out);
    ASSERT_FALSE(st.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(st.error().message().rfind(scope + ".", 0), 0u) << st.error().message();
    EXPECT_NE(st.error().message().find("truncated"), std::string::npos);
    EXPECT_TRUE(out == T{}) << "a failed decode changed its output";
  }
  std::vector<uint8_t> future = bytes;
  future[0] = 0x7f;  // version 127
  T out{};
  Decoder d(future);
  Status st = decode(d, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            scope + ".version: 127 is not supported (this build reads up to " + std::to_string(current) + ")");
}

TEST(ComponentState, Hart) { check_codec(sample_hart(), "hart"); }
TEST(ComponentState, Clint) { check_codec(sample_clint(), "clint"); }
TEST(ComponentState, Plic) { check_codec(sample_plic(), "plic"); }
TEST(ComponentState, Uart) { check_codec(sample_uart(), "uart"); }
TEST(ComponentState, Rtc) { check_codec(sample_rtc(), "rtc"); }
TEST(ComponentState, Finisher) { check_codec(dev::TestFinisher::State{}, "finisher"); }
TEST(ComponentState, VirtioMmio) {
  check_codec(sample_transport(dev::kVirtioIdNet, 2), "virtio-mmio", kVirtioMmioStateVersion);
  check_codec(dev::VirtioMmio::State{}, "virtio-mmio", kVirtioMmioStateVersion);
}

// Files written before the per-slice work budget (version 1) have no
// queue.deferred: they read as nothing deferred.
TEST(ComponentState, VirtioMmioVersion1ReadsAsNothingDeferred) {
  dev::VirtioMmio::State want = sample_transport(dev::kVirtioIdBlock, 1);
  want.queues[0].deferred = false;
  Encoder e;
  e.u32(1);
  for (uint32_t v : {want.device_id, want.status, want.device_features_sel, want.driver_features_sel}) e.u32(v);
  e.u64(want.driver_features);
  for (uint32_t v : {want.queue_sel, want.interrupt_status, want.config_generation, 1u}) e.u32(v);
  const dev::VirtQueue::State& q = want.queues[0];
  e.u32(q.num);
  e.u32(q.ready);
  e.u64(q.desc);
  e.u64(q.driver);
  e.u64(q.device);
  e.u16(q.last_avail_idx);
  e.u16(q.used_idx);
  std::vector<uint8_t> bytes = e.take();
  dev::VirtioMmio::State got;
  Decoder d(bytes);
  ASSERT_TRUE(decode(d, &got).ok()) << d.status().error().message();
  EXPECT_TRUE(d.finish().ok());
  EXPECT_TRUE(got == want);
}
TEST(ComponentState, VirtioBlk) { check_codec(dev::VirtioBlk::State{1 << 20, 1}, "virtio-blk"); }
TEST(ComponentState, VirtioNet) {
  dev::VirtioNet::State s;
  s.mac = {2, 0, 0, 0xaa, 0xbb, 0xcc};
  s.status = dev::kVirtioNetSLinkUp;
  check_codec(s, "virtio-net");
}
TEST(ComponentState, VirtioRng) { check_codec(dev::VirtioRng::State{}, "virtio-rng"); }
TEST(ComponentState, Nic) {
  net::NicState s;
  s.rx_frames = {{1, 2, 3}, std::vector<uint8_t>(60, 0xab)};
  s.backend.kind = net::BackendState::Kind::kUser;
  s.backend.frames = {{9, 8, 7, 6}};
  s.backend.tcp = {0x1000, 0xfffffff0u, true};
  s.backend.slirp_version = 4;
  s.backend.slirp = {0, 1, 2, 3, 4};
  s.backend.arp = {10, 0, 2, 15, 0x52, 0x54, 0, 0x12, 0x34, 0x56};
  s.backend.timer_ids = {0};
  s.backend.timer_left_ms = {250'000};
  check_codec(s, "nic");
  net::NicState tap;
  tap.backend.kind = net::BackendState::Kind::kTap;
  check_codec(tap, "nic");
}

TEST(ComponentState, NicKindOutOfRangeIsRefused) {
  net::NicState s;
  s.backend.kind = static_cast<net::BackendState::Kind>(7);
  std::vector<uint8_t> bytes = encoded(s);
  net::NicState out;
  Decoder d(bytes);
  Status st = decode(d, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "nic.kind: 7 is neither user (0) nor tap (1)");
}

TEST(ComponentState, EncodingIsStable) {
  // The bytes of a section are the format: pin one small one down.
  EXPECT_EQ(encoded(sample_rtc()).size(), 4u + 8 + 4 + 8 + 4 + 4 + 4);
  std::vector<uint8_t> blk = encoded(dev::VirtioBlk::State{0x0102, 1});
  EXPECT_EQ(blk, (std::vector<uint8_t>{1, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(ComponentState, HartEveryByteSurvives) {
  // HartState is all u64: random bytes everywhere catch a member the
  // field list forgot (it would come back zero).
  std::mt19937_64 rng(7);
  for (int round = 0; round < 4; round++) {
    cpu::HartState s;
    static_assert(sizeof(s) % 8 == 0);
    for (size_t i = 0; i < sizeof(s); i += 8) {
      uint64_t v = rng();
      std::memcpy(reinterpret_cast<uint8_t*>(&s) + i, &v, 8);
    }
    cpu::HartState out{};
    std::vector<uint8_t> bytes = encoded(s);
    Decoder d(bytes);
    ASSERT_TRUE(decode(d, &out).ok());
    EXPECT_EQ(std::memcmp(&s, &out, sizeof s), 0)
        << "a HartState member is missing from state/cpu_state.cc";
  }
}

template <typename T>
void check_fields(const char* name) {
  EXPECT_EQ(listed_fields(T{}), field_count<T>())
      << name << " and its field list in state/dev_state.cc differ: add the member to the "
      << "list and bump the section's version";
}

TEST(ComponentState, NicSerializerKnowsEveryField) {
  // nic_fields in state/dev_state.cc lists these members one by one.
  EXPECT_EQ(field_count<net::NicState>(), 2u);
  EXPECT_EQ(field_count<net::BackendState>(), 8u);
  EXPECT_EQ(field_count<net::TcpSeqShift::State>(), 3u);
}

TEST(ComponentState, SerializersKnowEveryField) {
  check_fields<dev::Clint::State>("Clint::State");
  check_fields<dev::Plic::State>("Plic::State");
  check_fields<dev::Uart16550::State>("Uart16550::State");
  check_fields<dev::GoldfishRtc::State>("GoldfishRtc::State");
  check_fields<dev::TestFinisher::State>("TestFinisher::State");
  check_fields<dev::VirtioMmio::State>("VirtioMmio::State");
  check_fields<dev::VirtQueue::State>("VirtQueue::State");
  check_fields<dev::VirtioBlk::State>("VirtioBlk::State");
  check_fields<dev::VirtioNet::State>("VirtioNet::State");
  check_fields<dev::VirtioRng::State>("VirtioRng::State");
  // The member counter itself, on structs of known shape.
  struct Three {
    uint8_t a;
    std::vector<uint32_t> b;
    std::array<uint32_t, 3> c;
  };
  EXPECT_EQ(field_count<Three>(), 3u);
  EXPECT_EQ(field_count<dev::Plic::State>(), 5u);
  // HartState is covered byte by byte (HartEveryByteSurvives); its size
  // is pinned so that a member other than u64 gets noticed too.
  EXPECT_EQ(sizeof(cpu::HartState), (32 + 32 + 27 + 8 + 64 + 3) * 8u);
}

TEST(ComponentState, CorruptFieldIsNamed) {
  std::vector<uint8_t> bytes = encoded(sample_uart());
  bytes[4 + 9] = 2;  // thr_interrupt, after version and nine u8 registers
  dev::Uart16550::State out;
  Decoder d(bytes);
  Status st = decode(d, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "uart.thr_interrupt: is 2, not a boolean");
}

// --- the real components: save, encode, decode, restore elsewhere, save ---

struct FixedClock : Clock {
  uint64_t t = 1000;
  uint64_t now() const override { return t; }
};

template <typename T>
T through_codec(const T& s) {
  std::vector<uint8_t> bytes = encoded(s);
  Decoder d(bytes);
  T out{};
  EXPECT_TRUE(decode(d, &out).ok());
  EXPECT_TRUE(d.finish().ok());
  return out;
}

TEST(ComponentState, LiveHartRoundTrip) {
  auto ram = mem::GuestMemory::create(0x80000000, 1 << 20);
  ASSERT_TRUE(ram.ok());
  mem::PhysBus bus(**ram);
  FixedClock clock;
  // On the heap: a Hart carries its TLBs and block caches inline.
  auto a = std::make_unique<cpu::Hart>(bus, clock, 0);
  ASSERT_TRUE(a->restore(sample_hart()).ok());
  cpu::HartState saved = a->save();
  auto b = std::make_unique<cpu::Hart>(bus, clock, 0);
  ASSERT_TRUE(b->restore(through_codec(saved)).ok());
  EXPECT_TRUE(b->save() == saved);
  EXPECT_EQ(b->pc(), sample_hart().pc);
}

TEST(ComponentState, LiveDevicesRoundTrip) {
  FixedClock clock;
  {
    dev::Clint a(clock, 2), b(clock, 2);
    ASSERT_TRUE(a.restore(sample_clint()).ok());
    ASSERT_TRUE(b.restore(through_codec(a.save())).ok());
    EXPECT_TRUE(b.save() == a.save());
  }
  {
    dev::Plic a(1), b(1);
    ASSERT_TRUE(a.restore(sample_plic()).ok());
    ASSERT_TRUE(b.restore(through_codec(a.save())).ok());
    EXPECT_TRUE(b.save() == a.save());
  }
  {
    dev::Uart16550 a(nullptr, IrqLine()), b(nullptr, IrqLine());
    ASSERT_TRUE(a.restore(sample_uart()).ok());
    ASSERT_TRUE(b.restore(through_codec(a.save())).ok());
    EXPECT_TRUE(b.save() == a.save());
    uint64_t v = 0;
    ASSERT_TRUE(b.load(dev::kUartRbr, 1, &v));
    EXPECT_EQ(v, 'h') << "the receive FIFO came back in order";
  }
  {
    auto now = [] { return uint64_t{5'000'000'000}; };
    dev::GoldfishRtc a(now, IrqLine()), b(now, IrqLine());
    ASSERT_TRUE(a.restore(sample_rtc()).ok());
    ASSERT_TRUE(b.restore(through_codec(a.save())).ok());
    EXPECT_TRUE(b.save() == a.save());
  }
}

}  // namespace
}  // namespace tandem::state
