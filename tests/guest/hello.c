// Smallest check of the boot contract: entry in M-mode with a0 = hart id
// and a1 pointing at a flattened device tree; console output; exit code.
#include "rt.h"

extern uint64_t rt_boot_hartid, rt_boot_dtb;

int main(void) {
  printf("hello from the guest\n");
  printf("hartid (a0): %lx\n", rt_boot_hartid);
  printf("mhartid: %lx\n", csr_read(mhartid));
  // The device tree itself differs between boards; its magic must not.
  const volatile uint8_t* dtb = (const volatile uint8_t*)rt_boot_dtb;
  uint32_t magic = (uint32_t)dtb[0] << 24 | (uint32_t)dtb[1] << 16 | (uint32_t)dtb[2] << 8 | dtb[3];
  printf("fdt magic at a1: %x\n", magic);
  printf("a1 is 8-byte aligned: %d\n", (int)((rt_boot_dtb & 7) == 0));
  uint64_t mstatus = csr_read(mstatus);
  printf("mstatus.MPRV=%d MIE=%d\n", (int)!!(mstatus & MSTATUS_MPRV), (int)!!(mstatus & MSTATUS_MIE));
  printf("printf: [%d] [%5d] [%05x] [%s] [%c] [%lu]\n", -42, 17, 0xab, "str", 'z', 18446744073709551615ul);
  return 0;
}
