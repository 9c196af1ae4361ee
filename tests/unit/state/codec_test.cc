#include "state/codec.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace tandem::state {
namespace {

TEST(Codec, IntegersAreLittleEndian) {
  Encoder e;
  e.u8(0x01);
  e.u16(0x0302);
  e.u32(0x07060504);
  e.u64(0x0f0e0d0c0b0a0908);
  std::vector<uint8_t> want;
  for (uint8_t i = 1; i <= 15; i++) want.push_back(i);
  EXPECT_EQ(e.data(), want);

  Decoder d(e.data());
  EXPECT_EQ(d.u8("a"), 0x01);
  EXPECT_EQ(d.u16("b"), 0x0302);
  EXPECT_EQ(d.u32("c"), 0x07060504u);
  EXPECT_EQ(d.u64("d"), 0x0f0e0d0c0b0a0908ull);
  EXPECT_TRUE(d.finish().ok());
}

TEST(Codec, VectorsStringsAndBytesRoundTrip) {
  Encoder e;
  e.vec(std::vector<uint32_t>{1, 2, 0xffffffff});
  e.vec(std::vector<uint8_t>{});
  e.vec(std::array<uint16_t, 2>{7, 8});
  e.str("virtio-blk");
  e.str("");
  e.bytes("\x00\xff", 2);
  e.boolean(true);
  e.boolean(false);

  Decoder d(e.data());
  EXPECT_EQ(d.vec<uint32_t>("v32"), (std::vector<uint32_t>{1, 2, 0xffffffff}));
  EXPECT_TRUE(d.vec<uint8_t>("v8").empty());
  std::array<uint16_t, 2> a{};
  d.array("a16", std::span<uint16_t>(a));
  EXPECT_EQ(a, (std::array<uint16_t, 2>{7, 8}));
  EXPECT_EQ(d.str("s"), "virtio-blk");
  EXPECT_EQ(d.str("empty"), "");
  uint8_t raw[2];
  d.bytes("raw", raw, 2);
  EXPECT_EQ(raw[0], 0x00);
  EXPECT_EQ(raw[1], 0xff);
  EXPECT_TRUE(d.boolean("t"));
  EXPECT_FALSE(d.boolean("f"));
  EXPECT_TRUE(d.finish().ok()) << d.finish().error().message();
}

TEST(Codec, TruncationNamesTheFieldAndSticks) {
  Encoder e;
  e.u32(5);
  e.u8(1);
  Decoder d(e.data());
  Decoder::Scope scope(d, "uart");
  EXPECT_EQ(d.u32("ier"), 5u);
  EXPECT_EQ(d.u16("rx_fifo"), 0) << "a get past the end returns zero";
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.status().error().message(), "uart.rx_fifo: truncated");
  // Later gets fail quietly and keep the first error, even ones that fit.
  EXPECT_EQ(d.u8("lsr"), 0);
  EXPECT_EQ(d.status().error().message(), "uart.rx_fifo: truncated");
}

TEST(Codec, EveryPrefixOfAnEncodingIsRefused) {
  Encoder e;
  e.u64(1);
  e.vec(std::vector<uint64_t>{1, 2, 3});
  e.str("abc");
  for (size_t n = 0; n < e.size(); n++) {
    Decoder d(e.data().data(), n);
    d.u64("a");
    d.vec<uint64_t>("b");
    d.str("c");
    EXPECT_FALSE(d.ok()) << "prefix of " << n << " bytes accepted";
  }
}

TEST(Codec, HugeCountIsRefusedWithoutAllocating) {
  Encoder e;
  e.u32(0xffffffff);  // count of a vector<uint64_t>: 32 GiB
  e.u64(1);
  Decoder d(e.data());
  auto v = d.vec<uint64_t>("plic.threshold");
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(d.status().error().message(), "plic.threshold: truncated");

  Decoder s(e.data());
  EXPECT_EQ(s.str("name"), "");
  EXPECT_FALSE(s.ok());
}

TEST(Codec, FixedArrayCountMustMatch) {
  Encoder e;
  e.vec(std::vector<uint32_t>{1, 2, 3, 4});
  Decoder d(e.data());
  std::array<uint32_t, 3> a{};
  d.array("plic.level", std::span<uint32_t>(a));
  EXPECT_EQ(d.status().error().message(), "plic.level: has 4 entries, expected 3");
}

TEST(Codec, BooleanMustBeZeroOrOne) {
  Encoder e;
  e.u8(2);
  Decoder d(e.data());
  d.boolean("uart.thr_interrupt");
  EXPECT_EQ(d.status().error().message(), "uart.thr_interrupt: is 2, not a boolean");
}

TEST(Codec, VersionIsCheckedAndReturned) {
  for (uint32_t v : {0u, 1u, 2u, 3u}) {
    Encoder e;
    e.u32(v);
    Decoder d(e.data());
    Decoder::Scope scope(d, "rtc");
    uint32_t got = d.version("version", 2);
    if (v == 1 || v == 2) {
      EXPECT_TRUE(d.ok());
      EXPECT_EQ(got, v);
    } else {
      EXPECT_EQ(d.status().error().message(), "rtc.version: " + std::to_string(v) +
                                                  " is not supported (this build reads up to 2)");
    }
  }
}

TEST(Codec, FinishRefusesTrailingBytes) {
  Encoder e;
  e.u32(1);
  e.u8(0);
  Decoder d(e.data());
  d.u32("x");
  EXPECT_TRUE(d.status().ok());
  Status st = d.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("1 unexpected bytes"), std::string::npos);
}

TEST(Codec, ScopesNest) {
  Encoder e;
  Decoder d(e.data());
  {
    Decoder::Scope outer(d, "virtio-mmio");
    { Decoder::Scope inner(d, "queue"); }
    d.u32("status");
  }
  EXPECT_EQ(d.status().error().message(), "virtio-mmio.status: truncated");
}

}  // namespace
}  // namespace tandem::state
