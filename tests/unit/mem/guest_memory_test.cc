#include "mem/guest_memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "mem/phys_bus.h"

namespace tandem::mem {
namespace {

constexpr uint64_t kBase = 0x80000000;

struct CountingListener : MemoryListener {
  int flushes = 0;
  std::vector<std::pair<uint64_t, uint64_t>> code_invalidations;  // (gpa, len)
  bool keeps_code = false;  // what invalidate_code answers
  void flush_tlb() override { flushes++; }
  bool invalidate_code(uint64_t gpa, uint64_t len) override {
    code_invalidations.emplace_back(gpa, len);
    return keeps_code;
  }
  int code_drops = 0;
  void drop_code() override { code_drops++; }
};

std::unique_ptr<GuestMemory> make(uint64_t size = 16 * kPageSize) {
  auto m = GuestMemory::create(kBase, size);
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

TEST(GuestMemory, ReleasedPagesReadZeroAndAreNotPopulated) {
  auto m = make();
  for (uint32_t p : {2u, 3u, 4u, 9u}) {
    std::memset(m->page_host(p), 0xab, kPageSize);
    m->mark_populated(p);
  }
  m->release_pages(std::vector<uint32_t>{2, 3, 9});
  for (uint32_t p : {2u, 3u, 9u}) {
    EXPECT_FALSE(m->is_populated(p)) << p;
    for (size_t i = 0; i < kPageSize; i++) ASSERT_EQ(m->page_host(p)[i], 0) << "page " << p << " byte " << i;
  }
  EXPECT_TRUE(m->is_populated(4));
  EXPECT_EQ(m->page_host(4)[kPageSize - 1], 0xab) << "a page next to a released run lost its bytes";
  EXPECT_EQ(m->populated_pages(), std::vector<uint32_t>{4});
}

TEST(GuestMemory, RejectsBadSizes) {
  auto m = GuestMemory::create(kBase, 4097);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("multiple of 4 KiB"), std::string::npos);
}

TEST(GuestMemory, FirstWritePerEpochSetsDirtyAndNewEpochRearms) {
  auto m = make();
  CountingListener l;
  m->add_listener(&l);
  auto log = m->open_dirty_log("test");
  EXPECT_EQ(l.flushes, 1);
  EXPECT_FALSE(m->dirty().test(3));
  m->prepare_write(kBase + 3 * kPageSize + 8);
  EXPECT_TRUE(m->dirty().test(3));
  EXPECT_FALSE(m->dirty().test(2));
  auto dirty = log->end_epoch();
  EXPECT_EQ(dirty, std::vector<uint32_t>{3});
  EXPECT_FALSE(m->dirty().test(3));
  EXPECT_TRUE(m->is_populated(3)) << "a harvest keeps the page populated";
  EXPECT_EQ(l.flushes, 2) << "a new epoch must drop cached write permissions";
  EXPECT_EQ(log->history(3), 1);
  m->prepare_write(kBase + 3 * kPageSize);
  EXPECT_TRUE(m->dirty().test(3));
  log->end_epoch();
  log->end_epoch();
  EXPECT_EQ(log->history(3), 0b110);
  EXPECT_EQ(log->history(2), 0) << "a page never written has no history";
  EXPECT_EQ(log->epoch(), 3u);
}

TEST(GuestMemory, HistoryKeepsSixteenEpochs) {
  auto m = make();
  auto log = m->open_dirty_log("test");
  m->prepare_write(kBase + 7 * kPageSize);
  log->end_epoch();
  for (int i = 1; i < 16; i++) {
    EXPECT_EQ(log->history(7), 1u << (i - 1)) << i;
    log->end_epoch();
  }
  EXPECT_EQ(log->history(7), 1u << 15);
  log->end_epoch();
  EXPECT_EQ(log->history(7), 0) << "dirty 17 epochs ago is past the history";
  // Written again after a long gap: only the new epoch shows.
  for (int i = 0; i < 40; i++) log->end_epoch();
  m->prepare_write(kBase + 7 * kPageSize);
  log->end_epoch();
  m->prepare_write(kBase + 7 * kPageSize);
  log->end_epoch();
  log->end_epoch();
  EXPECT_EQ(log->history(7), 0b110);
}

// Replication runs for the VM's life while a save ends epochs of its own:
// each log gets every write since its own last epoch, whoever harvested.
TEST(GuestMemory, DirtyLogsDoNotTakeEachOthersPages) {
  auto m = make();
  m->prepare_write(kBase + 1 * kPageSize);  // before any log: nobody's
  auto repl = m->open_dirty_log("replication");
  m->prepare_write(kBase + 2 * kPageSize);
  auto save = m->open_dirty_log("save");  // opened after page 2's write
  m->prepare_write(kBase + 3 * kPageSize);
  EXPECT_EQ(save->end_epoch(), std::vector<uint32_t>{3});
  m->prepare_write(kBase + 4 * kPageSize);
  EXPECT_EQ(save->end_epoch(), std::vector<uint32_t>{4});
  EXPECT_EQ(repl->pending().list(), (std::vector<uint32_t>{2, 3, 4}));
  m->prepare_write(kBase + 5 * kPageSize);
  EXPECT_EQ(repl->end_epoch(), (std::vector<uint32_t>{2, 3, 4, 5}));
  EXPECT_EQ(save->end_epoch(), std::vector<uint32_t>{5});
  EXPECT_TRUE(repl->end_epoch().empty());
  // Histories count each log's own epochs.
  EXPECT_EQ(repl->history(3), 0b10);
  EXPECT_EQ(save->history(3), 0b100);
  save.reset();  // closed: the next harvest hands it nothing
  m->prepare_write(kBase + 6 * kPageSize);
  EXPECT_EQ(repl->end_epoch(), std::vector<uint32_t>{6});
}

// A harvest split over two threads gives each log what one thread gives.
TEST(GuestMemory, ASplitHarvestGivesWhatOneThreadGives) {
  for (unsigned threads : {0u, 1u, 2u}) {
    auto m = make(4096 * kPageSize);
    m->set_harvest_threads(threads);
    auto a = m->open_dirty_log("a");
    auto b = m->open_dirty_log("b");
    std::vector<uint32_t> want;
    for (uint32_t p = 0; p < 4096; p += (p % 7) + 1) {
      m->prepare_write(m->page_gpa(p));
      want.push_back(p);
    }
    EXPECT_EQ(a->end_epoch(), want);
    m->prepare_write(m->page_gpa(4095));
    std::vector<uint32_t> want_b = want;
    if (want_b.back() != 4095) want_b.push_back(4095);
    EXPECT_EQ(b->end_epoch(), want_b) << "b got a's harvest and the write after";
    for (uint32_t p : want) EXPECT_EQ(a->history(p), 1) << p;
    EXPECT_EQ(a->end_epoch(), std::vector<uint32_t>{4095});
    EXPECT_EQ(a->history(want[1]), 0b10);
  }
}

TEST(GuestMemory, AWriteAfterAnotherLogsHarvestIsSeenAgain) {
  // The shared bit is cleared by any harvest, so the CPU takes the slow
  // path again and both logs see the next write.
  auto m = make();
  auto a = m->open_dirty_log("a");
  auto b = m->open_dirty_log("b");
  m->prepare_write(kBase + 9 * kPageSize);
  EXPECT_EQ(a->end_epoch(), std::vector<uint32_t>{9});
  EXPECT_FALSE(m->dirty().test(9));
  m->prepare_write(kBase + 9 * kPageSize);
  EXPECT_EQ(a->end_epoch(), std::vector<uint32_t>{9});
  EXPECT_EQ(b->end_epoch(), std::vector<uint32_t>{9});
  EXPECT_EQ(b->history(9), 1);
  EXPECT_EQ(a->history(9), 0b11);
}

TEST(GuestMemory, ReadsDoNotDirty) {
  auto m = make();
  m->prepare_read(kBase + 5 * kPageSize);
  EXPECT_FALSE(m->dirty().any());
}

TEST(GuestMemory, ProtectedPageCallsHookBeforeWriteLands) {
  auto m = make();
  uint8_t* page = m->page_host(4);
  page[0] = 0xaa;
  std::vector<uint8_t> seen;
  auto hook = m->add_write_hook("test", [&](size_t p) {
    EXPECT_EQ(p, 4u);
    seen.push_back(m->page_host(p)[0]);  // the old contents, not yet written
  });
  CountingListener l;
  m->add_listener(&l);
  hook->protect(std::vector<uint32_t>{4});
  EXPECT_EQ(l.flushes, 1);
  uint8_t v = 0x55;
  ASSERT_TRUE(m->write(kBase + 4 * kPageSize, &v, 1).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], 0xaa);
  EXPECT_EQ(page[0], 0x55);
  EXPECT_FALSE(m->write_protected().test(4));
  EXPECT_FALSE(hook->is_protected(4));
  ASSERT_TRUE(m->write(kBase + 4 * kPageSize, &v, 1).ok());
  EXPECT_EQ(seen.size(), 1u) << "the hook runs once per protection";
}

TEST(GuestMemory, WriteHooksChainWithAnOwnerEach) {
  auto m = make();
  std::vector<std::string> calls;
  auto save = m->add_write_hook("save", [&](size_t p) { calls.push_back("save " + std::to_string(p)); });
  auto repl = m->add_write_hook("repl", [&](size_t p) { calls.push_back("repl " + std::to_string(p)); });
  save->protect_all();
  repl->protect(std::vector<uint32_t>{2, 3});
  save->unprotect(3);  // the save copied page 3 itself
  uint8_t v = 1;
  for (uint64_t p : {1, 2, 3, 2}) ASSERT_TRUE(m->write(kBase + p * kPageSize, &v, 1).ok());
  EXPECT_EQ(calls, (std::vector<std::string>{"save 1", "save 2", "repl 2", "repl 3"}));
  EXPECT_FALSE(m->write_protected().test(3));
  // A hook removed is never called again; the other owner's pages stay.
  repl->protect(std::vector<uint32_t>{5});
  save.reset();
  calls.clear();
  for (uint64_t p : {4, 5}) ASSERT_TRUE(m->write(kBase + p * kPageSize, &v, 1).ok());
  EXPECT_EQ(calls, std::vector<std::string>{"repl 5"});
}

TEST(GuestMemory, AbsentPageCallsLoaderBeforeAnyAccess) {
  auto m = make();
  std::vector<size_t> loaded;
  m->set_loader([&](size_t p) {
    m->page_host(p)[1] = static_cast<uint8_t>(p);
    loaded.push_back(p);
    m->mark_present(p);
  });
  m->mark_absent_all();
  uint8_t b = 0;
  ASSERT_TRUE(m->read(kBase + 7 * kPageSize + 1, &b, 1).ok());
  EXPECT_EQ(b, 7);
  m->prepare_write(kBase + 2 * kPageSize);
  m->prepare_read(kBase + 7 * kPageSize);
  EXPECT_EQ(loaded, (std::vector<size_t>{7, 2}));
  EXPECT_FALSE(m->is_absent(7));
  EXPECT_TRUE(m->is_absent(8));
}

TEST(GuestMemory, TraceRecordsFirstTouchOrder) {
  auto m = make();
  CountingListener l;
  m->add_listener(&l);
  m->prepare_read(kBase + 9 * kPageSize);  // before the trace: not recorded
  m->start_trace();
  EXPECT_EQ(l.flushes, 1);
  m->prepare_write(kBase + 6 * kPageSize);
  m->prepare_read(kBase + 1 * kPageSize);
  m->prepare_read(kBase + 6 * kPageSize);
  m->prepare_read(kBase + 9 * kPageSize);
  EXPECT_EQ(m->stop_trace(), (std::vector<uint32_t>{6, 1, 9}));
  m->prepare_read(kBase + 12 * kPageSize);
  EXPECT_EQ(m->active_pages().size(), 3u);
}

TEST(GuestMemory, DeviceWritesAreTrackedAndSpanPages) {
  auto m = make();
  std::vector<uint8_t> data(kPageSize + 16, 0x7e);
  ASSERT_TRUE(m->write(kBase + 2 * kPageSize - 8, data.data(), data.size()).ok());
  EXPECT_EQ(m->dirty().list(), (std::vector<uint32_t>{1, 2, 3}));
  auto bad = m->write(kBase + 16 * kPageSize - 4, data.data(), 8);
  EXPECT_FALSE(bad.ok());
}

TEST(GuestMemory, WriteToCodePageInvalidatesCode) {
  auto m = make();
  CountingListener l;
  m->add_listener(&l);
  EXPECT_TRUE(m->mark_code(5));
  EXPECT_FALSE(m->mark_code(5));
  uint32_t insn = 0x13;
  ASSERT_TRUE(m->write(kBase + 5 * kPageSize + 4, &insn, 4).ok());
  using Range = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(l.code_invalidations, std::vector<Range>{Range(kBase + 5 * kPageSize + 4, 4)});
  EXPECT_FALSE(m->has_code(5)) << "no listener holds code from the page any more";
}

// The listener is told exactly which bytes are written, page by page, and
// the page stays marked while a listener still holds code from it.
TEST(GuestMemory, CodeInvalidationGetsTheWrittenRange) {
  auto m = make();
  CountingListener l;
  l.keeps_code = true;
  m->add_listener(&l);
  m->mark_code(5);
  m->mark_code(6);
  std::vector<uint8_t> bytes(100, 0x13);
  const uint64_t at = kBase + 6 * kPageSize - 40;  // 40 bytes in page 5, 60 in page 6
  ASSERT_TRUE(m->write(at, bytes.data(), bytes.size()).ok());
  using Range = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(l.code_invalidations, (std::vector<Range>{Range(at, 40), Range(kBase + 6 * kPageSize, 60)}));
  EXPECT_TRUE(m->has_code(5));
  EXPECT_TRUE(m->has_code(6));
  l.code_invalidations.clear();
  m->prepare_write(kBase + 5 * kPageSize + 0x100, 8);
  m->prepare_write(kBase + 5 * kPageSize + 0xf00);  // no length: the rest of the page
  m->prepare_write(kBase + 7 * kPageSize);          // not code: nobody is told
  EXPECT_EQ(l.code_invalidations, (std::vector<Range>{Range(kBase + 5 * kPageSize + 0x100, 8),
                                                      Range(kBase + 5 * kPageSize + 0xf00, 0x100)}));
}

// A resync's page load: contents replaced behind the dirty logs, code
// dropped page by page, or all at once beyond kDropCodePages code pages.
TEST(GuestMemory, LoadPagesWritesBehindTheDirtyLogs) {
  auto m = make(4096 * kPageSize);
  CountingListener l;
  m->add_listener(&l);
  auto log = m->open_dirty_log("test");
  std::vector<uint8_t> seen;
  auto hook = m->add_write_hook("cow", [&](size_t p) { seen.push_back(m->page_host(p)[0]); });
  m->page_host(3)[0] = 0xaa;
  hook->protect(std::vector<uint32_t>{3});
  m->mark_code(5);
  m->mark_absent_all();
  m->set_loader([&](size_t p) { m->mark_present(p); });
  std::vector<uint8_t> data(3 * kPageSize);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i / kPageSize + 1);
  const uint32_t pages[] = {3, 5, 9};
  m->load_pages(pages, data.data());
  using Range = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(l.code_invalidations, std::vector<Range>{Range(kBase + 5 * kPageSize, kPageSize)});
  EXPECT_FALSE(m->has_code(5));
  EXPECT_EQ(l.code_drops, 0);
  EXPECT_EQ(seen, std::vector<uint8_t>{0xaa}) << "the write hook saw the old contents";
  for (size_t i = 0; i < 3; i++) {
    EXPECT_FALSE(m->is_absent(pages[i]));
    EXPECT_TRUE(m->is_populated(pages[i]));
    EXPECT_EQ(m->page_host(pages[i])[kPageSize - 1], i + 1);
  }
  EXPECT_TRUE(log->end_epoch().empty()) << "loaded pages are in a dirty log";
  EXPECT_FALSE(m->dirty().any());

  // Many code pages: one sweep.
  std::vector<uint32_t> many;
  for (uint32_t p = 0; p <= GuestMemory::kDropCodePages; p++) {
    m->mark_code(p);
    many.push_back(p);
  }
  l.code_invalidations.clear();
  std::vector<uint8_t> zeros(many.size() * kPageSize);
  m->load_pages(many, zeros.data());
  EXPECT_EQ(l.code_drops, 1);
  EXPECT_TRUE(l.code_invalidations.empty());
  EXPECT_FALSE(m->has_code(0));
}

struct Reg : MmioDevice {
  uint64_t value = 0;
  bool load(uint64_t off, unsigned, uint64_t* v) override {
    *v = value + off;
    return true;
  }
  bool store(uint64_t, unsigned, uint64_t v) override {
    value = v;
    return true;
  }
};

TEST(PhysBus, RoutesAndRejectsOverlaps) {
  auto m = make();
  PhysBus bus(*m);
  Reg a, b;
  ASSERT_TRUE(bus.map(0x10000000, 0x100, &a, "uart").ok());
  ASSERT_TRUE(bus.map(0x2000000, 0x10000, &b, "clint").ok());
  auto overlap = bus.map(0x100000f0, 0x100, &b, "other");
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.error().message().find("overlaps uart"), std::string::npos);
  EXPECT_FALSE(bus.map(kBase, 0x1000, &b, "ramclash").ok());
  EXPECT_TRUE(bus.store(0x10000000, 1, 42));
  uint64_t v = 0;
  EXPECT_TRUE(bus.load(0x10000004, 1, &v));
  EXPECT_EQ(v, 46u);
  EXPECT_FALSE(bus.load(0x10000100, 1, &v));
  EXPECT_FALSE(bus.load(0x100000fe, 4, &v)) << "an access crossing the region's end faults";
  EXPECT_TRUE(bus.load(0x2000008, 8, &v));
}

}  // namespace
}  // namespace tandem::mem
