// Replication runs for the VM's life; a suspend or a `snapshot save` may
// run beside it. Each has its own dirty log and write hook: the file must
// restore to its instant, and the backup must still end up with every
// page (no client took another's dirty pages).
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "../state/bare_machine.h"
#include "replication/backup.h"
#include "replication/primary.h"
#include "state/live_save.h"
#include "state/restore.h"

namespace tandem::replication {
namespace {

using state::testing::config;
using state::testing::memory_of;
using state::testing::temp_path;

// A bare machine protected by a backup in this process, 1 ms epochs; the
// test drives the primary's ticks itself.
struct Protected {
  std::unique_ptr<board::Machine> m;
  std::unique_ptr<Backup> backup;
  std::future<bool> served;
  std::unique_ptr<Primary> primary;

  explicit Protected(bool history = true, bool diff = true) {
    auto made = board::Machine::create(config());
    EXPECT_TRUE(made.ok()) << made.error().message();
    m = std::move(made).value();
    m->hart(0).run(100'000);
    BackupOptions bo;
    bo.listen = {"127.0.0.1", 0};
    bo.quiet = true;
    auto b = Backup::listen(bo);
    EXPECT_TRUE(b.ok()) << b.error().message();
    backup = std::move(b).value();
    served = std::async(std::launch::async, [this] { return backup->serve().ok(); });
    ReplicateOptions ro;
    ro.to = {"127.0.0.1", backup->port()};
    ro.epoch_ms = 1;
    ro.history = history;
    ro.diff = diff;
    auto p = Primary::start(*m, ro);
    EXPECT_TRUE(p.ok()) << p.error().message();
    primary = std::move(p).value();
  }
  void wait_committed(uint64_t n) {
    for (int i = 0; i < 20000 && primary->status().committed < n; i++) {
      primary->tick();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ASSERT_GE(primary->status().committed, n) << "the backup did not acknowledge";
  }
  // With the guest still, one more checkpoint brings the backup level;
  // then its committed memory must equal the primary's (no client took
  // another's dirty pages, no deferred page was lost).
  void expect_backup_equal() {
    const uint64_t taken = primary->status().checkpoints;
    for (int i = 0; i < 100 && primary->status().checkpoints <= taken + 1; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      primary->tick();
    }
    wait_committed(primary->status().checkpoints);
    const mem::GuestMemory* committed = backup->committed_memory();
    ASSERT_NE(committed, nullptr);
    const std::vector<uint8_t> now = memory_of(*m);
    EXPECT_EQ(std::memcmp(committed->host(), now.data(), now.size()), 0)
        << "the backup's committed memory differs from the primary's";
  }
  // Ends replication on purpose: the backup does not take over.
  void finish() {
    primary.reset();
    EXPECT_TRUE(served.get());
  }
  // A test that failed half way (no primary, or one still running) must
  // not leave the backup serving: the future's destructor waits for it.
  ~Protected() {
    primary.reset();
    if (backup && served.valid()) backup->request_stop();
  }
};

enum class SaveKind { kSuspend, kSnapshot };

class ReplicationBesideSaves : public ::testing::TestWithParam<SaveKind> {};

TEST_P(ReplicationBesideSaves, TheSaveRestoresAndTheBackupMissesNoPage) {
  Protected r;
  board::Machine& m = *r.m;
  Primary& p = *r.primary;
  auto step = [&] {
    m.hart(0).run(20'000);
    p.tick();
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  };
  auto wait_committed = [&](uint64_t n) { r.wait_committed(n); };
  for (int i = 0; i < 10; i++) step();
  wait_committed(2);

  const std::string path = temp_path(GetParam() == SaveKind::kSuspend ? "beside-suspend.snap" : "beside-save.snap");
  const cpu::HartState at_request = m.hart(0).save();
  const std::vector<uint8_t> memory_at_request = memory_of(m);
  auto save = GetParam() == SaveKind::kSuspend ? state::LiveSave::start_suspend(m, path)
                                               : state::LiveSave::start_snapshot(m, path);
  ASSERT_TRUE(save.ok()) << save.error().message();
  // Device writes to a page the guest never writes, each just before the
  // save's step: the last is taken by the suspend's final epoch, and only
  // if that epoch handed it on does it reach the backup.
  const uint64_t marker = m.ram().base() + (8u << 20);
  for (uint64_t value = 1;; value++) {
    ASSERT_TRUE(m.ram().write(marker, &value, sizeof value).ok());
    if ((*save)->tick()) break;
    step();
  }
  ASSERT_TRUE((*save)->result().ok()) << (*save)->result().error().message();
  // A snapshot is the request's instant; a suspend is where it stopped.
  const cpu::HartState want_hart = GetParam() == SaveKind::kSnapshot ? at_request : m.hart(0).save();
  const std::vector<uint8_t> want_memory = GetParam() == SaveKind::kSnapshot ? memory_at_request : memory_of(m);

  auto restored = state::Restore::open(path, state::RestoreMode::kEager, nullptr);
  ASSERT_TRUE(restored.ok()) << restored.error().message();
  ASSERT_TRUE((*restored)->start().ok());
  EXPECT_EQ((*restored)->machine().hart(0).save(), want_hart);
  EXPECT_TRUE(memory_of((*restored)->machine()) == want_memory) << "the save's file is not its instant";

  // Replication went on beside the save and goes on after it.
  const uint64_t before = p.status().committed;
  for (int i = 0; i < 10; i++) step();
  wait_committed(before + 3);
  ASSERT_TRUE(p.active());

  r.expect_backup_equal();
  r.finish();
}

// Cold pages (written once each, by a device, then never again) are
// protected at their stun and copied after it; some are written again
// before the sender gets to them. The backup must end up with memory
// equal to the primary's, as with the history off.
class ReplicationHistory : public ::testing::TestWithParam<bool> {};

TEST_P(ReplicationHistory, TheBackupEndsEqualWithDeferredCopies) {
  Protected r(GetParam());
  board::Machine& m = *r.m;
  Primary& p = *r.primary;
  auto wait_committed = [&](uint64_t n) { r.wait_committed(n); };
  wait_committed(1);
  // 40 rounds of 64 fresh pages, each written once and then, right after
  // its stun, once more.
  const uint64_t region = m.ram().base() + (4u << 20);
  for (uint64_t round = 0; round < 40; round++) {
    std::vector<uint64_t> value(512, round + 1);
    for (uint64_t k = 0; k < 64; k++)
      ASSERT_TRUE(m.ram().write(region + (round * 64 + k) * mem::kPageSize, value.data(), 4096).ok());
    const uint64_t taken = p.status().checkpoints;
    for (int i = 0; i < 1000 && p.status().checkpoints == taken; i++) {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      p.tick();
    }
    const uint64_t again = round + 1000;
    for (uint64_t k = 0; k < 64; k += 2)
      ASSERT_TRUE(m.ram().write(region + (round * 64 + k) * mem::kPageSize + 8, &again, 8).ok());
    m.hart(0).run(10'000);
  }
  r.expect_backup_equal();
  const ReplicationStatus st = p.status();
  if (GetParam()) EXPECT_GT(st.deferred_p99, 0) << "no page was ever deferred: the test tests nothing";
  else EXPECT_EQ(st.deferred_p99, 0);
  r.finish();
}

// The scribbler changes a few words of its 256 pages in each epoch: once
// the backup has seen that, they go as diffs. With the history and the
// diffs each on and off, the backup must end up with the primary's memory.
class ReplicationDiffs : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(ReplicationDiffs, TheBackupEndsEqual) {
  const auto [history, diff] = GetParam();
  Protected r(history, diff);
  board::Machine& m = *r.m;
  Primary& p = *r.primary;
  r.wait_committed(1);
  for (int i = 0; i < 300; i++) {
    m.hart(0).run(20'000);
    p.tick();
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  r.expect_backup_equal();
  const ReplicationStatus st = p.status();
  EXPECT_EQ(st.diff.on, diff);
  if (diff) {
    EXPECT_GT(st.diff.candidates, 100u);
    EXPECT_GT(st.diff.diff_pages, 1000u) << "few pages went as diffs: the test tests little";
    EXPECT_EQ(st.diff.refused, 0u);
    EXPECT_GT(st.diff.kept_pages, 100u);
  } else {
    EXPECT_EQ(st.diff.diff_pages, 0u);
  }
  EXPECT_EQ(r.backup->status().diff.diff_pages, st.diff.diff_pages);
  r.finish();
}

INSTANTIATE_TEST_SUITE_P(Diffs, ReplicationDiffs, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string("history_") + (std::get<0>(info.param) ? "on" : "off") + "_diff_" +
                                  (std::get<1>(info.param) ? "on" : "off");
                         });

INSTANTIATE_TEST_SUITE_P(History, ReplicationHistory, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "on" : "off"; });

INSTANTIATE_TEST_SUITE_P(Saves, ReplicationBesideSaves, ::testing::Values(SaveKind::kSuspend, SaveKind::kSnapshot),
                         [](const auto& info) { return info.param == SaveKind::kSuspend ? "suspend" : "snapshot"; });

}  // namespace
}  // namespace tandem::replication
