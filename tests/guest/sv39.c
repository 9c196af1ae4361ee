// Sv39 (privileged spec 4.4): the shared paging tests in vm.c, plus the
// canonical-address rule for 39 bits and the upper half of the space.
#include "vm.h"

int main(void) {
  rt_pmp_allow_all();
  vm_init(3);
  printf("satp mode %lu\n", csr_read(satp) >> 60);
  vm_run_common();
  printf("-- Sv39 address space\n");
  // Bits 63:39 must equal bit 38.
  vm_probe("S load non-canonical (bit 39 set)", PRV_S, PROBE_LOAD, 0x8000000000ul);
  vm_probe("S store non-canonical (bit 63 only)", PRV_S, PROBE_STORE, 0x8000000000001000ul);
  vm_probe("S fetch non-canonical", PRV_S, PROBE_FETCH, 0x4000000000ul + 0x1000);
  // The top of the upper half: a 1 GiB page at VA -1 GiB.
  vm_map(0xffffffffc0000000ul, RAM_BASE, 2, PTE_V | PTE_R | PTE_A);
  asm volatile("sfence.vma" ::: "memory");
  vm_probe("S load upper half", PRV_S, PROBE_LOAD, 0xffffffffc0000000ul + 0x100);
  csr_write(satp, 0);
  printf("sv39 done\n");
  return 0;
}
