// Live saves (suspend: pre-copy rounds; snapshot: copy-on-write) of
// bare-metal machines, checked by restoring the file and comparing with a
// machine that ran the same instructions: what a save may skip (pages
// never populated) and what it must not (pages a lazy restore has not
// loaded yet, pages filled only by the boot loader, a device or a restore).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bare_machine.h"
#include "state/live_save.h"
#include "state/machine_snapshot.h"
#include "state/restore.h"
#include "state/snapshot_file.h"

namespace tandem::state {
namespace {

using testing::config;
using testing::kBase;
using testing::memory_of;
using testing::run_to;
using testing::temp_path;

// 64 pages of a pattern the scribbler never touches (it works in the 1 MiB
// above base + 1 MiB): after a lazy restore they stay absent until
// something reads them, so only a save that loads them keeps them.
constexpr uint64_t kUntouched = kBase + (8 << 20);
constexpr size_t kUntouchedPages = 64;

void fill_untouched(board::Machine& m) {
  std::vector<uint8_t> page(mem::kPageSize);
  for (size_t k = 0; k < kUntouchedPages; k++) {
    for (size_t i = 0; i < page.size(); i++) page[i] = static_cast<uint8_t>(k * 7 + i * 13 + 1);
    ASSERT_TRUE(m.ram().write(kUntouched + k * mem::kPageSize, page.data(), page.size()).ok());
  }
}

enum class SavePath { kStopped, kSuspend, kSnapshot };

const char* save_path_name(SavePath p) {
  switch (p) {
    case SavePath::kStopped: return "stopped";
    case SavePath::kSuspend: return "suspend";
    default: return "snapshot";
  }
}

// Saves `m` to `path` by `how`, running it between the live save's steps
// as the run loop would.
void save(board::Machine& m, const std::string& path, SavePath how) {
  if (how == SavePath::kStopped) {
    Snapshot snap = capture_machine(m);
    auto w = write_snapshot(path, snap, m.ram());
    ASSERT_TRUE(w.ok()) << w.error().message();
    return;
  }
  auto s = how == SavePath::kSuspend ? LiveSave::start_suspend(m, path) : LiveSave::start_snapshot(m, path);
  ASSERT_TRUE(s.ok()) << s.error().message();
  while (!(*s)->tick()) m.hart(0).run(20'000);
  ASSERT_TRUE((*s)->result().ok()) << (*s)->result().error().message();
}

class ResaveLazy : public ::testing::TestWithParam<SavePath> {};

TEST_P(ResaveLazy, PagesNotYetLoadedAreSavedWithTheirContents) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  fill_untouched(m);
  m.hart(0).run(200'000);
  Snapshot snap = capture_machine(m);
  const uint64_t start = m.hart(0).instret();
  std::string first = temp_path(std::string("resave-a-") + save_path_name(GetParam()) + ".snap");
  WriteOptions small_blocks;  // so that the untouched pages have blocks of their own
  small_blocks.pages_per_block = 16;
  ASSERT_TRUE(write_snapshot(first, snap, m.ram(), small_blocks).ok());
  auto lazy = Restore::open(first, RestoreMode::kLazy, nullptr);
  ASSERT_TRUE(lazy.ok()) << lazy.error().message();
  board::Machine& r1 = (*lazy)->machine();
  ASSERT_TRUE((*lazy)->start().ok());
  r1.hart(0).run(100'000);
  const uint64_t last_untouched = kUntouched + (kUntouchedPages - 1) * mem::kPageSize;
  ASSERT_TRUE(r1.ram().is_absent(r1.ram().page_of(last_untouched)))
      << "the test needs pages the lazy restore has not loaded when it saves";
  std::string second = temp_path(std::string("resave-b-") + save_path_name(GetParam()) + ".snap");
  save(r1, second, GetParam());

  auto again = Restore::open(second, RestoreMode::kEager, nullptr);
  ASSERT_TRUE(again.ok()) << again.error().message();
  board::Machine& r2 = (*again)->machine();
  ASSERT_TRUE((*again)->start().ok());
  // A suspend runs the guest until its rounds converge: compare from there.
  const uint64_t end = std::max(r2.hart(0).instret(), start + 100'000) + 300'000;
  run_to(m, end);
  const cpu::HartState want_hart = m.hart(0).save();
  const std::vector<uint8_t> want_mem = memory_of(m);
  run_to(r2, end);
  EXPECT_EQ(r2.hart(0).save(), want_hart);
  const std::vector<uint8_t> got = memory_of(r2);
  EXPECT_EQ(std::memcmp(got.data() + (kUntouched - kBase), want_mem.data() + (kUntouched - kBase),
                        kUntouchedPages * mem::kPageSize),
            0)
      << "pages the lazy restore had not loaded were saved as zero";
  EXPECT_EQ(got, want_mem);
  ::unlink(first.c_str());
  ::unlink(second.c_str());
}

INSTANTIATE_TEST_SUITE_P(AllPaths, ResaveLazy,
                         ::testing::Values(SavePath::kStopped, SavePath::kSuspend, SavePath::kSnapshot),
                         [](const auto& info) { return std::string(save_path_name(info.param)); });

// --- pages populated only behind the CPU's back ---

// A page of `seed`'s pattern at `gpa`, written as a device does (DMA).
void dma_fill(board::Machine& m, uint64_t gpa, uint8_t seed) {
  std::vector<uint8_t> page(mem::kPageSize);
  for (size_t i = 0; i < page.size(); i++) page[i] = static_cast<uint8_t>(seed + i * 31);
  ASSERT_TRUE(m.ram().write(gpa, page.data(), page.size()).ok());
}

// Pages the scribbler never touches.
constexpr uint64_t kDmaOld = kBase + (4 << 20);     // written in an epoch long ended
constexpr uint64_t kDmaRecent = kBase + (5 << 20);  // written in the current epoch
constexpr uint64_t kDmaDuring = kBase + (6 << 20);  // written while the save runs

enum class Source { kBooted, kEager, kLazy };

struct Case {
  SavePath how;
  Source source;
};

std::string case_name(const Case& c) {
  const char* s = c.source == Source::kBooted ? "booted" : c.source == Source::kEager ? "eager" : "lazy";
  return std::string(save_path_name(c.how)) + "_" + s;
}

class SavesPopulated : public ::testing::TestWithParam<Case> {};

// The machine saved is either freshly booted (its code page written only
// by the ELF loader) or restored from a file of one (every page written
// only by the restore); either way two pages were written only by DMA.
// A third is written by DMA while the save runs: a suspend must catch it
// (the page was never populated when its first round began), a snapshot
// must not (it keeps the request's instant).
TEST_P(SavesPopulated, PagesWrittenOnlyByLoaderDmaOrRestoreAreSaved) {
  const Case c = GetParam();
  const std::string name = case_name(c);
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& booted = **made;
  dma_fill(booted, kDmaOld, 1);
  auto log = booted.ram().open_dirty_log("test");
  log->end_epoch();
  log->end_epoch();
  dma_fill(booted, kDmaRecent, 2);
  ASSERT_FALSE(booted.ram().populated_pages().empty());

  std::unique_ptr<Restore> restored;
  board::Machine* m = &booted;
  std::string first = temp_path("populated-a-" + name + ".snap");
  if (c.source != Source::kBooted) {
    booted.hart(0).run(50'000);
    ASSERT_TRUE(write_snapshot(first, capture_machine(booted), booted.ram()).ok());
    auto r = Restore::open(first, c.source == Source::kEager ? RestoreMode::kEager : RestoreMode::kLazy,
                           nullptr);
    ASSERT_TRUE(r.ok()) << r.error().message();
    restored = std::move(r).value();
    ASSERT_TRUE(restored->start().ok());
    m = &restored->machine();
  }

  std::string second = temp_path("populated-b-" + name + ".snap");
  auto s = c.how == SavePath::kSuspend ? LiveSave::start_suspend(*m, second)
                                       : LiveSave::start_snapshot(*m, second);
  ASSERT_TRUE(s.ok()) << s.error().message();
  dma_fill(*m, kDmaDuring, 3);
  while (!(*s)->tick()) m->hart(0).run(20'000);
  ASSERT_TRUE((*s)->result().ok()) << (*s)->result().error().message();

  auto back = Restore::open(second, RestoreMode::kEager, nullptr);
  ASSERT_TRUE(back.ok()) << back.error().message();
  board::Machine& got = (*back)->machine();

  // The same instructions and device writes on a machine never saved.
  auto ref_made = board::Machine::create(config());
  ASSERT_TRUE(ref_made.ok());
  board::Machine& ref = **ref_made;
  dma_fill(ref, kDmaOld, 1);
  dma_fill(ref, kDmaRecent, 2);
  if (c.how == SavePath::kSuspend) dma_fill(ref, kDmaDuring, 3);
  run_to(ref, got.hart(0).instret());
  EXPECT_EQ(got.hart(0).save(), ref.hart(0).save());
  const std::vector<uint8_t> want = memory_of(ref), have = memory_of(got);
  for (uint64_t gpa : {kBase, kDmaOld, kDmaRecent, kDmaDuring}) {
    size_t at = gpa - kBase;
    EXPECT_EQ(std::memcmp(have.data() + at, want.data() + at, mem::kPageSize), 0)
        << "page 0x" << std::hex << gpa << " differs";
  }
  EXPECT_EQ(have, want);
  ::unlink(first.c_str());
  ::unlink(second.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    AllSources, SavesPopulated,
    ::testing::Values(Case{SavePath::kSuspend, Source::kBooted}, Case{SavePath::kSuspend, Source::kEager},
                      Case{SavePath::kSuspend, Source::kLazy}, Case{SavePath::kSnapshot, Source::kBooted},
                      Case{SavePath::kSnapshot, Source::kEager}, Case{SavePath::kSnapshot, Source::kLazy}),
    [](const auto& info) { return case_name(info.param); });

// A copy-on-write snapshot writes the pages holding code first, so that a
// working-set restore finds the head (the code the guest ran) in the first
// blocks. A data page far up in RAM is marked as code here: written in
// address order it would come after the scribbler's 256 pages.
TEST(LiveSaveOrder, SnapshotWritesCodePagesFirst) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  fill_untouched(m);
  m.hart(0).run(200'000);
  const uint32_t far_code = static_cast<uint32_t>(m.ram().page_of(kUntouched)) + 10;
  m.ram().mark_code(far_code);
  ASSERT_TRUE(m.ram().has_code(m.ram().page_of(kBase))) << "the scribbler's own code";
  std::string path = temp_path("cow-order.snap");
  save(m, path, SavePath::kSnapshot);
  auto reader = SnapshotReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  EXPECT_EQ((*reader)->block_of(far_code), 0u);
  EXPECT_EQ((*reader)->block_of(static_cast<uint32_t>(m.ram().page_of(kBase))), 0u);
  EXPECT_GT((*reader)->block_of(far_code + 1), 0u) << "a data page next to it is not code";
  ::unlink(path.c_str());
}

// The code a save lists for a restore to decode ahead comes from every
// hart, not hart 0's alone: a second hart that served requests before the
// save ran code the first never did.
TEST(LiveSaveCode, RecentBlocksComeFromEveryHart) {
  board::MachineConfig c = config();
  c.harts = 2;
  auto made = board::Machine::create(c);
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  // Hart 1 spins in a loop of its own, far from the scribbler's code.
  constexpr uint64_t kLoop = kBase + (4 << 20);
  cpu::test::Asm a(kLoop);
  a.bind("spin");
  a.addi(11, 11, 1);
  a.jal(0, "spin");
  a.finish();
  ASSERT_TRUE(m.ram().write(kLoop, a.bytes().data(), a.bytes().size()).ok());
  m.hart(1).set_pc(kLoop);
  m.hart(0).run(50'000);
  m.hart(1).run(50'000);
  const std::vector<uint64_t> recent = m.recent_blocks(LiveSave::kRecentCode);
  auto has = [&](auto pred) { return std::any_of(recent.begin(), recent.end(), pred); };
  EXPECT_TRUE(has([](uint64_t gpa) { return gpa == kLoop; })) << "hart 1's loop";
  EXPECT_TRUE(has([](uint64_t gpa) { return gpa >= kBase && gpa < kBase + (1 << 20); })) << "hart 0's scribbler";
  std::vector<uint64_t> sorted = recent;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a block listed twice";
  EXPECT_LE(m.recent_blocks(1).size(), 1u);
}

}  // namespace
}  // namespace tandem::state
