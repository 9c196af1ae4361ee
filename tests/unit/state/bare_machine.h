// A bare-metal machine for the save/restore tests: a program that
// scribbles over 1 MiB of RAM forever, run with --icount so that any two
// runs to the same instruction count agree byte for byte.
#pragma once

#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../cpu/rv_asm.h"
#include "../elf_writer.h"
#include "board/machine.h"
#include "state/machine_snapshot.h"
#include "state/snapshot_file.h"
#include "state/snapshot_format.h"

namespace tandem::state::testing {

constexpr uint64_t kBase = 0x80000000;

// x5 = data base, x6 = counter; each step picks a pseudo-random page of
// 256 and adds the counter to a word in it.
inline std::vector<uint8_t> scribbler() {
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

// Test processes run in parallel (ctest -j): each has its own directory,
// removed with everything in it when the process exits (the files of a
// test that failed half-way included).
inline std::string temp_path(const std::string& name) {
  struct ProcessDir {
    std::string path;
    ProcessDir() {
      std::string tmpl = ::testing::TempDir() + "tandem-bare-XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl << ": " << strerror(errno);
      path = tmpl;
    }
    ~ProcessDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static ProcessDir dir;
  return dir.path + "/" + name;
}

inline std::string write_elf(const std::vector<uint8_t>& code) {
  std::string path = temp_path("scribbler.elf");
  test::write_elf_file(path, EM_RISCV, kBase, kBase, code, code.size());
  return path;
}

inline board::MachineConfig config() {
  board::MachineConfig c;
  c.ram_size = 16ull << 20;
  c.bios = "none";
  c.kernel = write_elf(scribbler());
  c.rng = false;
  c.icount = true;
  return c;
}

inline std::vector<uint8_t> memory_of(board::Machine& m) {
  std::vector<uint8_t> bytes(m.ram().size());
  EXPECT_TRUE(m.ram().read(m.ram().base(), bytes.data(), bytes.size()).ok());  // loads absent pages
  return bytes;
}

// Runs to exactly `instret` retired instructions.
// A hart that stops retiring (a trap loop on memory restored wrong) fails
// the test instead of hanging it.
inline void run_to(board::Machine& m, uint64_t instret) {
  for (int stalled = 0; m.hart(0).instret() < instret;) {
    uint64_t before = m.hart(0).instret();
    m.hart(0).run(instret - before);
    stalled = m.hart(0).instret() == before ? stalled + 1 : 0;
    ASSERT_LT(stalled, 1000) << "the hart stopped retiring instructions at " << before;
  }
  ASSERT_EQ(m.hart(0).instret(), instret);
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Flips a bit in the middle of memory block `block`'s stored bytes and
// returns the file's bytes as now written.
inline std::vector<uint8_t> damage_block(const std::string& path, uint32_t block) {
  std::vector<uint8_t> bytes = read_file(path);
  format::Header h = format::parse_header(bytes.data());
  format::BlockEntry e = format::parse_block_entry(bytes.data() + h.index_offset + block * format::kBlockEntrySize);
  bytes[e.offset + e.stored_size / 2] ^= 0x10;
  write_file(path, bytes);
  return bytes;
}

// Runs `m` for `instructions` with its pages traced and its blocks logged,
// and saves it to `path` with that working set.
inline Snapshot save_traced(board::Machine& m, uint64_t instructions, const std::string& path) {
  m.ram().start_trace();
  m.hart(0).start_block_log();
  m.hart(0).run(instructions);
  Snapshot snap = capture_machine(m);
  set_working_set(snap, m, m.ram().stop_trace());
  auto written = write_snapshot(path, snap, m.ram());
  EXPECT_TRUE(written.ok()) << written.error().message();
  return snap;
}

}  // namespace tandem::state::testing
