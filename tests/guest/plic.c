// External interrupts through the PLIC: the UART's THR-empty interrupt
// (source 10) routed to context 0 (M, MEIP) and context 1 (S, SEIP),
// priority vs threshold, pending bits, claim/complete, claim when nothing
// is pending.
#include "ops.h"

#define UART_IRQ 10
#define PLIC_PRIORITY(src) (PLIC_BASE + 4 * (src))
#define PLIC_PENDING (PLIC_BASE + 0x1000)
#define PLIC_ENABLE(ctx) (PLIC_BASE + 0x2000 + 0x80 * (ctx))
#define PLIC_THRESHOLD(ctx) (PLIC_BASE + 0x200000 + 0x1000 * (ctx))
#define PLIC_CLAIM(ctx) (PLIC_THRESHOLD(ctx) + 4)

#define UART_IER (UART_BASE + 1)
#define UART_IIR (UART_BASE + 2)
#define UART_IER_THRI 0x02

#define MIP_MEIP (1ul << IRQ_M_EXT)
#define MIP_SEIP (1ul << IRQ_S_EXT)

static void uart_ier(uint8_t v) { *(volatile uint8_t*)UART_IER = v; }
static uint8_t uart_iir(void) { return *(volatile uint8_t*)UART_IIR; }

static volatile uint64_t claimed, iir, cause_seen;

static void handle(struct trap_frame* f, unsigned ctx) {
  cause_seen = f->cause;
  claimed = mmio_read32(PLIC_CLAIM(ctx));
  iir = uart_iir() & 0x0f;  // reading IIR clears the THRE interrupt
  uart_ier(0);
  mmio_write32(PLIC_CLAIM(ctx), (uint32_t)claimed);
}

void m_trap(struct trap_frame* f) {
  if (f->cause == (MCAUSE_INT | IRQ_M_EXT)) {
    handle(f, 0);
    return;
  }
  printf("unexpected M trap: mcause=%lx mepc=%lx mtval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(3);
}

void s_trap(struct trap_frame* f) {
  if (f->cause == (MCAUSE_INT | IRQ_S_EXT)) {
    handle(f, 1);
    return;
  }
  printf("unexpected S trap: scause=%lx sepc=%lx stval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(4);
}

static void show(const char* what) {
  printf("%s: claimed %lu IIR %lx cause %lx\n", what, claimed, iir, cause_seen);
  claimed = iir = cause_seen = 0;
}

static uint64_t s_wait(uint64_t unused) {
  (void)unused;
  csr_set(sstatus, MSTATUS_SIE);
  while (!cause_seen) {
  }
  csr_clear(sstatus, MSTATUS_SIE);
  return 0;
}

int main(void) {
  rt_pmp_allow_all();
  printf("claim with nothing pending: %u\n", mmio_read32(PLIC_CLAIM(0)));
  mmio_write32(PLIC_PRIORITY(UART_IRQ), 1);
  printf("priority readback: %u\n", mmio_read32(PLIC_PRIORITY(UART_IRQ)));
  mmio_write32(PLIC_THRESHOLD(0), 0);
  mmio_write32(PLIC_ENABLE(0), 1u << UART_IRQ);
  printf("enable readback: %x\n", mmio_read32(PLIC_ENABLE(0)));

  // THR is empty while nothing is being sent: enabling the interrupt
  // raises it at once.
  uart_ier(UART_IER_THRI);
  printf("pending bits: %x mip.MEIP=%lu\n", mmio_read32(PLIC_PENDING) & (1u << UART_IRQ),
         (csr_read(mip) >> IRQ_M_EXT) & 1);
  csr_write(mie, MIP_MEIP);
  csr_set(mstatus, MSTATUS_MIE);
  csr_clear(mstatus, MSTATUS_MIE);
  show("M context");
  printf("after complete: pending %x mip.MEIP=%lu\n", mmio_read32(PLIC_PENDING) & (1u << UART_IRQ),
         (csr_read(mip) >> IRQ_M_EXT) & 1);

  // Priority must exceed the threshold.
  mmio_write32(PLIC_THRESHOLD(0), 1);
  uart_ier(UART_IER_THRI);
  printf("threshold 1, priority 1: mip.MEIP=%lu\n", (csr_read(mip) >> IRQ_M_EXT) & 1);
  mmio_write32(PLIC_PRIORITY(UART_IRQ), 2);
  printf("threshold 1, priority 2: mip.MEIP=%lu\n", (csr_read(mip) >> IRQ_M_EXT) & 1);
  csr_set(mstatus, MSTATUS_MIE);
  csr_clear(mstatus, MSTATUS_MIE);
  show("M context, priority 2");
  mmio_write32(PLIC_THRESHOLD(0), 0);
  mmio_write32(PLIC_ENABLE(0), 0);

  // The S context, delegated to S mode.
  csr_write(stvec, (uint64_t)rt_s_trap_entry);
  mmio_write32(PLIC_ENABLE(1), 1u << UART_IRQ);
  mmio_write32(PLIC_THRESHOLD(1), 0);
  csr_write(mideleg, MIP_SEIP);
  csr_write(mie, MIP_SEIP);
  uart_ier(UART_IER_THRI);
  printf("S context: mip.SEIP=%lu mip.MEIP=%lu\n", (csr_read(mip) >> IRQ_S_EXT) & 1,
         (csr_read(mip) >> IRQ_M_EXT) & 1);
  rt_enter(PRV_S, s_wait, 0);
  show("S context");
  printf("after complete: mip.SEIP=%lu\n", (csr_read(mip) >> IRQ_S_EXT) & 1);
  mmio_write32(PLIC_ENABLE(1), 0);
  csr_write(mie, 0);
  csr_write(mideleg, 0);
  printf("plic done\n");
  return 0;
}
