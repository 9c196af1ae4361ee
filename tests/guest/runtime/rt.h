// Bare-metal runtime for tandem's differential guest tests: console output
// through the 16550 UART, exit through the sifive_test finisher, M- and
// S-mode trap hooks, and a way to run a function in S or U mode.
// Everything here must behave identically on tandem and QEMU's virt board.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define UART_BASE 0x10000000ul
#define FINISHER_BASE 0x100000ul
#define CLINT_BASE 0x2000000ul
#define CLINT_MSIP (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)
#define PLIC_BASE 0xc000000ul
#define RAM_BASE 0x80000000ul

// A physical address where neither board has anything: accesses raise
// access faults (between the UART/virtio window and the flash).
#define UNMAPPED_ADDR 0x18000000ul

// Privilege levels (mstatus.MPP encoding).
#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

// mstatus / sstatus bits (privileged spec 3.1.6).
#define MSTATUS_SIE (1ul << 1)
#define MSTATUS_MIE (1ul << 3)
#define MSTATUS_SPIE (1ul << 5)
#define MSTATUS_UBE (1ul << 6)
#define MSTATUS_MPIE (1ul << 7)
#define MSTATUS_SPP (1ul << 8)
#define MSTATUS_MPP (3ul << 11)
#define MSTATUS_FS (3ul << 13)
#define MSTATUS_XS (3ul << 15)
#define MSTATUS_MPRV (1ul << 17)
#define MSTATUS_SUM (1ul << 18)
#define MSTATUS_MXR (1ul << 19)
#define MSTATUS_TVM (1ul << 20)
#define MSTATUS_TW (1ul << 21)
#define MSTATUS_TSR (1ul << 22)
#define MSTATUS_SD (1ul << 63)

// Interrupt numbers (mip/mie bits, mcause with the interrupt bit).
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11
#define MCAUSE_INT (1ul << 63)

// Exception causes (privileged spec table 3.6).
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL_INSTRUCTION 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_USER_ECALL 8
#define CAUSE_SUPERVISOR_ECALL 9
#define CAUSE_MACHINE_ECALL 11
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT 13
#define CAUSE_STORE_PAGE_FAULT 15

#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr)                                  \
  ({                                                   \
    uint64_t v_;                                       \
    asm volatile("csrr %0, " STR(csr) : "=r"(v_)::"memory"); \
    v_;                                                \
  })
#define csr_write(csr, val) asm volatile("csrw " STR(csr) ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_set(csr, val) asm volatile("csrs " STR(csr) ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_clear(csr, val) asm volatile("csrc " STR(csr) ", %0" ::"rK"((uint64_t)(val)) : "memory")
#define csr_swap(csr, val)                                                          \
  ({                                                                                \
    uint64_t v_;                                                                    \
    asm volatile("csrrw %0, " STR(csr) ", %1" : "=r"(v_) : "rK"((uint64_t)(val)) : "memory"); \
    v_;                                                                             \
  })

static inline void mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t*)addr = v; }
static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t*)addr; }
static inline void mmio_write64(uintptr_t addr, uint64_t v) { *(volatile uint64_t*)addr = v; }
static inline uint64_t mmio_read64(uintptr_t addr) { return *(volatile uint64_t*)addr; }

// Console. printf understands %d %i %u %x %lx %ld %lu %s %c %p %% with an
// optional '0' flag, width and 'l'/'ll'/'z' length.
void rt_putc(char c);
void rt_puts(const char* s);
int rt_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprintf(const char* fmt, va_list ap);
#define printf rt_printf

// Ends the run through the test finisher: 0 passes, anything else fails
// with that code (QEMU exits with it).
__attribute__((noreturn)) void rt_exit(int code);

// Registers saved on trap entry. x[2] is the interrupted sp. The handler
// may change any field; epc and status are written back to xepc/xstatus.
struct trap_frame {
  uint64_t x[32];
  uint64_t cause;
  uint64_t epc;
  uint64_t tval;
  uint64_t status;
};

// mscratch and sscratch hold the trap stack pointers of the M and S
// handlers while running in a lower mode: a test that writes them must
// restore them before the next trap.

// Trap hooks (weak; a test defines its own). The default M handler
// records-and-skips when rt_expect_trap is set, otherwise reports the trap
// and exits with code 3. S traps go to s_trap only when delegated.
void m_trap(struct trap_frame* f);
void s_trap(struct trap_frame* f);

// Record-and-skip support for the default handlers.
struct trap_record {
  uint64_t cause, epc, tval, status, count;
};
extern volatile int rt_expect_trap;
extern volatile struct trap_record rt_last_trap;
// Advances f->epc past the trapping instruction (2 or 4 bytes, read at
// epc in the handler's own mode, with SUM and MXR set for S handlers), or
// back to the caller (f->x[1]) for fetch faults.
void rt_skip_insn(struct trap_frame* f);
// What the default handlers do when armed: fill rt_last_trap, skip.
void rt_record_trap(struct trap_frame* f);
// Prints "name: cause=.. epc=.. tval=.." for rt_last_trap (the last one
// and the count if several), or "name: no trap". The tval of a breakpoint
// is not printed (implementation-specific).
void rt_report_trap(const char* name);
// Clears rt_last_trap and arms the default handler.
void rt_arm_trap(void);

// Runs fn(arg) in privilege `mode` (PRV_U or PRV_S) with the current
// satp/PMP and returns its result once fn returns (it returns through an
// ecall that the M handler intercepts; don't delegate ecall-from-S while
// using this from S mode).
// On return mstatus.MIE is 0 (the trap back to M cleared it).
uint64_t rt_enter(unsigned mode, uint64_t (*fn)(uint64_t), uint64_t arg);
// The S-mode trap entry (stvec value); dispatches to s_trap.
void rt_s_trap_entry(void);
// What fn's return address does: ecall back to M with the value.
#define RT_ECALL_EXIT 0x7e57
// From S or U mode: leave rt_enter now with `value`.
__attribute__((noreturn)) void rt_leave(uint64_t value);

// PMP entry 0 = NAPOT over all of memory, RWX, so S and U can access
// everything (QEMU denies S/U access when no PMP entry matches).
void rt_pmp_allow_all(void);

void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
