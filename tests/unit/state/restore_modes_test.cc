// Machine-level save/restore without Linux: a bare-metal program scribbles
// over 1 MiB of RAM; its state is captured mid-run and restored in each
// mode, and the restored machine must then compute exactly what the
// original computes (same registers, same memory), whatever order its
// pages arrive in.
#include <elf.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "../cpu/rv_asm.h"
#include "state/machine_snapshot.h"
#include "state/restore.h"
#include "state/snapshot_file.h"

namespace tandem::state {
namespace {

constexpr uint64_t kBase = 0x80000000;

// x5 = data base, x6 = counter; each step picks a pseudo-random page of
// 256 and adds the counter to a word in it.
std::vector<uint8_t> scribbler() {
  cpu::test::Asm a(kBase);
  a.li(5, kBase + (1 << 20));
  a.li(6, 0);
  a.li(9, 2654435761);
  a.bind("loop");
  a.op(1, 0, 7, 6, 9);  // mul x7, x6, x9
  a.srli(7, 7, 7);
  a.andi(8, 7, 0xff);
  a.slli(8, 8, 12);
  a.andi(7, 7, 0x1f8);  // offset in the page, 8-byte aligned
  a.add(8, 8, 7);
  a.add(8, 8, 5);
  a.ld(10, 8, 0);
  a.add(10, 10, 6);
  a.sd(10, 8, 0);
  a.addi(6, 6, 1);
  a.jal(0, "loop");
  a.finish();
  return a.bytes();
}

// Test processes run in parallel (ctest -j): names carry the pid.
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + std::to_string(::getpid()) + "-" + name;
}

std::string write_elf(const std::vector<uint8_t>& code) {
  std::string path = temp_path("scribbler.elf");
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_RISCV;
  eh.e_version = EV_CURRENT;
  eh.e_entry = kBase;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = sizeof eh + sizeof ph;
  ph.p_vaddr = ph.p_paddr = kBase;
  ph.p_filesz = ph.p_memsz = code.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&eh), sizeof eh);
  out.write(reinterpret_cast<const char*>(&ph), sizeof ph);
  out.write(reinterpret_cast<const char*>(code.data()), static_cast<std::streamsize>(code.size()));
  return path;
}

board::MachineConfig config() {
  board::MachineConfig c;
  c.ram_size = 16ull << 20;
  c.bios = "none";
  c.kernel = write_elf(scribbler());
  c.rng = false;
  c.icount = true;
  return c;
}

std::vector<uint8_t> memory_of(board::Machine& m) {
  std::vector<uint8_t> bytes(m.ram().size());
  EXPECT_TRUE(m.ram().read(m.ram().base(), bytes.data(), bytes.size()).ok());  // loads absent pages
  return bytes;
}

class RestoreModes : public ::testing::TestWithParam<RestoreMode> {};

TEST_P(RestoreModes, RestoredMachineComputesWhatTheOriginalDoes) {
  auto made = board::Machine::create(config());
  ASSERT_TRUE(made.ok()) << made.error().message();
  board::Machine& m = **made;
  m.hart().run(200'000);
  m.ram().start_trace();
  m.hart().run(50'000);
  Snapshot snap = capture_machine(m);
  snap.active_pages = m.ram().stop_trace();
  ASSERT_FALSE(snap.active_pages.empty());
  std::string path = temp_path(std::string(restore_mode_name(GetParam())) + ".snap");
  auto written = write_snapshot(path, snap, m.ram());
  ASSERT_TRUE(written.ok()) << written.error().message();

  m.hart().run(300'000);
  const cpu::HartState want_hart = m.hart().save();
  const std::vector<uint8_t> want_mem = memory_of(m);

  auto r = Restore::open(path, GetParam(), nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  board::Machine& restored = (*r)->machine();
  EXPECT_EQ(restored.hart().instret(), snap.harts[0].instret);
  (*r)->start();
  restored.hart().run(300'000);
  EXPECT_EQ(restored.hart().save(), want_hart);
  EXPECT_EQ(memory_of(restored), want_mem) << "memory differs after " << restore_mode_name(GetParam());

  RestoreReport rep = (*r)->report();
  EXPECT_EQ(rep.active_pages, snap.active_pages.size());
  if (GetParam() == RestoreMode::kLazy) {
    EXPECT_EQ(rep.pages_prefetched, 0u);
    EXPECT_GT(rep.pages_on_demand, 0u) << "the lazy restore loaded nothing on demand";
  }
  if (GetParam() == RestoreMode::kWorkingSet) {
    EXPECT_GE(rep.pages_prefetched, snap.active_pages.size()) << "the working set was not loaded first";
  }
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
  EXPECT_NE(st.error().message().find("2 harts"), std::string::npos) << st.error().message();
  Snapshot no_clock = capture_machine(**made);
  for (auto& [k, v] : no_clock.config)
    if (k == "clock_ticks") v = "soon";
  auto st2 = apply_machine(no_clock, **made);
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.error().message().find("clock_ticks"), std::string::npos);
}

}  // namespace
}  // namespace tandem::state
