// A restore that records its guest's working set (--record-working-set)
// and the rewrite of the snapshot file with it: the same machine and
// memory, the recorded pages and code first, and no harm done to a file
// that is damaged, replaced meanwhile or being recorded by another restore.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "bare_machine.h"
#include "state/restore.h"
#include "state/snapshot_file.h"
#include "state/working_set_record.h"

namespace tandem::state {
namespace {

using testing::config;
using testing::damage_block;
using testing::memory_of;
using testing::read_file;
using testing::save_traced;
using testing::temp_path;

constexpr uint64_t kRecorded = 100'000;  // instructions the restored guest runs while recorded

bool starts_with(const auto& list, const auto& prefix) {
  return list.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), list.begin());
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

TEST(WorkingSetRecord, RestoreRecordsWhatTheGuestTouchesFirstAndPutsItFirstInTheFile) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  m.hart(0).run(200'000);
  const std::string path = temp_path("record.snap");
  const Snapshot saved = save_traced(m, 50'000, path);
  const std::vector<uint8_t> saved_memory = memory_of(m);

  // What the restored guest touches first, traced by hand on a restore of
  // the same file (--icount: every restore runs the same instructions).
  std::vector<uint32_t> want_pages;
  std::vector<uint64_t> want_code;
  {
    auto r = Restore::open(path, RestoreMode::kLazy, nullptr);
    ASSERT_TRUE(r.ok()) << r.error().message();
    board::Machine& g = (*r)->machine();
    ASSERT_TRUE((*r)->start().ok());
    g.ram().start_trace();
    g.hart(0).start_block_log();
    g.hart(0).run(kRecorded);
    want_pages = g.ram().stop_trace();
    want_code = g.hart(0).take_block_log();
  }
  ASSERT_FALSE(want_pages.empty());
  ASSERT_FALSE(want_code.empty());

  {
    auto r = Restore::open(path, RestoreMode::kLazy, nullptr);
    ASSERT_TRUE(r.ok()) << r.error().message();
    (*r)->record_working_set(600'000);  // ended below, not by the clock
    ASSERT_TRUE((*r)->start().ok());
    (*r)->machine().hart(0).run(kRecorded);
    EXPECT_EQ((*r)->report().record_status, "recording");
    Status done = (*r)->finish_recording();
    ASSERT_TRUE(done.ok()) << done.error().message();
    RestoreReport rep = (*r)->report();
    EXPECT_EQ(rep.record_status, "written");
    EXPECT_EQ(rep.recorded_pages, want_pages.size());
    EXPECT_EQ(rep.recorded_code_blocks, want_code.size());
  }

  auto reader = read_snapshot(path);  // every block checked
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  const Snapshot& s = (*reader)->snapshot();
  EXPECT_TRUE(starts_with(s.active_pages, want_pages)) << "the recorded pages do not come first";
  EXPECT_TRUE(starts_with(s.code_blocks, want_code)) << "the recorded code does not come first";
  EXPECT_EQ(s.code_traced, want_code.size());
  // Then the suspend's own lists, each entry once.
  for (uint32_t p : saved.active_pages)
    EXPECT_EQ(std::count(s.active_pages.begin(), s.active_pages.end(), p), 1) << "page " << p;
  Snapshot same = s, want = saved;
  same.active_pages = want.active_pages = {};
  same.code_blocks = want.code_blocks = {};
  same.code_traced = want.code_traced = 0;
  EXPECT_EQ(same, want) << "the rewrite changed the machine state";
  auto ram = mem::GuestMemory::create((*reader)->ram_base(), (*reader)->ram_size());
  ASSERT_TRUE(ram.ok());
  ASSERT_TRUE((*reader)->load_memory(**ram).ok());
  std::vector<uint8_t> bytes((*ram)->size());
  ASSERT_TRUE((*ram)->read((*ram)->base(), bytes.data(), bytes.size()).ok());
  EXPECT_EQ(bytes, saved_memory) << "the rewrite changed memory";
  // The first recorded page that is stored at all leads the first block.
  auto first = std::find_if(want_pages.begin(), want_pages.end(),
                            [&](uint32_t p) { return (*reader)->block_of(p) != SnapshotReader::kZeroPage; });
  ASSERT_NE(first, want_pages.end());
  EXPECT_EQ((*reader)->block_pages(0)[0], *first);
  EXPECT_FALSE(exists(path + ".recorded"));
}

// Another save replaced the file while the restore ran: the newer file is
// kept as it is.
TEST(WorkingSetRecord, LeavesAFileReplacedSinceTheRestoreOpenedIt) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  const std::string path = temp_path("replaced.snap");
  save_traced(**made, 50'000, path);
  auto opened = SnapshotReader::open(path);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  save_traced(**made, 10'000, path);  // a newer snapshot under the same name
  const std::vector<uint8_t> newer = read_file(path);
  auto r = rewrite_working_set(**opened, {{0, 1, 2}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("replaced since this restore opened it"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(read_file(path), newer);
  EXPECT_FALSE(exists(path + ".recorded"));
}

TEST(WorkingSetRecord, OneRecorderAtATime) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  const std::string path = temp_path("locked.snap");
  save_traced(**made, 50'000, path);
  const std::vector<uint8_t> before = read_file(path);
  auto opened = SnapshotReader::open(path);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  int other = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // another recorder's descriptor
  ASSERT_GE(other, 0);
  ASSERT_EQ(::flock(other, LOCK_EX | LOCK_NB), 0);
  auto r = rewrite_working_set(**opened, {{0, 1, 2}, {}});
  ::close(other);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("another restore is recording"), std::string::npos) << r.error().message();
  EXPECT_EQ(read_file(path), before);
}

// The rewrite reads every block: a damaged one fails it, by name, and the
// file stays as it was.
TEST(WorkingSetRecord, RefusesADamagedFileAndLeavesIt) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  const std::string path = temp_path("damaged.snap");
  save_traced(**made, 50'000, path);
  const std::vector<uint8_t> bytes = damage_block(path, 2);
  auto opened = SnapshotReader::open(path);  // blocks are checked as they are read
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  auto r = rewrite_working_set(**opened, {{0, 1, 2}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("memory block 2: checksum mismatch"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(read_file(path), bytes);
  EXPECT_FALSE(exists(path + ".recorded"));
}

}  // namespace
}  // namespace tandem::state
