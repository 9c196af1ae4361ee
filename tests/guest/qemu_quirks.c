// Behaviours where QEMU 7.2 (the reference) departs from the RISC-V specs
// or picks one of several allowed answers. tandem matches these only if it
// chooses to mimic QEMU, so this program's test is disabled unless
// -DTANDEM_GUEST_QUIRKS=ON (docs/guest-tests.md). Each line names the
// behaviour; the spec's answer is in the comment next to it.
#include "vm.h"

static uint32_t code[2] __attribute__((aligned(8)));
static void run_insn(const char* name, uint32_t insn, uint64_t t1) {
  code[0] = insn;
  code[1] = 0x00008067;  // ret
  asm volatile("fence.i" ::: "memory");
  rt_arm_trap();
  asm volatile("mv t1, %1\n jalr ra, 0(%0)" : : "r"(code), "r"(t1) : "ra", "t0", "t1", "memory");
  rt_report_trap(name);
}

static volatile uint64_t seq[8];
static volatile unsigned nseq;

void m_trap(struct trap_frame* f) {
  if (f->cause & MCAUSE_INT) {
    uint64_t n = f->cause & 0xff;
    if (nseq < 8) seq[nseq++] = n;
    if (n == IRQ_M_SOFT) mmio_write32(CLINT_MSIP, 0);
    else if (n == IRQ_M_TIMER) mmio_write64(CLINT_MTIMECMP, ~0ul);
    else csr_clear(mip, 1ul << n);
    return;
  }
  if (f->cause == CAUSE_BREAKPOINT) printf("  ebreak mtval %s\n", f->tval == f->epc ? "= pc" : f->tval ? "other" : "= 0");
  if (rt_expect_trap) {
    rt_record_trap(f);
    return;
  }
  printf("unexpected M trap: mcause=%lx mepc=%lx mtval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(3);
}

static uint64_t cell[2] __attribute__((aligned(16)));

int main(void) {
  rt_pmp_allow_all();
  // Spec (Zicsr 9.1): csrrs with rs1 != x0 writes the CSR, so on a
  // read-only CSR it is illegal even if rs1 holds 0. QEMU: no trap.
  run_insn("csrrs t0, mhartid, t1 with t1=0", 0xf14322f3, 0);
  // Spec (3.1.14): mepc[0] is always zero. QEMU keeps a written 1.
  csr_write(mepc, 0x80000001);
  printf("mepc after writing 0x80000001: %lx\n", csr_read(mepc));
  // Spec: mie has no VS/SGEI bits without H (and no LCOFI without
  // Sscofpmf). QEMU with h=false still keeps them.
  csr_write(mie, ~0ul);
  printf("mie after writing ~0: %lx\n", csr_read(mie));
  csr_write(mie, 0);
  // Spec (3.1.9): M-mode interrupts are taken in the order MEI, MSI, MTI,
  // SEI, SSI, STI, i.e. 3 7 9 1 5 here. QEMU without AIA: lowest number
  // first.
  csr_write(mie, 0x2aa);
  mmio_write32(CLINT_MSIP, 1);
  mmio_write64(CLINT_MTIMECMP, 0);
  csr_set(mip, (1ul << IRQ_S_SOFT) | (1ul << IRQ_S_TIMER) | (1ul << IRQ_S_EXT));
  csr_set(mstatus, MSTATUS_MIE);
  csr_clear(mstatus, MSTATUS_MIE);
  printf("interrupt order:");
  for (unsigned i = 0; i < nseq; i++) printf(" %lu", seq[i]);
  printf("\n");
  csr_write(mie, 0);
  // Spec (unprivileged 8.4): a misaligned AMO raises store/AMO address
  // misaligned (6). QEMU: load address misaligned (4).
  uint64_t r;
  rt_arm_trap();
  asm volatile("amoadd.w %0, %0, (%1)" : "=r"(r) : "r"((char*)cell + 2) : "memory");
  rt_report_trap("misaligned amoadd.w");
  // Spec: an SC to a misaligned address raises an exception. QEMU fails
  // the SC without trapping when there is no reservation.
  rt_arm_trap();
  asm volatile("sc.d %0, %0, (%1)" : "=r"(r) : "r"((char*)cell + 4) : "memory");
  rt_report_trap("misaligned sc.d");
  printf("  sc.d result %lx\n", r);
  // Spec: an AMO that faults raises a store/AMO access fault (7). QEMU: 5.
  rt_arm_trap();
  asm volatile("amoor.w %0, %0, (%1)" : "=r"(r) : "r"(UNMAPPED_ADDR) : "memory");
  rt_report_trap("amoor.w to nothing");
  // Spec: mtval after ebreak: zero or the pc (implementations differ).
  rt_arm_trap();
  asm volatile("ebreak");
  rt_report_trap("ebreak");
  // Spec: an AMO through an invalid PTE raises a store/AMO page fault (15).
  // QEMU: load page fault (13).
  vm_init(3);
  vm_probe("S amo unmapped", PRV_S, PROBE_AMO, VA_TEST + 0x3018);
  // Spec (priv 1.12, 3.1.6.1): mret to a mode below M clears MPRV. QEMU
  // 7.2 predates that rule.
  csr_clear(mstatus, MSTATUS_MPP);
  csr_set(mstatus, (uint64_t)PRV_S << 11);
  csr_set(mstatus, MSTATUS_MPRV);
  vm_probe("S load", PRV_S, PROBE_LOAD, VA_TEST + 0x1000);
  printf("MPRV after mret to S: %lu\n", (csr_read(mstatus) >> 17) & 1);
  csr_clear(mstatus, MSTATUS_MPRV);
  csr_write(satp, 0);
  // Zbb ctzw counts trailing zeros of bits 31:0: 32 when they are all
  // zero. QEMU 7.2 answers 63 for 0x8000000000000000.
  static const uint64_t ctz_in[] = {0, 0x100000000, 0x8000000000000000, 0x8000000100000000};
  for (unsigned i = 0; i < COUNT(ctz_in); i++) {
    uint64_t c;
    asm volatile(".insn i 0x1b, 1, %0, %1, 0x601" : "=r"(c) : "r"(ctz_in[i]));  // ctzw
    printf("ctzw %016lx = %lu\n", ctz_in[i], c);
  }
  printf("qemu_quirks done\n");
  return 0;
}
