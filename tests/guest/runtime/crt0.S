// Entry point and trap entry/exit for the guest-test runtime.
// Starts in M-mode at _start with a0 = hart id, a1 = device tree.

#include "trap_entry.inc"

  .section .text.init, "ax"
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, __stack_top
  la t0, __trap_stack_top
  csrw mscratch, t0
  la t0, __strap_stack_top
  csrw sscratch, t0
  la t0, rt_m_trap_entry
  csrw mtvec, t0
  // FS = Initial so the FPU is usable (QEMU resets FS to Off).
  li t0, (1 << 13)
  csrs mstatus, t0
  csrw fcsr, zero
  // No timer interrupt pending until a test asks for one (mtimecmp's reset
  // value is not architectural; QEMU's 0 would raise MTIP at once).
  li t0, -1
  li t1, 0x2004000
  sd t0, 0(t1)
  // Zero .bss (8-byte aligned by the linker script).
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  la t0, rt_boot_hartid
  sd a0, 0(t0)
  la t0, rt_boot_dtb
  sd a1, 0(t0)
  call main
  call rt_exit

  .text
  M_TRAP_ENTRY rt_m_trap_entry, rt_m_dispatch, 0
  S_TRAP_ENTRY rt_s_trap_entry, rt_s_dispatch, 0

// uint64_t rt_enter(unsigned mode, uint64_t (*fn)(uint64_t), uint64_t arg)
  .globl rt_enter
rt_enter:
  addi sp, sp, -112
  sd ra, 0(sp)
  sd s0, 8(sp)
  sd s1, 16(sp)
  sd s2, 24(sp)
  sd s3, 32(sp)
  sd s4, 40(sp)
  sd s5, 48(sp)
  sd s6, 56(sp)
  sd s7, 64(sp)
  sd s8, 72(sp)
  sd s9, 80(sp)
  sd s10, 88(sp)
  sd s11, 96(sp)
  la t0, rt_enter_sp
  sd sp, 0(t0)
  li t0, (3 << 11)
  csrc mstatus, t0
  andi a0, a0, 3
  slli a0, a0, 11
  csrs mstatus, a0
  csrw mepc, a1
  mv a0, a2
  la ra, rt_enter_return
  mret

// Where fn returns to, still in the lower mode: hand the result to M.
  .globl rt_leave
rt_enter_return:
rt_leave:
  li a7, 0x7e57
  ecall
  j rt_leave

// void rt_enter_resume(uint64_t value): called by the M dispatcher on the
// trap stack; unwinds to rt_enter's caller.
  .globl rt_enter_resume
rt_enter_resume:
  la t0, __trap_stack_top
  csrw mscratch, t0
  la t0, __strap_stack_top
  csrw sscratch, t0
  la t0, rt_enter_sp
  ld sp, 0(t0)
  ld ra, 0(sp)
  ld s0, 8(sp)
  ld s1, 16(sp)
  ld s2, 24(sp)
  ld s3, 32(sp)
  ld s4, 40(sp)
  ld s5, 48(sp)
  ld s6, 56(sp)
  ld s7, 64(sp)
  ld s8, 72(sp)
  ld s9, 80(sp)
  ld s10, 88(sp)
  ld s11, 96(sp)
  addi sp, sp, 112
  ret

  .bss
  .balign 8
rt_enter_sp:
  .skip 8
  .globl rt_boot_hartid, rt_boot_dtb
rt_boot_hartid:
  .skip 8
rt_boot_dtb:
  .skip 8
