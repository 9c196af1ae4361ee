// The register file, in plain assembly: every x register is written with
// its own pattern, combined with its neighbours (so a decoder that mixes up
// register numbers shows), stored, and printed from main's caller-saved
// copy. x0 must stay zero whatever is written to it.

  // gp is overwritten too: no gp-relative relaxation of la.
  .option norelax
  .text
  .globl main
main:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  // Everything below runs without a stack: sp, gp and tp are saved in
  // memory, all 31 registers are overwritten.
  la t0, saved
  sd sp, 0(t0)
  sd gp, 8(t0)
  sd tp, 16(t0)
  .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  li x\r, (0x0101010101010101 * \r) ^ 0x8000000000000000
  .endr
  li x0, 123
  addi x0, x0, 5
  // Each register r (2..31) becomes x[r] + x[r-1] rotated: r-1 was already
  // updated, so the chain runs through the whole file.
  .irp r, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  slli x1, x\r, 7
  xor x\r, x\r, x1
  .endr
  .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  add x\r, x\r, x0
  sub x2, x\r, x2
  .endr
  // Store all 32 through x31 as the base (x31 stored last).
  mv x1, x31
  la x31, regs
  sd x0, 0(x31)
  sd x1, 8(x31)
  .irp r, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
  sd x\r, \r*8(x31)
  .endr
  sd x1, 31*8(x31)
  // Restore and print.
  la t0, saved
  ld sp, 0(t0)
  ld gp, 8(t0)
  ld tp, 16(t0)
  li s0, 0
1:
  la a0, fmt
  mv a1, s0
  la t0, regs
  slli t1, s0, 3
  add t0, t0, t1
  ld a2, 0(t0)
  call rt_printf
  addi s0, s0, 1
  li t0, 32
  blt s0, t0, 1b
  la a0, done
  call rt_printf
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  li a0, 0
  ret

  .section .rodata
fmt:
  .asciz "x%lu = %016lx\n"
done:
  .asciz "regfile done\n"

  .bss
  .balign 8
saved:
  .skip 24
regs:
  .skip 32 * 8
