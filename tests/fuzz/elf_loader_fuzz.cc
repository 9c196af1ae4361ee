// Harness: the ELF loader (board/elf_loader.h) on an arbitrary file, into a
// small RAM, plus the kernel/initrd sniffers that run on the same files.
#include <cstdio>

#include "board/elf_loader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  static auto ram = std::move(mem::GuestMemory::create(0x80000000, 1 << 20)).value();
  fuzz::MemFile f(data, size);
  (void)board::is_elf(f.path());
  (void)board::check_kernel_image(f.path());
  (void)board::check_initrd(f.path());
  auto img = board::load_elf(f.path(), *ram);
  if (img.ok()) {
    // What was loaded lies inside RAM.
    TANDEM_FUZZ_CHECK(img->lowest <= img->highest);
    TANDEM_FUZZ_CHECK(img->lowest >= ram->base() || img->lowest == img->highest);
    TANDEM_FUZZ_CHECK(img->highest <= ram->base() + ram->size());
  } else {
    TANDEM_FUZZ_CHECK(!img.error().message().empty());
  }
  return 0;
}
