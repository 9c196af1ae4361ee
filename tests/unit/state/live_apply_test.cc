// apply_machine() into a machine that has run since it was built (a
// fault-tolerance resync): every component, changed after the save, must
// return to the saved state and then behave as in a fresh machine
// restored from the same snapshot; a run resynced to an earlier instant
// must continue exactly as the run that never left it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bare_machine.h"
#include "base/bytes.h"
#include "board/memory_map.h"
#include "state/components.h"
#include "state/machine_snapshot.h"

namespace tandem::state {
namespace {

using testing::config;
using testing::memory_of;

std::vector<uint32_t> all_pages(board::Machine& m) {
  std::vector<uint32_t> pages(m.ram().page_count());
  for (uint32_t p = 0; p < pages.size(); p++) pages[p] = p;
  return pages;
}

// The hart stops at a block's end: runs of the same state stop alike.
void run_to(board::Machine& m, uint64_t instret) {
  while (m.hart(0).instret() < instret) m.hart(0).run(instret - m.hart(0).instret());
}

uint64_t mip_of(board::Machine& m) {
  uint64_t v = 0;
  EXPECT_TRUE(m.hart(0).read_csr(0x344, &v));  // the scribbler runs in M
  return v;
}

void store(mem::MmioDevice& d, uint64_t offset, uint64_t value, unsigned size = 4) {
  ASSERT_TRUE(d.store(offset, size, value)) << "store at 0x" << std::hex << offset;
}

// Brings virtio-rng's queue 0 up as a driver would and posts one 64-byte
// buffer: the device fills it, raises its line, and its queue moves on.
void post_rng_buffer(board::Machine& m, size_t slot) {
  dev::VirtioMmio& t = m.virtio_transport(slot);
  const uint64_t ring = testing::kBase + (3 << 20), buf = ring + 0x10000;
  store(t, dev::kVirtioMmioStatus, dev::kVirtioStatusAcknowledge | dev::kVirtioStatusDriver);
  store(t, dev::kVirtioMmioDriverFeaturesSel, 1);
  store(t, dev::kVirtioMmioDriverFeatures, 1);  // VERSION_1
  store(t, dev::kVirtioMmioStatus,
        dev::kVirtioStatusAcknowledge | dev::kVirtioStatusDriver | dev::kVirtioStatusFeaturesOk);
  store(t, dev::kVirtioMmioQueueSel, 0);
  store(t, dev::kVirtioMmioQueueNum, 8);
  store(t, dev::kVirtioMmioQueueDescLow, ring);
  store(t, dev::kVirtioMmioQueueDriverLow, ring + 0x1000);
  store(t, dev::kVirtioMmioQueueDeviceLow, ring + 0x2000);
  store(t, dev::kVirtioMmioQueueReady, 1);
  store(t, dev::kVirtioMmioStatus, 0xf);
  uint8_t desc[16] = {};
  store_le<uint64_t>(desc, buf);
  store_le<uint32_t>(desc + 8, 64);
  store_le<uint16_t>(desc + 12, dev::kVirtqDescFWrite);
  ASSERT_TRUE(m.ram().write(ring, desc, sizeof desc).ok());
  const uint16_t avail[3] = {0, 1, 0};  // flags, idx, ring[0]
  ASSERT_TRUE(m.ram().write(ring + 0x1000, avail, sizeof avail).ok());
  store(t, dev::kVirtioMmioQueueNotify, 0);
}

board::MachineConfig rng_config() {
  board::MachineConfig c = config();
  c.rng = true;
  return c;
}

// Changes every component after `saved`: the hart runs on, the guest-side
// registers of each device are written, lines are raised, a virtio
// buffer is used, and the hart is left waiting in WFI.
void change_everything(board::Machine& m) {
  run_to(m, m.hart(0).instret() + 300'000);
  store(m.plic(), dev::kPlicPriorityBase + 4 * board::kUartIrq, 5);
  store(m.plic(), dev::kPlicEnableBase, 0xffe);
  store(m.plic(), dev::kPlicContextBase + dev::kPlicThreshold, 3);
  m.plic().set_irq(board::kRtcIrq, true);  // a level no device drives
  store(m.clint(), dev::kClintMsipBase, 1);
  store(m.clint(), dev::kClintMtimecmpBase, 0, 8);  // due: MTIP rises
  store(m.uart(), 7, 0x5a, 1);                      // scr
  store(m.uart(), 1, 0x0f, 1);                      // ier: THR empty raises the line
  store(m.rtc(), dev::kRtcAlarmHigh, 0x10);
  store(m.rtc(), dev::kRtcAlarmLow, 0x1000);
  store(m.rtc(), dev::kRtcIrqEnabled, 1);
  post_rng_buffer(m, 0);
  m.set_waiting_for_interrupt(true);
}

TEST(LiveApply, EveryComponentReturnsToTheSavedStateAndActsAsAFreshRestore) {
  auto made = board::Machine::create(rng_config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  run_to(m, 200'000);
  const Snapshot saved = capture_machine(m);
  const std::vector<uint8_t> saved_mem = memory_of(m);
  const uint64_t saved_mip = mip_of(m);

  change_everything(m);
  const Snapshot changed = capture_machine(m);
  // Each change took: otherwise the test proves nothing about it.
  EXPECT_NE(changed.harts, saved.harts);
  EXPECT_NE(changed.plic, saved.plic);
  EXPECT_NE(changed.clint, saved.clint);
  EXPECT_NE(changed.uart, saved.uart);
  EXPECT_NE(changed.rtc, saved.rtc);
  ASSERT_EQ(changed.virtio.size(), 1u);
  EXPECT_NE(changed.virtio[0].transport, saved.virtio[0].transport);
  EXPECT_NE(changed.config, saved.config);  // clock ticks, the WFI wait
  EXPECT_NE(mip_of(m), saved_mip);
  EXPECT_NE(memory_of(m), saved_mem);

  const std::vector<uint32_t> pages = all_pages(m);
  ASSERT_TRUE(load_pages_live(m, pages, saved_mem.data()).ok());
  Status st = apply_machine(saved, m);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(capture_machine(m), saved);
  EXPECT_FALSE(m.waiting_for_interrupt());
  EXPECT_EQ(mip_of(m), saved_mip) << "interrupt levels were not driven again";
  EXPECT_EQ(memory_of(m), saved_mem);

  // A fresh machine restored from the same state.
  auto cfg = config_from_snapshot(saved);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto fresh_made = board::Machine::create_empty(*cfg);
  ASSERT_TRUE(fresh_made.ok()) << fresh_made.error().message();
  board::Machine& fresh = **fresh_made;
  ASSERT_TRUE(load_pages_live(fresh, pages, saved_mem.data()).ok());
  ASSERT_TRUE(apply_machine(saved, fresh).ok());
  EXPECT_EQ(mip_of(fresh), saved_mip);

  // Both run on, and the rng queue serves a second buffer in each.
  for (board::Machine* x : {&m, &fresh}) {
    run_to(*x, saved.harts[0].instret + 400'000);
    post_rng_buffer(*x, 0);
  }
  EXPECT_EQ(capture_machine(m), capture_machine(fresh));
  EXPECT_EQ(mip_of(m), mip_of(fresh));
  EXPECT_EQ(memory_of(m), memory_of(fresh));
}

TEST(LiveApply, ARefusedStateChangesNothing) {
  auto made = board::Machine::create(rng_config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  run_to(m, 100'000);
  const Snapshot good = capture_machine(m);
  run_to(m, 150'000);
  const Snapshot before = capture_machine(m);

  // Valid for the hart (applied first), invalid for the UART.
  Snapshot bad = good;
  bad.uart->ier = 0xff;
  Status st = apply_machine(bad, m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("uart"), std::string::npos) << st.error().message();
  EXPECT_EQ(capture_machine(m), before);

  // A component the machine does not have.
  Snapshot extra = good;
  extra.virtio.push_back({5, good.virtio[0].transport, dev::VirtioRng::State{}});
  st = apply_machine(extra, m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("virtio-mmio5"), std::string::npos) << st.error().message();
  // One the snapshot lacks.
  Snapshot lacking = good;
  lacking.virtio.clear();
  st = apply_machine(lacking, m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("virtio-rng0"), std::string::npos) << st.error().message();
  EXPECT_EQ(capture_machine(m), before);

  // A page outside RAM: refused before any page is written.
  const std::vector<uint8_t> mem_before = memory_of(m);
  std::vector<uint8_t> data(2 * mem::kPageSize, 0xab);
  const uint32_t pages[] = {0, static_cast<uint32_t>(m.ram().page_count())};
  st = load_pages_live(m, pages, data.data());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("outside RAM"), std::string::npos) << st.error().message();
  EXPECT_EQ(memory_of(m), mem_before);
}

// Another program (x9 = 77, then a counting loop), loaded over the
// scribbler's code page while its blocks are decoded, must be what runs
// next; and the load is no write of this guest's.
TEST(LiveApply, LoadedPagesDropDecodedCodeAndStayOutOfDirtyLogs) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  run_to(m, 100'000);  // page 0's code is decoded
  auto log = m.ram().open_dirty_log("test");
  (void)log->end_epoch();

  cpu::test::Asm a(testing::kBase);
  a.li(9, 77);
  a.bind("spin");
  a.addi(6, 6, 1);
  a.jal(0, "spin");
  a.finish();
  std::vector<uint8_t> page(mem::kPageSize, 0);
  std::memcpy(page.data(), a.bytes().data(), a.bytes().size());
  const uint32_t code_page[] = {0};
  ASSERT_TRUE(load_pages_live(m, code_page, page.data()).ok());
  m.hart(0).set_pc(testing::kBase);
  run_to(m, 200'000);
  EXPECT_EQ(m.hart(0).reg(9), 77u) << "a block decoded from the old contents ran";

  std::vector<uint32_t> dirty = log->end_epoch();
  EXPECT_TRUE(std::find(dirty.begin(), dirty.end(), 0u) == dirty.end()) << "the loaded page is in a dirty log";
  EXPECT_TRUE(m.ram().is_populated(0));
}

// A resync keeps the secondary's own network backend but takes the frames
// the primary's NIC held for its guest (ApplyOptions::backends = false).
TEST(LiveApply, WithoutBackendsANicKeepsItsBackendAndTakesTheWaitingFrames) {
  board::MachineConfig c = config();
  c.nets = {"user"};
  auto made = board::Machine::create(c);
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  run_to(m, 100'000);
  Snapshot primary = capture_machine(m);
  ASSERT_EQ(primary.nics.size(), 1u);
  const net::BackendState own = primary.nics[0].backend;
  primary.nics[0].rx_frames = {std::vector<uint8_t>(60, 0xee), std::vector<uint8_t>(64, 0x11)};
  primary.nics[0].backend.kind = net::BackendState::Kind::kTap;  // not what this machine runs
  primary.nics[0].backend.slirp.clear();
  primary.nics[0].backend.timer_ids.clear();
  primary.nics[0].backend.timer_left_ms.clear();
  primary.nics[0].backend.frames.clear();
  run_to(m, 150'000);
  const Snapshot before = capture_machine(m);

  // With the backends, the backend's check refuses it before anything changes.
  Status st = apply_machine(primary, m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("nic0"), std::string::npos) << st.error().message();
  EXPECT_EQ(capture_machine(m), before);

  st = apply_machine(primary, m, ApplyOptions{.backends = false});
  ASSERT_TRUE(st.ok()) << st.error().message();
  const Snapshot after = capture_machine(m);
  EXPECT_EQ(after.nics[0].rx_frames, primary.nics[0].rx_frames);
  EXPECT_EQ(after.nics[0].backend, own);
  EXPECT_EQ(after.harts, primary.harts);
}

// --- whole runs through Machine::run(), slice hooks at slice boundaries ---

// Stdout (the guest console) into a file and stdin from /dev/null while
// alive.
class CapturedConsole {
 public:
  explicit CapturedConsole(const std::string& path) {
    saved_out_ = ::dup(STDOUT_FILENO);
    saved_in_ = ::dup(STDIN_FILENO);
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(in, STDIN_FILENO);
    ::close(out);
    ::close(in);
  }
  ~CapturedConsole() {
    ::dup2(saved_out_, STDOUT_FILENO);
    ::dup2(saved_in_, STDIN_FILENO);
    ::close(saved_out_);
    ::close(saved_in_);
  }

 private:
  int saved_out_, saved_in_;
};

std::string read_text(const std::string& path) {
  std::vector<uint8_t> b = testing::read_file(path);
  return std::string(b.begin(), b.end());
}

struct RunResult {
  int exit_code = -1;
  uint64_t instret = 0;
  std::string output;
  std::vector<uint8_t> memory;
  size_t output_at_save = 0, output_at_resync = 0;  // console bytes written by then
  size_t resync_pages = 0;
  Snapshot saved;  // at save_at
  std::vector<uint8_t> saved_mem;
};

// When to save and when to resync, from the slice hook: the machine and
// how many times the hook ran.
using Moment = std::function<bool(board::Machine&, int call)>;

// Runs `c` to its end (the guest's finisher, or `stop_at` instructions).
// With `save_at` and `resync_at`: at the first hook call save_at accepts,
// the state and memory are kept and a dirty log opened; at the first call
// after it that resync_at accepts, the pages the guest dirtied since
// (those only) and the state are loaded back live, as a fault-tolerance
// secondary is resynchronised. With `peer`, resync_at alone decides, and
// what is loaded is all of the peer's saved memory and state (a primary's).
RunResult run_machine(const board::MachineConfig& c, const std::string& out_path, uint64_t stop_at,
                      Moment save_at = nullptr, Moment resync_at = nullptr, const RunResult* peer = nullptr) {
  RunResult r;
  auto made = board::Machine::create(c);
  EXPECT_TRUE(made.ok()) << made.error().message();
  if (!made.ok()) return r;
  board::Machine& m = **made;
  int call = 0;
  bool saved_yet = false, resynced = false;
  std::unique_ptr<mem::DirtyLog> log;
  m.add_slice_hook([&] {
    call++;
    if (m.hart(0).instret() >= stop_at) m.request_exit(0);
    if (save_at && !saved_yet && save_at(m, call)) {
      saved_yet = true;
      r.saved = capture_machine(m);
      r.saved_mem = memory_of(m);
      log = m.ram().open_dirty_log("resync");
      r.output_at_save = std::filesystem::file_size(out_path);
    } else if (resync_at && !resynced && (saved_yet || peer) && resync_at(m, call)) {
      resynced = true;
      const RunResult& from = peer ? *peer : r;
      std::vector<uint32_t> pages = peer ? all_pages(m) : log->end_epoch();
      std::vector<uint8_t> data(pages.size() * mem::kPageSize);
      for (size_t i = 0; i < pages.size(); i++)
        std::memcpy(&data[i * mem::kPageSize], &from.saved_mem[size_t{pages[i]} * mem::kPageSize], mem::kPageSize);
      Status st = load_pages_live(m, pages, data.data());
      if (st.ok()) st = apply_machine(from.saved, m);
      EXPECT_TRUE(st.ok()) << st.error().message();
      r.resync_pages = pages.size();
      r.output_at_resync = std::filesystem::file_size(out_path);
    }
  });
  {
    CapturedConsole console(out_path);
    auto code = m.run();
    r.exit_code = code.ok() ? *code : -1;
  }
  r.instret = m.hart(0).instret();
  r.output = read_text(out_path);
  r.memory = memory_of(m);
  return r;
}

// By default: saved at the second hook call, resynced at the fourth.
void expect_resync_continues_the_run(const board::MachineConfig& c, uint64_t stop_at,
                                     Moment save_at = [](board::Machine&, int call) { return call == 2; },
                                     Moment resync_at = [](board::Machine&, int call) { return call == 4; }) {
  std::string dir = testing::temp_path("");
  RunResult ref = run_machine(c, dir + "ref.out", stop_at);
  RunResult resynced = run_machine(c, dir + "resync.out", stop_at, save_at, resync_at);
  ASSERT_GT(resynced.resync_pages, 0u);
  EXPECT_EQ(resynced.exit_code, ref.exit_code);
  EXPECT_EQ(resynced.instret, ref.instret);
  EXPECT_TRUE(resynced.memory == ref.memory) << "memory differs at the end";
  // The output between the save and the resync comes twice; the rest is
  // the uninterrupted run's.
  const std::string& out = resynced.output;
  ASSERT_GE(out.size(), resynced.output_at_resync);
  EXPECT_EQ(out.substr(0, resynced.output_at_resync), ref.output.substr(0, resynced.output_at_resync));
  EXPECT_EQ(out.substr(resynced.output_at_resync), ref.output.substr(resynced.output_at_save));
}

TEST(LiveApply, ResyncedScribblerEndsAsTheUninterruptedRun) {
  board::MachineConfig c = rng_config();
  expect_resync_continues_the_run(c, 20 * 65536);
}

// Resynced from the hook that runs as the hart starts waiting in WFI, to a
// state captured while it ran: the wait must end there, as a fresh
// restore of that state would not wait. (The scribbler never waits, and
// nothing could end its wait: under --icount a wait left on stops the
// run with an error.)
TEST(LiveApply, AResyncToARunningStateEndsTheWait) {
  board::MachineConfig c = rng_config();
  expect_resync_continues_the_run(
      c, 20 * 65536, [](board::Machine&, int call) { return call == 2; },
      [](board::Machine& m, int call) {
        if (call == 4) m.set_waiting_for_interrupt(true);  // as if its last slice ended in WFI
        return m.idle_now();
      });
}

#ifdef TANDEM_GUEST_ELF_DIR
// Timer interrupts, WFI and console output (tests/guest/irq.c), resynced
// mid-run: the output and instruction count are the uninterrupted run's.
TEST(LiveApply, ResyncedIrqGuestEndsAsTheUninterruptedRun) {
  board::MachineConfig c = config();
  c.kernel = std::string(TANDEM_GUEST_ELF_DIR) + "/irq.elf";
  if (!std::filesystem::exists(c.kernel)) GTEST_SKIP() << c.kernel << " was not built (no riscv64 gcc)";
  c.ram_size = 64ull << 20;
  expect_resync_continues_the_run(c, UINT64_MAX);
}

// A secondary resynced from a hook that runs while its hart waits in WFI,
// to all of the primary's memory and its state captured while running,
// goes on exactly as the primary does.
TEST(LiveApply, ASecondaryResyncedInWfiGoesOnAsThePrimary) {
  board::MachineConfig c = config();
  c.kernel = std::string(TANDEM_GUEST_ELF_DIR) + "/irq.elf";
  if (!std::filesystem::exists(c.kernel)) GTEST_SKIP() << c.kernel << " was not built (no riscv64 gcc)";
  c.ram_size = 64ull << 20;
  std::string dir = testing::temp_path("");
  Moment running_late = [](board::Machine& m, int) {
    return !m.waiting_for_interrupt() && m.hart(0).instret() > 2 * 65536;
  };
  RunResult primary = run_machine(c, dir + "primary.out", UINT64_MAX, running_late);
  ASSERT_FALSE(primary.saved.harts.empty()) << "the primary never ran past 2 slices";
  RunResult secondary = run_machine(c, dir + "secondary.out", UINT64_MAX, nullptr,
                                    [](board::Machine& m, int) { return m.idle_now(); }, &primary);
  ASSERT_GT(secondary.resync_pages, 0u) << "the secondary never waited in WFI";
  EXPECT_EQ(secondary.exit_code, primary.exit_code);
  EXPECT_EQ(secondary.instret, primary.instret);
  EXPECT_TRUE(secondary.memory == primary.memory) << "memory differs at the end";
  ASSERT_GE(secondary.output.size(), secondary.output_at_resync);
  EXPECT_EQ(secondary.output.substr(secondary.output_at_resync), primary.output.substr(primary.output_at_save));
}
#endif

}  // namespace
}  // namespace tandem::state
