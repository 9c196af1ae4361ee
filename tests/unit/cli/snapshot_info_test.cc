// tandem snapshot info: the report of a good file, --check finding a
// damaged memory block, and files refused or missing, each with qemu-img
// check's verdict.
#include "cli/snapshot_info.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "../state/test_util.h"
#include "state/snapshot_file.h"

namespace tandem::cli {
namespace {

using state::testing::read_bytes;
using state::testing::TempDir;
using state::testing::write_bytes;

class SnapshotInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ram = mem::GuestMemory::create(0x80000000, 4 << 20);
    ASSERT_TRUE(ram.ok());
    for (uint32_t p = 0; p < 200; p++) std::memset((*ram)->page_host(p), static_cast<int>(p + 1), mem::kPageSize);
    state::Snapshot s = state::testing::sample_snapshot();
    s.active_pages = {5, 3, 150};
    s.code_blocks = {0x80000000, 0x80001000};
    s.code_traced = 1;
    ASSERT_TRUE(state::write_snapshot(path_, s, **ram).ok());
  }
  TempDir dir_;
  std::string path_ = dir_.file("vm.snap");
};

TEST_F(SnapshotInfoTest, ReportsWhatTheFileHolds) {
  SnapshotInfo info = inspect_snapshot(path_, false);
  const auto& j = info.report;
  ASSERT_FALSE(j.contains("error")) << j.dump();
  EXPECT_EQ(info.verdict, 0);
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["ram"]["bytes"], 4u << 20);
  EXPECT_EQ(j["ram"]["pages"], 1024);
  EXPECT_EQ(j["machine"]["harts"], 1);
  ASSERT_EQ(j["machine"]["virtio"].size(), 3u);
  EXPECT_EQ(j["machine"]["virtio"][1]["device"], "virtio-net");
  EXPECT_EQ(j["memory"]["pages_stored"], 200);
  EXPECT_EQ(j["memory"]["pages_zero"], 1024 - 200);
  EXPECT_EQ(j["memory"]["codecs"]["lz4"]["pages"].get<uint64_t>() +
                (j["memory"]["codecs"].contains("raw") ? j["memory"]["codecs"]["raw"]["pages"].get<uint64_t>() : 0),
            200u);
  EXPECT_EQ(j["working_set"]["active_pages"], 3);
  EXPECT_EQ(j["working_set"]["code_blocks"], 2);
  EXPECT_EQ(j["working_set"]["code_blocks_traced"], 1);
  EXPECT_EQ(j["config"][0]["key"], "ram_size");
  EXPECT_EQ(j["sections"][0]["name"], "config");
  EXPECT_FALSE(j.contains("check"));
  uint64_t section_bytes = 0;
  for (const auto& e : j["sections"]) section_bytes += e["bytes"].get<uint64_t>();
  EXPECT_LT(section_bytes, j["file_bytes"].get<uint64_t>());
  // The drive of sample_snapshot() is named "drive0", not "drive": no drives.
  EXPECT_TRUE(j["drives"].empty());
  std::string text = format_snapshot_info(j);
  for (const char* part : {"format version: 1", "RAM:            4 MiB at 0x80000000 (1024 pages)", "lz4:",
                           "working set:    3 active pages", "  hart0:", "drives:         none"})
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
}

TEST_F(SnapshotInfoTest, CheckReadsEveryBlock) {
  SnapshotInfo info = inspect_snapshot(path_, true);
  EXPECT_EQ(info.verdict, 0);
  EXPECT_EQ(info.report["check"]["intact"], true);
  EXPECT_GT(info.report["check"]["blocks_checked"].get<uint64_t>(), 1u);
  EXPECT_NE(format_snapshot_info(info.report).find("No errors were found"), std::string::npos);

  // A byte of the second memory block: the file still opens (blocks are
  // checked as they are read), info says nothing, --check names it.
  auto good = read_bytes(path_);
  auto first = state::SnapshotReader::open(path_);
  ASSERT_TRUE(first.ok());
  auto bad = good;
  bad[128 + (*first)->block_entry(0).stored_size + 7] ^= 0x40;
  write_bytes(path_, bad);
  EXPECT_EQ(inspect_snapshot(path_, false).verdict, 0);
  info = inspect_snapshot(path_, true);
  EXPECT_EQ(info.verdict, 2);
  EXPECT_EQ(info.report["check"]["blocks_damaged"], 1);
  ASSERT_EQ(info.report["check"]["errors"].size(), 1u);
  EXPECT_NE(info.report["check"]["errors"][0].get<std::string>().find("memory block 1: checksum mismatch"),
            std::string::npos);
  EXPECT_NE(format_snapshot_info(info.report).find("the snapshot is damaged"), std::string::npos);
}

TEST_F(SnapshotInfoTest, RefusedAndMissingFilesSayWhy) {
  auto good = read_bytes(path_);
  auto bad = good;
  bad[bad.size() - 10] ^= 1;  // the memory index
  write_bytes(path_, bad);
  SnapshotInfo info = inspect_snapshot(path_, true);
  EXPECT_EQ(info.verdict, 2);
  EXPECT_NE(info.report["error"].get<std::string>().find("memory index: checksum mismatch"), std::string::npos);
  EXPECT_EQ(info.report["check"]["intact"], false);

  write_bytes(path_, good, 100);
  EXPECT_NE(inspect_snapshot(path_, false).report["error"].get<std::string>().find("header: truncated"),
            std::string::npos);

  info = inspect_snapshot(dir_.file("missing.snap"), true);
  EXPECT_EQ(info.verdict, 1) << "not read: qemu-img check's 1";
  EXPECT_NE(info.report["error"].get<std::string>().find("No such file"), std::string::npos);
  EXPECT_EQ(inspect_snapshot(dir_.path(), true).verdict, 1) << "a directory";
}

}  // namespace
}  // namespace tandem::cli
