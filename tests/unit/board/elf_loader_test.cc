#include "board/elf_loader.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "../elf_writer.h"
#include "../temp_dir.h"

namespace tandem::board {
namespace {

constexpr uint64_t kBase = 0x80000000;

std::string write_elf(const test::TempDir& dir, const std::string& name, uint16_t machine, uint64_t paddr,
                      const std::vector<uint8_t>& payload, uint64_t memsz) {
  std::string path = dir.file(name);
  test::write_elf_file(path, machine, paddr, paddr + 4, payload, memsz);
  return path;
}

std::unique_ptr<mem::GuestMemory> ram(uint64_t size = 1 << 20) {
  return std::move(mem::GuestMemory::create(kBase, size)).value();
}

TEST(ElfLoader, LoadsSegmentAndZeroesBss) {
  test::TempDir dir;
  auto m = ram();
  m->page_host(1)[0x10] = 0xff;
  auto path = write_elf(dir, "ok.elf", EM_RISCV, kBase + 0x1000, {1, 2, 3, 4}, 0x20);
  auto img = load_elf(path, *m);
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->entry, kBase + 0x1004);
  EXPECT_EQ(m->page_host(1)[2], 3);
  EXPECT_EQ(m->page_host(1)[0x10], 0) << ".bss must be zeroed";
  EXPECT_TRUE(is_elf(path));
}

TEST(ElfLoader, RejectsOtherMachines) {
  test::TempDir dir;
  auto m = ram();
  auto img = load_elf(write_elf(dir, "x86.elf", EM_X86_64, kBase, {1}, 1), *m);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message().find("not a RISC-V ELF"), std::string::npos) << img.error().message();
}

TEST(ElfLoader, RejectsSegmentsOutsideRam) {
  test::TempDir dir;
  auto m = ram();
  auto img = load_elf(write_elf(dir, "big.elf", EM_RISCV, kBase, {1}, 2 << 20), *m);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message().find("does not fit in guest RAM"), std::string::npos)
      << img.error().message();
}

TEST(ElfLoader, RejectsTruncatedAndMissingFiles) {
  auto m = ram();
  test::TempDir dir;
  std::string path = dir.file("short.elf");
  std::ofstream(path) << "\x7f" "ELF";
  auto img = load_elf(path, *m);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message().find("too short"), std::string::npos);
  auto missing = load_elf("/nonexistent/k.elf", *m);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);
}

TEST(RawLoader, FitsOrSaysSo) {
  auto m = ram(64 << 10);
  test::TempDir dir;
  std::string path = dir.file("raw.bin");
  std::ofstream(path, std::ios::binary) << std::string(70 << 10, 'x');
  auto r = load_raw(path, kBase, *m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("try a larger -m"), std::string::npos);
}

}  // namespace
}  // namespace tandem::board
