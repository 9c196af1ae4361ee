// Console, exit, trap dispatch and small libc pieces for guest tests.
#include "rt.h"

// NS16550A registers (reg-shift 0): THR at 0, LSR at 5 (bit 5 = THR empty).
#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20

volatile int rt_expect_trap;
volatile struct trap_record rt_last_trap;

void rt_putc(char c) {
  volatile uint8_t* uart = (volatile uint8_t*)UART_BASE;
  while (!(uart[UART_LSR] & UART_LSR_THRE)) {
  }
  uart[UART_THR] = (uint8_t)c;
}

void rt_puts(const char* s) {
  while (*s) rt_putc(*s++);
}

static void put_num(uint64_t v, unsigned base, int neg, int width, char pad) {
  char buf[24];
  int n = 0;
  do {
    unsigned d = v % base;
    buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  if (neg) {
    if (pad == '0') {
      rt_putc('-');
      width--;
    } else {
      buf[n++] = '-';
    }
  }
  for (int i = n; i < width; i++) rt_putc(pad);
  while (n) rt_putc(buf[--n]);
}

int rt_vprintf(const char* fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      rt_putc(*fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0, lng = 0;
    if (*fmt == '0') {
      pad = '0';
      fmt++;
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l' || *fmt == 'z') {
      lng = 1;
      fmt++;
    }
    switch (*fmt) {
      case 'd':
      case 'i': {
        int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
        put_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
        break;
      }
      case 'u':
        put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, width, pad);
        break;
      case 'x':
        put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, width, pad);
        break;
      case 'p':
        put_num((uintptr_t)va_arg(ap, void*), 16, 0, 16, '0');
        break;
      case 's': {
        const char* s = va_arg(ap, const char*);
        int len = (int)strlen(s);
        for (int i = len; i < width; i++) rt_putc(' ');
        rt_puts(s);
        break;
      }
      case 'c':
        rt_putc((char)va_arg(ap, int));
        break;
      case '%':
        rt_putc('%');
        break;
      default:
        rt_puts("<bad format>");
        return -1;
    }
  }
  return 0;
}

int rt_printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = rt_vprintf(fmt, ap);
  va_end(ap);
  return r;
}

void rt_exit(int code) {
  uint32_t v = code == 0 ? 0x5555 : ((uint32_t)code << 16) | 0x3333;
  for (;;) {
    mmio_write32(FINISHER_BASE, v);
    asm volatile("wfi");
  }
}

void rt_skip_insn(struct trap_frame* f) {
  uint64_t cause = f->cause;
  if (cause == CAUSE_FETCH_ACCESS || cause == CAUSE_FETCH_PAGE_FAULT ||
      cause == CAUSE_MISALIGNED_FETCH) {
    f->epc = f->x[1];
    return;
  }
  // In an S handler under paging the instruction may sit on a U or an
  // execute-only page: read it with SUM and MXR (the handler's exit
  // restores sstatus from the frame).
  uint64_t old = csr_read(sstatus) & (MSTATUS_SUM | MSTATUS_MXR);
  csr_set(sstatus, MSTATUS_SUM | MSTATUS_MXR);
  uint16_t lo = *(volatile uint16_t*)f->epc;
  csr_clear(sstatus, (MSTATUS_SUM | MSTATUS_MXR) & ~old);
  f->epc += (lo & 3) == 3 ? 4 : 2;
}

void rt_arm_trap(void) {
  rt_last_trap.cause = rt_last_trap.epc = rt_last_trap.tval = rt_last_trap.status = 0;
  rt_last_trap.count = 0;
  rt_expect_trap = 1;
}

void rt_report_trap(const char* name) {
  if (rt_last_trap.count == 0) {
    printf("%s: no trap\n", name);
    rt_expect_trap = 0;
    return;
  }
  if (rt_last_trap.count == 1)
    printf("%s: cause=%lx epc=%lx", name, rt_last_trap.cause, rt_last_trap.epc);
  else
    printf("%s: %lu traps, last cause=%lx epc=%lx", name, rt_last_trap.count, rt_last_trap.cause,
           rt_last_trap.epc);
  // mtval after ebreak is implementation-specific (QEMU 7.2 writes 0, others
  // the pc); qemu_quirks.c prints it.
  if (rt_last_trap.cause == CAUSE_BREAKPOINT)
    printf(" tval=(not compared)\n");
  else
    printf(" tval=%lx\n", rt_last_trap.tval);
  rt_expect_trap = 0;
}

void rt_record_trap(struct trap_frame* f) {
  rt_last_trap.cause = f->cause;
  rt_last_trap.epc = f->epc;
  rt_last_trap.tval = f->tval;
  rt_last_trap.status = f->status;
  rt_last_trap.count++;
  rt_skip_insn(f);
}

__attribute__((weak)) void m_trap(struct trap_frame* f) {
  if (rt_expect_trap && !(f->cause & MCAUSE_INT)) {
    rt_record_trap(f);
    return;
  }
  printf("unexpected M trap: mcause=%lx mepc=%lx mtval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(3);
}

__attribute__((weak)) void s_trap(struct trap_frame* f) {
  if (rt_expect_trap && !(f->cause & MCAUSE_INT)) {
    rt_record_trap(f);
    return;
  }
  printf("unexpected S trap: scause=%lx sepc=%lx stval=%lx\n", f->cause, f->epc, f->tval);
  rt_exit(4);
}

void rt_enter_resume(uint64_t value) __attribute__((noreturn));

void rt_m_dispatch(struct trap_frame* f) {
  if ((f->cause == CAUSE_USER_ECALL || f->cause == CAUSE_SUPERVISOR_ECALL) &&
      f->x[17] == RT_ECALL_EXIT)
    rt_enter_resume(f->x[10]);
  m_trap(f);
}

// A delegated ecall-from-U carrying the exit code is passed on to M.
void rt_s_dispatch(struct trap_frame* f) {
  if (f->cause == CAUSE_USER_ECALL && f->x[17] == RT_ECALL_EXIT) rt_leave(f->x[10]);
  s_trap(f);
}

void rt_pmp_allow_all(void) {
  // pmpaddr0 = all ones: NAPOT covering the whole 56-bit physical space.
  csr_write(pmpaddr0, ~0ul >> 10);
  // pmpcfg0 entry 0: A = NAPOT (3 << 3), R|W|X.
  csr_write(pmpcfg0, 0x1f);
}

void* memset(void* d, int c, size_t n) {
  uint8_t* p = d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}

void* memcpy(void* d, const void* s, size_t n) {
  uint8_t* p = d;
  const uint8_t* q = s;
  while (n--) *p++ = *q++;
  return d;
}

int memcmp(const void* a, const void* b, size_t n) {
  const uint8_t* p = a;
  const uint8_t* q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p < *q ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
