// The payloads of fault tolerance's messages: round trips, and the errors
// a malformed or hostile one gets.
#include "ft/ft_protocol.h"

#include <gtest/gtest.h>

namespace tandem::ft {
namespace {

TEST(FtProtocol, DirtyRoundTripsPagesAndDriveChunks) {
  const std::vector<uint32_t> pages = {1, 5, 9};
  const std::vector<replication::DriveChunks> drives = {{0, {0, 7}}, {2, {3}}};
  const std::vector<uint64_t> counts = {8, 0, 4};
  auto d = decode_dirty(encode_dirty(pages, drives), 16, counts);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->pages, pages);
  ASSERT_EQ(d->drives.size(), 2u);
  EXPECT_EQ(d->drives[0].drive, 0u);
  EXPECT_EQ(d->drives[0].chunks, (std::vector<uint64_t>{0, 7}));
  EXPECT_EQ(d->drives[1].drive, 2u);
  EXPECT_EQ(d->drives[1].chunks, (std::vector<uint64_t>{3}));
}

TEST(FtProtocol, DirtyWithoutDrives) {
  auto d = decode_dirty(encode_dirty(std::vector<uint32_t>{2}), 4, {});
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->pages, std::vector<uint32_t>{2});
  EXPECT_TRUE(d->drives.empty());
}

std::string dirty_error(const std::vector<uint32_t>& pages, const std::vector<replication::DriveChunks>& drives,
                        std::vector<uint64_t> counts) {
  auto d = decode_dirty(encode_dirty(pages, drives), 16, counts);
  return d.ok() ? "" : d.error().message();
}

TEST(FtProtocol, DirtyRefusesWhatIsNotThere) {
  EXPECT_NE(dirty_error({16}, {}, {}).find("outside RAM"), std::string::npos);
  EXPECT_NE(dirty_error({3, 3}, {}, {}).find("not ascending"), std::string::npos);
  EXPECT_NE(dirty_error({}, {{1, {0}}}, {8, 0}).find("drive 1 is not a writable drive"), std::string::npos);
  EXPECT_NE(dirty_error({}, {{5, {0}}}, {8}).find("drive 5 is not a writable drive"), std::string::npos);
  EXPECT_NE(dirty_error({}, {{0, {8}}}, {8}).find("outside drive 0"), std::string::npos);
  EXPECT_NE(dirty_error({}, {{0, {2, 1}}}, {8}).find("not ascending"), std::string::npos);
}

TEST(FtProtocol, DirtyTruncatedAnywhereIsAnError) {
  std::vector<uint8_t> full = encode_dirty(std::vector<uint32_t>{1, 2}, std::vector<replication::DriveChunks>{{0, {1, 2}}});
  for (size_t n = 0; n < full.size(); n++) {
    auto d = decode_dirty(std::span(full).first(n), 16, std::vector<uint64_t>{8});
    EXPECT_FALSE(d.ok()) << "accepted " << n << " of " << full.size() << " bytes";
  }
  full.push_back(0);
  EXPECT_FALSE(decode_dirty(full, 16, std::vector<uint64_t>{8}).ok()) << "accepted a trailing byte";
}

}  // namespace
}  // namespace tandem::ft
