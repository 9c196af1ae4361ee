#include "replication/protocol.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "state/snapshot_format.h"

namespace tandem::replication {
namespace {

Result<Message> parse(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < kHeaderSize) return Error("short");
  std::span<const uint8_t, kHeaderSize> h(bytes.data(), kHeaderSize);
  auto len = check_header(h);
  if (!len.ok()) return len.error();
  if (bytes.size() != kHeaderSize + *len) return Error("length");
  return finish_message(h, std::vector<uint8_t>(bytes.begin() + kHeaderSize, bytes.end()));
}

TEST(Protocol, MessageRoundTrip) {
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
  auto bytes = encode_message(MsgType::kAck, 77, payload);
  auto m = parse(bytes);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->type, MsgType::kAck);
  EXPECT_EQ(m->epoch, 77u);
  EXPECT_EQ(m->payload, payload);
}

TEST(Protocol, EveryFlippedByteIsRefusedWithAReason) {
  std::vector<uint8_t> payload(100, 0x5a);
  auto good = encode_message(MsgType::kPages, 3, payload);
  for (size_t i = 0; i < good.size(); i++) {
    auto bad = good;
    bad[i] ^= 0x40;
    auto m = parse(bad);
    if (i >= 16 && i < 20) continue;  // a changed length: the stream reads more or less
    ASSERT_FALSE(m.ok()) << "byte " << i;
    EXPECT_FALSE(m.error().message().empty());
  }
  auto wrong_version = good;
  wrong_version[4] = 9;
  auto m = parse(wrong_version);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("protocol version 9"), std::string::npos) << m.error().message();
}

TEST(Protocol, OversizedPayloadRefusedBeforeReading) {
  auto bytes = encode_message(MsgType::kState, 1, {});
  uint32_t huge = kMaxPayload + 1;
  std::memcpy(&bytes[16], &huge, 4);
  std::span<const uint8_t, kHeaderSize> h(bytes.data(), kHeaderSize);
  auto len = check_header(h);
  ASSERT_FALSE(len.ok());
  EXPECT_NE(len.error().message().find("exceeds"), std::string::npos);
}

TEST(Protocol, PagesRoundTripAndChecks) {
  std::vector<uint8_t> data(3 * mem::kPageSize);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i * 7 / 5);
  state::BlockEncoder enc;
  state::EncodedBlock block;
  enc.encode(data.data(), 3, block);
  std::vector<uint32_t> pages = {9, 2, 40};
  auto payload = encode_pages(pages, block);
  auto p = decode_pages(payload, 64);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->pages, pages);
  std::vector<uint8_t> out;
  ASSERT_TRUE(decode_pages_into(*p, out).ok());
  EXPECT_EQ(out, data);

  auto outside = decode_pages(payload, 40);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message().find("outside RAM"), std::string::npos);
  std::vector<uint32_t> twice = {9, 9, 40};
  auto dup = decode_pages(encode_pages(twice, block), 64);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("twice"), std::string::npos);
  auto damaged = payload;
  damaged.back() ^= 1;
  auto bad = decode_pages(damaged, 64);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("checksum"), std::string::npos);
  auto cut = payload;
  cut.resize(cut.size() - 10);
  EXPECT_FALSE(decode_pages(cut, 64).ok());
}

TEST(Protocol, DiskChunksRoundTripAndChecks) {
  std::vector<uint8_t> data(2 * 4096, 0x3c);
  state::BlockEncoder enc;
  state::EncodedBlock block;
  enc.encode(data.data(), 2, block);
  std::vector<uint64_t> chunks = {7, 1000};
  const std::vector<uint64_t> counts = {0, 2048};  // drive 0 read-only, drive 1 of 8 MiB
  auto payload = encode_disk(1, chunks, block);
  auto d = decode_disk(payload, counts);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->drive, 1u);
  EXPECT_EQ(d->chunks, chunks);
  std::vector<uint8_t> out;
  ASSERT_TRUE(decode_disk_into(*d, out).ok());
  EXPECT_EQ(out, data);
  auto readonly = decode_disk(encode_disk(0, chunks, block), counts);
  ASSERT_FALSE(readonly.ok());
  EXPECT_NE(readonly.error().message().find("not replicated"), std::string::npos);
  std::vector<uint64_t> past = {7, 2048};
  auto beyond = decode_disk(encode_disk(1, past, block), counts);
  ASSERT_FALSE(beyond.ok());
  EXPECT_NE(beyond.error().message().find("past the end"), std::string::npos);
  auto damaged = payload;
  damaged[damaged.size() - 3] ^= 4;
  EXPECT_FALSE(decode_disk(damaged, counts).ok());
}

TEST(Protocol, HelloAndEndRoundTrip) {
  Hello h;
  h.sections_hash = 0x1234;
  h.ram_base = 0x80000000;
  h.ram_size = 64 << 20;
  h.config = {{"ram_size", "67108864"}, {"icount", "1"}};
  h.drive_sizes = {0, 1 << 20};
  h.arbiter_pair = "10.0.0.2:7000";
  h.arbiter_token = "primary@a:1:2#1";
  auto back = decode_hello(encode_hello(h));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->config, h.config);
  EXPECT_EQ(back->drive_sizes, h.drive_sizes);
  EXPECT_EQ(back->arbiter_pair, h.arbiter_pair);
  EXPECT_EQ(back->arbiter_token, h.arbiter_token);
  EXPECT_EQ(back->ram_size, h.ram_size);
  auto cut = encode_hello(h);
  cut.pop_back();
  EXPECT_FALSE(decode_hello(cut).ok());
  End e{100, 4, 1, 33, 2};
  auto eb = decode_end(encode_end(e));
  ASSERT_TRUE(eb.ok());
  EXPECT_EQ(eb->pages, 100u);
  EXPECT_EQ(eb->page_messages, 4u);
  EXPECT_EQ(eb->disk_chunks, 33u);
  EXPECT_EQ(eb->disk_messages, 2u);
}

}  // namespace
}  // namespace tandem::replication
