// Machine-level save/restore without Linux: a bare-metal program scribbles
// over 1 MiB of RAM; its state is captured mid-run and restored in each
// mode, and the restored machine must then compute exactly what the
// original computes (same registers, same memory), whatever order its
// pages arrive in.
#include <gtest/gtest.h>

#include <unistd.h>

#include <vector>

#include "bare_machine.h"
#include "state/machine_snapshot.h"
#include "state/restore.h"
#include "state/snapshot_file.h"

namespace tandem::state {
namespace {

using testing::config;
using testing::damage_block;
using testing::memory_of;
using testing::save_traced;
using testing::temp_path;

class RestoreModes : public ::testing::TestWithParam<RestoreMode> {};

uint64_t stored_pages(const std::string& path) {
  auto r = SnapshotReader::open(path);
  EXPECT_TRUE(r.ok());
  uint64_t n = 0;
  for (uint32_t p = 0; r.ok() && p < (*r)->page_count(); p++) n += (*r)->block_of(p) != SnapshotReader::kZeroPage;
  return n;
}

TEST_P(RestoreModes, RestoredMachineComputesWhatTheOriginalDoes) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  m.hart(0).run(200'000);
  std::string path = temp_path(std::string(restore_mode_name(GetParam())) + ".snap");
  Snapshot snap = save_traced(m, 50'000, path);
  ASSERT_FALSE(snap.active_pages.empty());
  ASSERT_FALSE(snap.code_blocks.empty());

  m.hart(0).run(300'000);
  const cpu::HartState want_hart = m.hart(0).save();
  const std::vector<uint8_t> want_mem = memory_of(m);

  auto r = Restore::open(path, GetParam(), nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  board::Machine& restored = (*r)->machine();
  EXPECT_EQ(restored.hart(0).instret(), snap.harts[0].instret);
  ASSERT_TRUE((*r)->start().ok());
  restored.hart(0).run(300'000);
  EXPECT_EQ(restored.hart(0).save(), want_hart);
  EXPECT_EQ(memory_of(restored), want_mem) << "memory differs after " << restore_mode_name(GetParam());

  RestoreReport rep = (*r)->report();
  EXPECT_EQ(rep.active_pages, snap.active_pages.size());
  if (GetParam() == RestoreMode::kLazy) {
    EXPECT_EQ(rep.pages_prefetched, 0u);
    EXPECT_GT(rep.pages_on_demand, 0u) << "the lazy restore loaded nothing on demand";
  }
  if (GetParam() == RestoreMode::kWorkingSet) {
    // The head of the working set came first; every stored page arrives
    // exactly once, prefetched, streamed or touched.
    EXPECT_GT(rep.pages_prefetched, 0u);
    EXPECT_EQ(rep.pages_prefetched + rep.pages_streamed + rep.pages_on_demand, stored_pages(path));
  }
}

// With the guest not running, the streamer alone loads everything: the
// working set first, then the rest.
TEST(RestoreModes, WorkingSetStreamsActivePagesFirst) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  std::string path = temp_path("ws-order.snap");
  Snapshot snap = save_traced(m, 200'000, path);
  auto r = Restore::open(path, RestoreMode::kWorkingSet, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE((*r)->start().ok());
  for (int i = 0; i < 10'000 && (*r)->report().resident_ms < 0; i++) ::usleep(1000);
  RestoreReport rep = (*r)->report();
  ASSERT_GE(rep.resident_ms, 0) << "not all memory was loaded within 10 s";
  EXPECT_GE(rep.working_set_ms, 0);
  EXPECT_LE(rep.working_set_ms, rep.resident_ms);
  EXPECT_EQ(rep.pages_on_demand, 0u);
  EXPECT_EQ(rep.pages_prefetched + rep.pages_streamed, stored_pages(path));
  EXPECT_EQ(memory_of((*r)->machine()), memory_of(m));
  // Every block the hart ran while traced was decoded ahead for it.
  EXPECT_EQ(rep.blocks_offered, snap.code_blocks.size());
  (*r)->machine().hart(0).run(200'000);
  EXPECT_GT((*r)->machine().hart(0).blocks_adopted(), 0u);
  ::unlink(path.c_str());
}

// The head of a working-set restore loads beside the machine's setup, so a
// damaged block in it is found by start(): an error naming the block, and
// the guest does not run.
TEST(RestoreModes, WorkingSetRefusesADamagedHeadBlock) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  std::string path = temp_path("ws-damaged-head.snap");
  Snapshot snap = save_traced(m, 50'000, path);
  ASSERT_FALSE(snap.code_blocks.empty());

  // The block that holds the first code the guest ran: the head's first.
  uint32_t block;
  {
    auto reader = SnapshotReader::open(path);
    ASSERT_TRUE(reader.ok()) << reader.error().message();
    block = (*reader)->block_of(static_cast<uint32_t>(m.ram().page_of(snap.code_blocks[0])));
    ASSERT_NE(block, SnapshotReader::kZeroPage);
  }
  damage_block(path, block);

  auto r = Restore::open(path, RestoreMode::kWorkingSet, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();  // memory is checked as it loads
  const uint64_t instret = (*r)->machine().hart(0).instret();
  Status started = (*r)->start();
  ASSERT_FALSE(started.ok()) << "a damaged head block was not noticed";
  EXPECT_NE(started.error().message().find("memory block " + std::to_string(block) + ": checksum mismatch"),
            std::string::npos)
      << started.error().message();
  EXPECT_EQ((*r)->machine().hart(0).instret(), instret);
  ::unlink(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(AllModes, RestoreModes,
                         ::testing::Values(RestoreMode::kEager, RestoreMode::kLazy, RestoreMode::kWorkingSet),
                         [](const auto& info) {
                           std::string n = restore_mode_name(info.param);
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(RestoreModes, ParsesModeNames) {
  EXPECT_EQ(*parse_restore_mode("lazy"), RestoreMode::kLazy);
  auto bad = parse_restore_mode("fast");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("'fast'"), std::string::npos);
}

TEST(MachineSnapshot, ApplyRefusesAnotherMachineShape) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok());
  Snapshot snap = capture_machine(**made);
  snap.harts.push_back(snap.harts[0]);
  auto st = apply_machine(snap, **made);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("the snapshot has 2 harts but the machine has 1"), std::string::npos)
      << st.error().message();
  Snapshot no_clock = capture_machine(**made);
  for (auto& [k, v] : no_clock.config)
    if (k == "clock_ticks") v = "soon";
  auto st2 = apply_machine(no_clock, **made);
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.error().message().find("clock_ticks"), std::string::npos);
}

// -smp 2: both harts' states, and which of them wait in WFI, survive a
// save and a restore; the restored machine then computes what the
// original does when its harts take the same turns.
TEST(MachineSnapshot, TwoHartsRoundTrip) {
  board::MachineConfig c = config();
  c.harts = 2;
  auto made = board::Machine::create(c);
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  ASSERT_EQ(m.hart_count(), 2u);
  EXPECT_EQ(m.hart(1).reg(10), 1u) << "a0 is the hart id at entry";
  m.hart(0).run(100'000);
  m.hart(1).run(50'000);
  m.set_harts_waiting(2);
  const std::string path = temp_path("two_harts.snap");
  Snapshot snap = capture_machine(m);
  ASSERT_EQ(snap.harts.size(), 2u);
  auto written = write_snapshot(path, snap, m.ram());
  ASSERT_TRUE(written.ok()) << written.error().message();
  auto turns = [](board::Machine& x) {
    for (int k = 0; k < 3; k++) {
      x.hart(0).run(30'000);
      x.hart(0).drop_reservation();
      x.hart(1).run(20'000);
      x.hart(1).drop_reservation();
    }
  };
  turns(m);
  const cpu::HartState want0 = m.hart(0).save(), want1 = m.hart(1).save();
  const std::vector<uint8_t> want_mem = memory_of(m);

  auto r = Restore::open(path, RestoreMode::kEager, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  board::Machine& restored = (*r)->machine();
  ASSERT_EQ(restored.hart_count(), 2u);
  EXPECT_EQ(restored.harts_waiting(), 2u);
  ASSERT_TRUE((*r)->start().ok());
  turns(restored);
  EXPECT_EQ(restored.hart(0).save(), want0);
  EXPECT_EQ(restored.hart(1).save(), want1);
  EXPECT_EQ(memory_of(restored), want_mem);

  // Into a machine of another size: refused, naming both counts.
  auto one = board::Machine::create(config());
  ASSERT_TRUE(one.ok());
  auto st = apply_machine(snap, **one);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("the snapshot has 2 harts but the machine has 1"), std::string::npos)
      << st.error().message();
  Snapshot one_snap = capture_machine(**one);
  auto st2 = apply_machine(one_snap, m);
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.error().message().find("the snapshot has 1 harts but the machine has 2"), std::string::npos)
      << st2.error().message();
}

}  // namespace
}  // namespace tandem::state
