// Vector tables for vectored mtvec/stvec (MODE = 1): entry 0 takes
// exceptions, entry N interrupts with cause N. Each entry reaches its own
// copy of the runtime's trap entry, which passes N to the dispatcher.
#include "trap_entry.inc"

  .text
  .balign 256
  .globl irq_m_vectors
irq_m_vectors:
  .option push
  .option norvc
  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j m_vec_\n
  .endr
  .option pop

  .balign 256
  .globl irq_s_vectors
irq_s_vectors:
  .option push
  .option norvc
  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j s_vec_\n
  .endr
  .option pop

  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  M_TRAP_ENTRY m_vec_\n, irq_m_vectored, \n
  S_TRAP_ENTRY s_vec_\n, irq_s_vectored, \n
  .endr
