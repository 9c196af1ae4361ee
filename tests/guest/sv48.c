// Sv48 (privileged spec 4.5): the shared paging tests in vm.c with a
// four-level walk, plus 512 GiB pages, addresses that need 48 bits and
// the canonical-address rule for 48 bits.
#include "vm.h"

int main(void) {
  rt_pmp_allow_all();
  vm_init(4);
  printf("satp mode %lu\n", csr_read(satp) >> 60);
  vm_run_common();
  printf("-- Sv48 address space\n");
  // 512 GiB page at VA 512 GiB -> PA 0 (aligned); RAM appears at +2 GiB.
  vm_map(0x8000000000ul, 0, 3, PTE_V | PTE_R | PTE_A);
  // Misaligned 512 GiB page.
  vm_map(0x10000000000ul, RAM_BASE, 3, PTE_V | PTE_R | PTE_A);
  // 4 KiB pages at the top of the lower half and the bottom of the upper.
  extern char __end[];
  (void)__end;
  static uint64_t data[512] __attribute__((aligned(4096)));
  for (int i = 0; i < 512; i++) data[i] = 0x4848484800000000ull + i;
  vm_map(0x00007ffffffff000ul, (uint64_t)data, 0, PTE_V | PTE_R | PTE_W);
  vm_map(0xffff800000000000ul, (uint64_t)data, 0, PTE_V | PTE_R | PTE_A | PTE_D);
  asm volatile("sfence.vma" ::: "memory");
  vm_probe("S load 512 GiB page", PRV_S, PROBE_LOAD, 0x8000000000ul + (uint64_t)data + 8);
  vm_probe("S load misaligned 512 GiB page", PRV_S, PROBE_LOAD, 0x10000000000ul);
  vm_probe("S load top of lower half", PRV_S, PROBE_LOAD, 0x00007ffffffff000ul + 0xff8);
  vm_probe("S store top of lower half", PRV_S, PROBE_STORE, 0x00007ffffffff000ul + 0x10);
  vm_probe("S load bottom of upper half", PRV_S, PROBE_LOAD, 0xffff800000000000ul + 0x10);
  // Bits 63:48 must equal bit 47.
  vm_probe("S load non-canonical (bit 47 set only)", PRV_S, PROBE_LOAD, 0x0000800000000000ul);
  vm_probe("S load non-canonical (bit 48)", PRV_S, PROBE_LOAD, 0x0001000000000000ul);
  vm_probe("S store non-canonical", PRV_S, PROBE_STORE, 0xfffe000000000000ul);
  vm_probe("S fetch non-canonical", PRV_S, PROBE_FETCH, 0x7fff00000000f000ul);
  csr_write(satp, 0);
  printf("sv48 done\n");
  return 0;
}
