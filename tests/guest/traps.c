// Synchronous exceptions taken in M-mode, from M, S and U: illegal
// instructions (mtval = the instruction), privileged instructions in the
// wrong mode and under TVM/TW/TSR, breakpoints, ecalls from each mode,
// misaligned LR, load/store/fetch access faults; mcause, mepc, mtval and
// the mstatus MPP/MPIE/MIE bookkeeping. (Misaligned AMOs and AMO access
// faults: QEMU 7.2 reports load causes for them, see qemu_quirks.c.)
#include "ops.h"

// A physical address just past the 64 MiB of RAM difftest.sh gives.
#define PAST_RAM (RAM_BASE + (64ul << 20))

static uint32_t code[4] __attribute__((aligned(16)));

// Runs a raw 32-bit instruction (followed by ret) in the current mode.
static uint64_t exec_insn(uint64_t insn) {
  code[0] = (uint32_t)insn;
  code[1] = 0x00008067;  // ret
  asm volatile("fence.i" ::: "memory");
  asm volatile("jalr ra, 0(%0)" : : "r"(code) : "ra", "memory");
  return 0;
}

static const struct {
  const char* name;
  uint32_t insn;
} illegal[] = {
    {"all zeros", 0x00000000},
    {"all ones", 0xffffffff},
    {"custom-0 opcode", 0x0000000b},
    {"OP funct7=0x3f", 0x7e000033},
    {"OP-32 funct7=0x01 funct3=1 (no mulw form)", 0x0200103b},
    {"LOAD funct3=7", 0x00007003},
    {"STORE funct3=4", 0x00004023},
    {"BRANCH funct3=2", 0x00002063},
    {"JALR funct3=1", 0x00001067},
    {"OP-IMM-32 slliw shamt[5]=1", 0x0200101b},
    {"AMO funct5=0x1f", 0xf800302f},
    {"AMO .b width", 0x0800002f},
    {"lr.d with rs2 != 0", 0x1015b02f},
    {"FENCE funct3=2", 0x0000200f},
    {"SYSTEM ecall with rd!=0", 0x000000f3},
    {"mret with rs1!=0", 0x30228073},
};

static void test_illegal_m(void) {
  for (unsigned i = 0; i < COUNT(illegal); i++) {
    rt_arm_trap();
    exec_insn(illegal[i].insn);
    rt_report_trap(illegal[i].name);
  }
}

// Privileged instructions in S and U mode.
static const struct {
  const char* name;
  uint32_t insn;
} priv_insns[] = {
    {"mret", 0x30200073},
    {"sret", 0x10200073},
    {"sfence.vma", 0x12000073},
    {"csrr satp", 0x180022f3},
    {"csrw mscratch", 0x34029073},
};

static uint64_t run_list(uint64_t first) {
  for (unsigned i = first; i < COUNT(priv_insns); i++) {
    rt_arm_trap();
    exec_insn(priv_insns[i].insn);
    printf("  %s: ", priv_insns[i].name);
    rt_report_trap(rt_last_trap.count ? "trap" : "executed");
  }
  return 0;
}

static uint64_t run_one(uint64_t insn) {
  rt_arm_trap();
  exec_insn(insn);
  rt_report_trap("  result");
  return 0;
}

static void test_priv_modes(void) {
  printf("from U:\n");
  rt_enter(PRV_U, run_list, 0);
  printf("from S (sret and mret skipped: TSR=0 would really return):\n");
  rt_enter(PRV_S, run_list, 2);
  printf("wfi from U (S exists: illegal)\n");
  rt_enter(PRV_U, run_one, 0x10500073);
  // mstatus.TVM: satp and sfence.vma from S are illegal.
  csr_set(mstatus, MSTATUS_TVM);
  printf("TVM=1: sfence.vma from S\n");
  rt_enter(PRV_S, run_one, 0x12000073);
  printf("TVM=1: csrr satp from S\n");
  rt_enter(PRV_S, run_one, 0x180022f3);
  printf("TVM=1: sfence.vma from M\n");
  run_one(0x12000073);
  csr_clear(mstatus, MSTATUS_TVM);
  // mstatus.TSR: sret from S is illegal.
  csr_set(mstatus, MSTATUS_TSR);
  printf("TSR=1: sret from S\n");
  rt_enter(PRV_S, run_one, 0x10200073);
  csr_clear(mstatus, MSTATUS_TSR);
  // mstatus.TW: wfi from S is illegal (with TW=0 it would wait).
  csr_set(mstatus, MSTATUS_TW);
  printf("TW=1: wfi from S\n");
  rt_enter(PRV_S, run_one, 0x10500073);
  csr_clear(mstatus, MSTATUS_TW);
}

static uint64_t do_ebreak(uint64_t unused) {
  (void)unused;
  rt_arm_trap();
  asm volatile(".option push\n .option norvc\n ebreak\n .option pop");
  rt_report_trap("  ebreak");
  rt_arm_trap();
  asm volatile("c.ebreak");
  rt_report_trap("  c.ebreak");
  return 0;
}

static uint64_t do_ecall(uint64_t unused) {
  (void)unused;
  rt_arm_trap();
  asm volatile("li a7, 0\n ecall" ::: "a7", "memory");
  rt_report_trap("  ecall");
  printf("  MPP=%lu MPIE=%lu MIE=%lu\n", (rt_last_trap.status >> 11) & 3,
         (rt_last_trap.status >> 7) & 1, (rt_last_trap.status >> 3) & 1);
  return 0;
}

static void test_ebreak_ecall(void) {
  printf("from M:\n");
  do_ebreak(0);
  do_ecall(0);
  printf("from S:\n");
  rt_enter(PRV_S, do_ebreak, 0);
  rt_enter(PRV_S, do_ecall, 0);
  printf("from U:\n");
  rt_enter(PRV_U, do_ebreak, 0);
  rt_enter(PRV_U, do_ecall, 0);
  // MPIE records MIE; MIE is cleared in the handler.
  csr_set(mstatus, MSTATUS_MIE);
  printf("from M with MIE=1:\n");
  do_ecall(0);
  printf("MIE after mret: %lu\n", (csr_read(mstatus) >> 3) & 1);
  csr_clear(mstatus, MSTATUS_MIE);
}

static uint64_t cell[4] __attribute__((aligned(32)));

static uint64_t misaligned(uint64_t unused) {
  (void)unused;
  uint64_t r;
  char* p = (char*)cell;
  rt_arm_trap();
  asm volatile("lr.w %0, (%1)" : "=r"(r) : "r"(p + 2) : "memory");
  rt_report_trap("  lr.w +2");
  rt_arm_trap();
  asm volatile("lr.d %0, (%1)" : "=r"(r) : "r"(p + 4) : "memory");
  rt_report_trap("  lr.d +4");
  rt_arm_trap();
  asm volatile("lr.d %0, (%1)" : "=r"(r) : "r"(p + 7) : "memory");
  rt_report_trap("  lr.d +7");
  return 0;
}

// Loads, stores, AMOs and fetches where nothing is mapped.
static uint64_t access_faults(uint64_t base) {
  uint64_t r = 0;
  rt_arm_trap();
  asm volatile("ld %0, 0(%1)" : "=r"(r) : "r"(base) : "memory");
  rt_report_trap("  ld");
  rt_arm_trap();
  asm volatile("lbu %0, 3(%1)" : "=r"(r) : "r"(base) : "memory");
  rt_report_trap("  lbu +3");
  rt_arm_trap();
  asm volatile("sw %0, 8(%1)" : : "r"(r), "r"(base) : "memory");
  rt_report_trap("  sw +8");
  rt_arm_trap();
  asm volatile("lr.d %0, (%1)" : "=r"(r) : "r"(base) : "memory");
  rt_report_trap("  lr.d");
  rt_arm_trap();
  asm volatile("jalr ra, 16(%0)" : : "r"(base) : "ra", "memory");
  rt_report_trap("  fetch +16");
  return 0;
}

int main(void) {
  rt_pmp_allow_all();
  printf("illegal instructions in M:\n");
  test_illegal_m();
  test_priv_modes();
  test_ebreak_ecall();
  printf("misaligned LR in M:\n");
  misaligned(0);
  printf("misaligned LR in U:\n");
  rt_enter(PRV_U, misaligned, 0);
  printf("access faults at %lx in M:\n", UNMAPPED_ADDR);
  access_faults(UNMAPPED_ADDR);
  printf("access faults at %lx in S:\n", UNMAPPED_ADDR);
  rt_enter(PRV_S, access_faults, UNMAPPED_ADDR);
  printf("access faults past RAM in U:\n");
  rt_enter(PRV_U, access_faults, PAST_RAM);
  printf("access faults at 0 in M:\n");
  access_faults(0);
  printf("traps done\n");
  return 0;
}
