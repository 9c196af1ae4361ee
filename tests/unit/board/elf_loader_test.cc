#include "board/elf_loader.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace tandem::board {
namespace {

constexpr uint64_t kBase = 0x80000000;

// Writes a minimal ELF64 with one PT_LOAD segment.
std::string write_elf(const std::string& name, uint16_t machine, uint64_t paddr,
                      const std::vector<uint8_t>& payload, uint64_t memsz) {
  std::string path = ::testing::TempDir() + name;
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_entry = paddr + 4;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = sizeof eh + sizeof ph;
  ph.p_vaddr = ph.p_paddr = paddr;
  ph.p_filesz = payload.size();
  ph.p_memsz = memsz;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&eh), sizeof eh);
  out.write(reinterpret_cast<const char*>(&ph), sizeof ph);
  out.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  return path;
}

std::unique_ptr<mem::GuestMemory> ram(uint64_t size = 1 << 20) {
  return std::move(mem::GuestMemory::create(kBase, size)).value();
}

TEST(ElfLoader, LoadsSegmentAndZeroesBss) {
  auto m = ram();
  m->page_host(1)[0x10] = 0xff;
  auto path = write_elf("ok.elf", EM_RISCV, kBase + 0x1000, {1, 2, 3, 4}, 0x20);
  auto img = load_elf(path, *m);
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->entry, kBase + 0x1004);
  EXPECT_EQ(m->page_host(1)[2], 3);
  EXPECT_EQ(m->page_host(1)[0x10], 0) << ".bss must be zeroed";
  EXPECT_TRUE(is_elf(path));
}

TEST(ElfLoader, RejectsOtherMachines) {
  auto m = ram();
  auto img = load_elf(write_elf("x86.elf", EM_X86_64, kBase, {1}, 1), *m);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message().find("not a RISC-V ELF"), std::string::npos) << img.error().message();
}

TEST(ElfLoader, RejectsSegmentsOutsideRam) {
  auto m = ram();
  auto img = load_elf(write_elf("big.elf", EM_RISCV, kBase, {1}, 2 << 20), *m);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message().find("does not fit in guest RAM"), std::string::npos)
      << img.error().message();
}

TEST(ElfLoader, RejectsTruncatedAndMissingFiles) {
  auto m = ram();
  std::string path = ::testing::TempDir() + "short.elf";
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
  std::string path = ::testing::TempDir() + "raw.bin";
  std::ofstream(path, std::ios::binary) << std::string(70 << 10, 'x');
  auto r = load_raw(path, kBase, *m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("try a larger -m"), std::string::npos);
}

}  // namespace
}  // namespace tandem::board
