// Trap delegation (privileged spec 3.1.8): exceptions delegated with
// medeleg go to the S handler when they happen in S or U mode, never
// when they happen in M; interrupts delegated with mideleg are taken in S
// (not in M, whatever SIE says; always from U); scause/sepc/stval and the
// sstatus SPP/SPIE/SIE bookkeeping; sret back to U and S.
#include "ops.h"

struct rec {
  uint64_t cause, epc, tval, status, count;
};
static volatile struct rec m_rec, s_rec;

static void clear_recs(void) {
  memset((void*)&m_rec, 0, sizeof m_rec);
  memset((void*)&s_rec, 0, sizeof s_rec);
}

static void record(volatile struct rec* r, struct trap_frame* f) {
  r->cause = f->cause;
  r->epc = f->epc;
  // mtval after ebreak is implementation-specific: see qemu_quirks.c.
  r->tval = f->cause == CAUSE_BREAKPOINT ? 0 : f->tval;
  r->status = f->status;
  r->count++;
  if (f->cause & MCAUSE_INT) {
    // Lower the software interrupt that brought us here.
    if ((f->cause & 0xff) == IRQ_S_SOFT) csr_clear(sip, 1u << IRQ_S_SOFT);
  } else {
    rt_skip_insn(f);
  }
}

void m_trap(struct trap_frame* f) {
  if ((f->cause & MCAUSE_INT) && (f->cause & 0xff) == IRQ_S_SOFT) csr_clear(mip, 1u << IRQ_S_SOFT);
  record(&m_rec, f);
}
void s_trap(struct trap_frame* f) { record(&s_rec, f); }

static void report(const char* what) {
  printf("%s:\n", what);
  if (s_rec.count)
    printf("  S handler x%lu: scause=%lx sepc=%lx stval=%lx SPP=%lu SPIE=%lu SIE=%lu\n", s_rec.count,
           s_rec.cause, s_rec.epc, s_rec.tval, (s_rec.status >> 8) & 1, (s_rec.status >> 5) & 1,
           (s_rec.status >> 1) & 1);
  if (m_rec.count)
    printf("  M handler x%lu: mcause=%lx mepc=%lx mtval=%lx MPP=%lu\n", m_rec.count, m_rec.cause,
           m_rec.epc, m_rec.tval, (m_rec.status >> 11) & 3);
  if (!s_rec.count && !m_rec.count) printf("  no trap\n");
  clear_recs();
}

static uint64_t cell;

// The exceptions used below, by number.
static uint64_t raise(uint64_t which) {
  uint64_t r;
  switch (which) {
    case 0:
      asm volatile(".word 0");  // illegal instruction
      break;
    case 1:
      asm volatile("c.ebreak");
      break;
    case 2:
      asm volatile("li a7, 0\n ecall" ::: "a7");
      break;
    case 3:
      asm volatile("ld %0, 0(%1)" : "=r"(r) : "r"(UNMAPPED_ADDR));  // load access fault
      break;
    case 4:
      asm volatile("lr.d %0, (%1)" : "=r"(r) : "r"((char*)&cell + 4));  // misaligned
      break;
  }
  return 0;
}

static const char* names[] = {"illegal", "ebreak", "ecall", "load access fault", "misaligned lr.d"};

static void test_exceptions(void) {
  // Delegate all five: causes 2, 3, 8, 5, 4.
  csr_write(medeleg, (1 << 2) | (1 << 3) | (1 << 8) | (1 << 5) | (1 << 4));
  for (unsigned w = 0; w < COUNT(names); w++) {
    char buf[64];
    (void)buf;
    rt_enter(PRV_U, raise, w);
    printf("U, delegated, %s", names[w]);
    report("");
    rt_enter(PRV_S, raise, w);
    printf("S, delegated, %s", names[w]);
    report("");
    raise(w);  // M: delegation does not apply
    printf("M, delegated, %s", names[w]);
    report("");
  }
  // Not delegated: back to M.
  csr_write(medeleg, 0);
  for (unsigned w = 0; w < COUNT(names); w++) {
    rt_enter(PRV_U, raise, w);
    printf("U, not delegated, %s", names[w]);
    report("");
  }
  // Only the U ecall delegated: an S ecall still goes to M.
  csr_write(medeleg, 1 << 8);
  rt_enter(PRV_S, raise, 2);
  report("S ecall with only medeleg[8]");
  csr_write(medeleg, 0);
}

// sstatus bookkeeping across a delegated trap taken from S and sret.
static uint64_t s_nested(uint64_t sie) {
  if (sie) csr_set(sstatus, MSTATUS_SIE);
  else csr_clear(sstatus, MSTATUS_SIE);
  asm volatile("c.ebreak");
  return csr_read(sstatus) & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP);
}

static void test_sret_bits(void) {
  csr_write(medeleg, 1 << 3);
  for (uint64_t sie = 0; sie < 2; sie++) {
    uint64_t after = rt_enter(PRV_S, s_nested, sie);
    printf("S with SIE=%lu: ", sie);
    report("ebreak");
    printf("  after sret: sstatus SIE|SPIE|SPP = %lx\n", after);
  }
  csr_write(medeleg, 0);
}

static uint64_t spin(uint64_t n) {
  for (volatile uint64_t i = 0; i < n; i++) {
  }
  return csr_read(sip);
}

static uint64_t spin_u(uint64_t n) {
  for (volatile uint64_t i = 0; i < n; i++) {
  }
  return 0;
}

static void test_interrupts(void) {
  csr_write(mie, 1u << IRQ_S_SOFT);
  // Delegated SSIP raised by M, S with SIE=1: taken in S at S's first
  // instruction.
  csr_write(mideleg, 1u << IRQ_S_SOFT);
  csr_set(sstatus, MSTATUS_SIE);
  csr_set(mip, 1u << IRQ_S_SOFT);
  rt_enter(PRV_S, spin, 10);
  report("delegated SSIP, S with SIE=1 (sepc = spin)");
  printf("  spin=%lx\n", (uint64_t)spin);
  // SIE=0 in S: stays pending.
  csr_clear(sstatus, MSTATUS_SIE);
  csr_set(mip, 1u << IRQ_S_SOFT);
  uint64_t sip = rt_enter(PRV_S, spin, 10);
  printf("  sip seen in S with SIE=0: %lx\n", sip & 0x222);
  report("delegated SSIP, S with SIE=0");
  // Still pending; M with MIE=1 does not take a delegated interrupt.
  csr_set(mstatus, MSTATUS_MIE);
  spin(10);
  csr_clear(mstatus, MSTATUS_MIE);
  report("delegated SSIP pending while in M with MIE=1");
  // From U it is taken in S even with SIE=0.
  rt_enter(PRV_U, spin_u, 10);
  report("delegated SSIP, from U with SIE=0 (sepc = spin_u)");
  printf("  spin_u=%lx\n", (uint64_t)spin_u);
  // Not delegated: taken in M from S, even with MIE=0.
  csr_write(mideleg, 0);
  csr_set(mip, 1u << IRQ_S_SOFT);
  rt_enter(PRV_S, spin, 10);
  report("SSIP not delegated, from S with MIE=0");
  csr_write(mie, 0);
}

int main(void) {
  rt_pmp_allow_all();
  csr_write(stvec, (uint64_t)rt_s_trap_entry);
  clear_recs();
  test_exceptions();
  test_sret_bits();
  test_interrupts();
  printf("deleg done\n");
  return 0;
}
