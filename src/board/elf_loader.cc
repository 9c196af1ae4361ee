#include "board/elf_loader.h"

#include <elf.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

namespace tandem::board {

namespace {

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error("open '" + path + "'");
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return sys_error("read '" + path + "'");
  return data;
}

Status fits(const mem::GuestMemory& ram, uint64_t gpa, uint64_t len, const std::string& what) {
  if (!ram.contains(gpa, len ? len : 1))
    return Error(what + " at " + hex(gpa) + "-" + hex(gpa + len) + " does not fit in guest RAM " +
                 hex(ram.base()) + "-" + hex(ram.base() + ram.size()) + " (try a larger -m)");
  return Ok();
}

}  // namespace

bool is_elf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && magic[0] == ELFMAG0 && magic[1] == ELFMAG1 && magic[2] == ELFMAG2 && magic[3] == ELFMAG3;
}

Result<LoadedImage> load_elf(const std::string& path, mem::GuestMemory& ram) {
  auto data = read_file(path);
  if (!data.ok()) return data.error();
  const auto& d = *data;
  auto bad = [&](const std::string& why) { return Error("load '" + path + "': " + why); };
  if (d.size() < sizeof(Elf64_Ehdr)) return bad("too short to be an ELF file");
  Elf64_Ehdr eh;
  std::memcpy(&eh, d.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return bad("not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return bad("not a 64-bit ELF file");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return bad("not a little-endian ELF file");
  if (eh.e_machine != EM_RISCV)
    return bad("not a RISC-V ELF file (e_machine " + std::to_string(eh.e_machine) + ")");
  if (eh.e_type != ET_EXEC) return bad("not an executable ELF file (e_type " + std::to_string(eh.e_type) + ")");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > d.size() ||
      uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > d.size() - eh.e_phoff)
    return bad("program headers lie outside the file");

  LoadedImage img;
  img.entry = eh.e_entry;
  img.lowest = UINT64_MAX;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, d.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz) return bad("segment " + std::to_string(i) + " has filesz > memsz");
    if (ph.p_offset > d.size() || ph.p_filesz > d.size() - ph.p_offset)
      return bad("segment " + std::to_string(i) + " lies outside the file");
    auto ok = fits(ram, ph.p_paddr, ph.p_memsz, "segment " + std::to_string(i));
    if (!ok.ok()) return ok.error().context("load '" + path + "'");
    TANDEM_TRY(ram.write(ph.p_paddr, d.data() + ph.p_offset, ph.p_filesz));
    std::vector<uint8_t> zeros(ph.p_memsz - ph.p_filesz, 0);
    TANDEM_TRY(ram.write(ph.p_paddr + ph.p_filesz, zeros.data(), zeros.size()));
    img.lowest = std::min<uint64_t>(img.lowest, ph.p_paddr);
    img.highest = std::max<uint64_t>(img.highest, ph.p_paddr + ph.p_memsz);
  }
  if (img.lowest == UINT64_MAX) return bad("no loadable segments");
  return img;
}

namespace {
Result<std::string> read_head(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error("open '" + path + "'");
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}
}  // namespace

Status check_kernel_image(const std::string& path) {
  auto head = read_head(path, 64);
  if (!head.ok()) return head.error();
  if (head->size() >= 4 && head->compare(0, 4, "\x7f" "ELF") == 0) return Ok();
  // Linux's RISC-V boot image header (Documentation/riscv/boot-image-header.rst).
  if (head->size() >= 56 && head->compare(48, 8, std::string("RISCV\0\0\0", 8)) == 0) return Ok();
  return Error("kernel '" + path + "' is neither a RISC-V Linux Image nor an ELF file");
}

Status check_initrd(const std::string& path) {
  auto head = read_head(path, 6);
  if (!head.ok()) return head.error();
  const std::string& h = *head;
  auto starts = [&](const char* magic, size_t n) { return h.size() >= n && h.compare(0, n, magic, n) == 0; };
  // cpio newc/crc, or the compressors Linux can unpack an initramfs with.
  if (starts("070701", 6) || starts("070702", 6) || starts("\x1f\x8b", 2) || starts("\xfd" "7zXZ", 5) ||
      starts("\x28\xb5\x2f\xfd", 4) || starts("\x02\x21\x4c\x18", 4) || starts("BZh", 3) ||
      starts("\x5d\x00", 2) || starts("\x89LZO", 4))
    return Ok();
  return Error("initrd '" + path + "' is not a cpio archive (plain or gzip, xz, zstd, lz4, bzip2, lzma, lzo)");
}

Result<LoadedImage> load_raw(const std::string& path, uint64_t gpa, mem::GuestMemory& ram) {
  auto data = read_file(path);
  if (!data.ok()) return data.error();
  auto ok = fits(ram, gpa, data->size(), "'" + path + "' (" + std::to_string(data->size()) + " bytes)");
  if (!ok.ok()) return ok.error();
  TANDEM_TRY(ram.write(gpa, data->data(), data->size()));
  return LoadedImage{gpa, gpa, gpa + data->size()};
}

}  // namespace tandem::board
