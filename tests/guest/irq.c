// Interrupts: CLINT machine timer (MTIP) and software interrupt (MSIP),
// wfi waking with MIE=0, priorities (MEI > MSI > MTI > SEI > SSI > STI),
// vectored mtvec and stvec, and the S-mode timer the way firmware
// provides it without Sstc: S asks M (ecall) to arm the CLINT, M's timer
// handler forwards the tick by setting mip.STIP, which is delegated to S.
//
// Interrupts are made pending while they cannot be taken and then enabled
// at a known instruction, so every printed epc is deterministic.
#include "ops.h"

#define MIP_MSIP (1ul << IRQ_M_SOFT)
#define MIP_MTIP (1ul << IRQ_M_TIMER)
#define MIP_SSIP (1ul << IRQ_S_SOFT)
#define MIP_STIP (1ul << IRQ_S_TIMER)
#define MIP_SEIP (1ul << IRQ_S_EXT)

// Ecalls from S to M (an SBI in miniature).
#define SBI_CLEAR_STIP 1
#define SBI_SET_TIMER 2

static volatile uint64_t seq[16];
static volatile unsigned nseq;
static volatile uint64_t s_ticks;

static uint64_t mtime(void) { return mmio_read64(CLINT_MTIME); }
static void set_mtimecmp(uint64_t v) { mmio_write64(CLINT_MTIMECMP, v); }

// Handles one interrupt in M: lowers its source and logs the cause.
static void m_interrupt(uint64_t cause) {
  uint64_t n = cause & 0xff;
  if (nseq < 16) seq[nseq++] = cause;
  switch (n) {
    case IRQ_M_SOFT:
      mmio_write32(CLINT_MSIP, 0);
      break;
    case IRQ_M_TIMER:
      set_mtimecmp(~0ul);
      // Forward to S when S asked for a timer (SBI_SET_TIMER).
      if (s_ticks) csr_set(mip, MIP_STIP);
      break;
    default:
      csr_clear(mip, 1ul << n);
      break;
  }
}

void m_trap(struct trap_frame* f) {
  if (f->cause & MCAUSE_INT) {
    m_interrupt(f->cause);
    return;
  }
  if (f->cause == CAUSE_SUPERVISOR_ECALL) {
    if (f->x[17] == SBI_CLEAR_STIP) csr_clear(mip, MIP_STIP);
    if (f->x[17] == SBI_SET_TIMER) {
      s_ticks = 1;
      set_mtimecmp(mtime() + f->x[10]);
    }
    f->epc += 4;
    return;
  }
  if (rt_expect_trap) {
    rt_record_trap(f);
    return;
  }
  printf("unexpected M trap: mcause=%lx mepc=%lx mtval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(3);
}

static volatile uint64_t s_seen;

void s_trap(struct trap_frame* f) {
  if (f->cause == (MCAUSE_INT | IRQ_S_TIMER)) {
    s_seen = f->cause;
    // Only M can lower STIP (no Sstc): ask it.
    register uint64_t a7 asm("a7") = SBI_CLEAR_STIP;
    asm volatile("ecall" : : "r"(a7) : "memory");
    return;
  }
  if (f->cause == (MCAUSE_INT | IRQ_S_SOFT)) {
    s_seen = f->cause;
    csr_clear(sip, MIP_SSIP);
    return;
  }
  printf("unexpected S trap: scause=%lx sepc=%lx stval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(4);
}

static void print_seq(const char* what) {
  printf("%s:", what);
  for (unsigned i = 0; i < nseq; i++) printf(" %lx", seq[i]);
  printf("%s\n", nseq ? "" : " none");
  nseq = 0;
}

// Enables MIE at a known point: the trap's mepc is the instruction after
// the csrs (label 1), printed relative to it.
static uint64_t enable_here(void) {
  uint64_t label;
  asm volatile(
      "la %0, 1f\n"
      "csrsi mstatus, 8\n"
      "1: csrci mstatus, 8\n"
      : "=&r"(label) : : "memory");
  return label;
}

static void test_msip(void) {
  csr_write(mie, MIP_MSIP);
  mmio_write32(CLINT_MSIP, 1);
  printf("msip=1: mip.MSIP=%lu msip reads %x\n", (csr_read(mip) >> 3) & 1, mmio_read32(CLINT_MSIP));
  enable_here();
  print_seq("MSIP taken");
  printf("after handler: mip.MSIP=%lu\n", (csr_read(mip) >> 3) & 1);
  csr_write(mie, 0);
}

static void test_mtimer(void) {
  // wfi with MIE=0 wakes once MTIP is pending and enabled in mie.
  csr_write(mie, MIP_MTIP);
  set_mtimecmp(mtime() + 2000);
  asm volatile("wfi");
  while (!(csr_read(mip) & MIP_MTIP)) {
  }
  printf("after wfi: mip.MTIP=%lu\n", (csr_read(mip) >> 7) & 1);
  enable_here();
  print_seq("MTIP taken");
  printf("mtimecmp rewritten: mip.MTIP=%lu\n", (csr_read(mip) >> 7) & 1);
  // mtimecmp in the past: pending at once.
  set_mtimecmp(0);
  printf("mtimecmp=0: mip.MTIP=%lu\n", (csr_read(mip) >> 7) & 1);
  // 32-bit halves of mtimecmp.
  mmio_write32(CLINT_MTIMECMP, 0xffffffff);
  mmio_write32(CLINT_MTIMECMP + 4, 0xffffffff);
  printf("mtimecmp via 32-bit writes: %lx mip.MTIP=%lu\n", mmio_read64(CLINT_MTIMECMP),
         (csr_read(mip) >> 7) & 1);
  // MTIE clear: pending but not taken.
  csr_write(mie, 0);
  set_mtimecmp(0);
  enable_here();
  print_seq("MTIP pending, MTIE=0");
  set_mtimecmp(~0ul);
  // mtime moves forward.
  uint64_t t0 = mtime();
  while (mtime() == t0) {
  }
  printf("mtime advances: 1\n");
  // mip.MTIP is read-only.
  csr_set(mip, MIP_MTIP | MIP_MSIP);
  printf("csrs mip MTIP|MSIP: mip=%lx\n", csr_read(mip) & 0xaaa);
}

// Several pending at once, nothing delegated: taken one by one in priority
// order as each handler lowers its source. QEMU 7.2 without AIA takes the
// lowest-numbered pending interrupt first, which agrees with the spec's
// order only within {MSI, MTI, SEI} and within {SSI, STI}, so only those
// sets are compared.
static void test_priority(void) {
  csr_write(mideleg, 0);
  csr_write(mie, 0xaaa);
  mmio_write32(CLINT_MSIP, 1);
  set_mtimecmp(0);
  csr_set(mip, MIP_SEIP);
  printf("pending: mip=%lx\n", csr_read(mip) & 0xaaa);
  enable_here();
  print_seq("MSI, MTI, SEI order");
  csr_set(mip, MIP_SSIP | MIP_STIP);
  printf("pending: mip=%lx\n", csr_read(mip) & 0xaaa);
  enable_here();
  print_seq("SSI, STI order");
  csr_write(mie, 0);
}

static void test_vectored(void) {
  extern char irq_m_vectors[];
  uint64_t saved = csr_read(mtvec);
  csr_write(mtvec, (uint64_t)irq_m_vectors | 1);
  printf("mtvec mode: %lu\n", csr_read(mtvec) & 3);
  csr_write(mie, MIP_MSIP | MIP_MTIP | MIP_SSIP);
  mmio_write32(CLINT_MSIP, 1);
  enable_here();
  set_mtimecmp(0);
  enable_here();
  csr_set(mip, MIP_SSIP);
  enable_here();
  print_seq("vectored interrupts");
  // Exceptions use the base address.
  rt_arm_trap();
  asm volatile("c.ebreak");
  rt_report_trap("vectored ebreak");
  csr_write(mie, 0);
  csr_write(mtvec, saved);
}

static volatile uint64_t vec_ids[16];
static volatile unsigned nvec;

void irq_m_vectored(struct trap_frame* f, uint64_t id) {
  if (nvec < 16) vec_ids[nvec++] = id;
  printf("  M vector %lu: mcause=%lx\n", id, f->cause);
  if (f->cause & MCAUSE_INT)
    m_interrupt(f->cause);
  else
    m_trap(f);
}

void irq_s_vectored(struct trap_frame* f, uint64_t id) {
  printf("  S vector %lu: scause=%lx\n", id, f->cause);
  s_trap(f);
}

// S-mode code: waits for the interrupt the caller arranged.
static uint64_t s_wait(uint64_t unused) {
  (void)unused;
  s_seen = 0;
  csr_set(sstatus, MSTATUS_SIE);
  while (!s_seen) {
  }
  csr_clear(sstatus, MSTATUS_SIE);
  return s_seen;
}

static uint64_t s_timer(uint64_t delta) {
  s_seen = 0;
  register uint64_t a0 asm("a0") = delta;
  register uint64_t a7 asm("a7") = SBI_SET_TIMER;
  asm volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
  csr_set(sstatus, MSTATUS_SIE);
  while (!s_seen) {
  }
  csr_clear(sstatus, MSTATUS_SIE);
  return s_seen;
}

static void test_s_timer(void) {
  csr_write(stvec, (uint64_t)rt_s_trap_entry);
  csr_write(mideleg, MIP_STIP | MIP_SSIP);
  csr_write(mie, MIP_MTIP | MIP_STIP | MIP_SSIP);
  csr_write(sie, MIP_STIP | MIP_SSIP);
  // STIP set directly by M, delegated: S takes it.
  csr_set(mip, MIP_STIP);
  printf("S timer (STIP from M): scause=%lx\n", rt_enter(PRV_S, s_wait, 0));
  // The firmware flow: S asks for a timer, M's MTIP handler sets STIP.
  for (int i = 0; i < 3; i++) printf("S timer via CLINT: scause=%lx\n", rt_enter(PRV_S, s_timer, 1000));
  print_seq("M interrupts on the way");
  // Vectored stvec.
  extern char irq_s_vectors[];
  csr_write(stvec, (uint64_t)irq_s_vectors | 1);
  csr_set(mip, MIP_SSIP);
  printf("S soft (vectored stvec): scause=%lx\n", rt_enter(PRV_S, s_wait, 0));
  s_ticks = 0;
  csr_set(mip, MIP_STIP);
  printf("S timer (vectored stvec): scause=%lx\n", rt_enter(PRV_S, s_wait, 0));
  csr_write(stvec, (uint64_t)rt_s_trap_entry);
  csr_write(mie, 0);
  csr_write(mideleg, 0);
}

int main(void) {
  rt_pmp_allow_all();
  test_msip();
  test_mtimer();
  test_priority();
  test_vectored();
  test_s_timer();
  printf("irq done\n");
  return 0;
}
