// Sstc: menvcfg.STCE gates stimecmp (illegal from S without STCE or
// mcounteren.TM), stimecmp drives mip.STIP (which software can then no
// longer write), and a delegated S timer interrupt fires from stimecmp.
#include "ops.h"

#define MENVCFG_STCE (1ul << 63)
#define MIP_STIP (1ul << IRQ_S_TIMER)

static volatile uint64_t s_seen;

void s_trap(struct trap_frame* f) {
  if (f->cause == (MCAUSE_INT | IRQ_S_TIMER)) {
    s_seen = f->cause;
    csr_write(stimecmp, ~0ul);  // lowers STIP
    return;
  }
  if (rt_expect_trap) {
    rt_record_trap(f);
    return;
  }
  printf("unexpected S trap: scause=%lx sepc=%lx stval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(4);
}

static uint64_t s_access(uint64_t unused) {
  (void)unused;
  rt_arm_trap();
  csr_write(stimecmp, ~0ul);
  uint64_t v = csr_read(stimecmp);
  (void)v;
  return rt_last_trap.count ? rt_last_trap.cause : 0xff;
}

static uint64_t s_timer(uint64_t delta) {
  s_seen = 0;
  csr_write(stimecmp, csr_read(time) + delta);
  csr_set(sstatus, MSTATUS_SIE);
  while (!s_seen) {
  }
  csr_clear(sstatus, MSTATUS_SIE);
  return s_seen;
}

int main(void) {
  rt_pmp_allow_all();
  csr_write(stvec, (uint64_t)rt_s_trap_entry);
  csr_write(menvcfg, MENVCFG_STCE);
  printf("menvcfg.STCE=%lu\n", csr_read(menvcfg) >> 63);
  static const uint64_t settings[][2] = {{0, 0}, {0, 2}, {MENVCFG_STCE, 0}, {MENVCFG_STCE, 2}};
  for (unsigned i = 0; i < COUNT(settings); i++) {
    csr_write(menvcfg, settings[i][0]);
    csr_write(mcounteren, settings[i][1]);
    uint64_t r = rt_enter(PRV_S, s_access, 0);
    printf("STCE=%lu mcounteren.TM=%lu: stimecmp from S %s\n", settings[i][0] >> 63,
           settings[i][1] >> 1, r == 0xff ? "ok" : "illegal");
  }
  rt_expect_trap = 0;
  csr_write(menvcfg, MENVCFG_STCE);
  csr_write(mcounteren, 2);
  // STIP follows stimecmp <= time and ignores writes to mip.
  csr_write(stimecmp, 0);
  printf("stimecmp=0: mip.STIP=%lu\n", (csr_read(mip) >> 5) & 1);
  csr_clear(mip, MIP_STIP);
  printf("after csrc mip.STIP: mip.STIP=%lu\n", (csr_read(mip) >> 5) & 1);
  csr_write(stimecmp, ~0ul);
  printf("stimecmp=~0: mip.STIP=%lu stimecmp=%lx\n", (csr_read(mip) >> 5) & 1, csr_read(stimecmp));
  csr_set(mip, MIP_STIP);
  printf("after csrs mip.STIP: mip.STIP=%lu\n", (csr_read(mip) >> 5) & 1);
  // A delegated S timer interrupt from stimecmp, three times.
  csr_write(mideleg, MIP_STIP);
  csr_write(mie, MIP_STIP);
  csr_write(sie, MIP_STIP);
  for (int i = 0; i < 3; i++) printf("S timer: scause=%lx\n", rt_enter(PRV_S, s_timer, 2000));
  printf("mip.STIP after handler: %lu\n", (csr_read(mip) >> 5) & 1);
  csr_write(mie, 0);
  csr_write(mideleg, 0);
  printf("sstc done\n");
  return 0;
}
