// Zicsr and the CSR file as software sees it: the six CSR instructions
// (old value, new value, rd = x0, rs1 = x0 and uimm = 0 not writing),
// read-only and missing CSRs trapping with the instruction in mtval,
// WARL fields (mepc bit 0, fcsr widths), the sstatus/sie/sip views of the
// M registers, counter enables from S and U mode.
#include "ops.h"

#define SHOW(name) printf("%s = %016lx\n", #name, csr_read(name))

// mscratch and sscratch hold the runtime's trap stacks: restored after use.
static void test_instructions(void) {
  uint64_t saved = csr_read(mscratch);
  uint64_t old;
  csr_write(mscratch, 0x0f0f0f0f0f0f0f0f);
  asm volatile("csrrw %0, mscratch, %1" : "=r"(old) : "r"(0x1234567890abcdeful));
  printf("csrrw old %016lx new %016lx\n", old, csr_read(mscratch));
  asm volatile("csrrs %0, mscratch, %1" : "=r"(old) : "r"(0xff00000000000001ul));
  printf("csrrs old %016lx new %016lx\n", old, csr_read(mscratch));
  asm volatile("csrrc %0, mscratch, %1" : "=r"(old) : "r"(0x00000000ffff0000ul));
  printf("csrrc old %016lx new %016lx\n", old, csr_read(mscratch));
  asm volatile("csrrwi %0, mscratch, 31" : "=r"(old));
  printf("csrrwi old %016lx new %016lx\n", old, csr_read(mscratch));
  asm volatile("csrrsi %0, mscratch, 0x10" : "=r"(old));
  printf("csrrsi old %016lx new %016lx\n", old, csr_read(mscratch));
  asm volatile("csrrci %0, mscratch, 0x3" : "=r"(old));
  printf("csrrci old %016lx new %016lx\n", old, csr_read(mscratch));
  // rd == rs1: the old value lands in the register after it was read.
  uint64_t v = 0xabcdul;
  asm volatile("csrrw %0, mscratch, %0" : "+r"(v));
  printf("csrrw rd==rs1 got %016lx csr %016lx\n", v, csr_read(mscratch));
  // rs1 = x0 / uimm = 0: csrrs and csrrc do not write.
  asm volatile("csrrs %0, mscratch, x0\n csrrc x0, mscratch, x0\n csrrsi x0, mscratch, 0" : "=r"(old));
  printf("no-write forms keep %016lx\n", csr_read(mscratch));
  asm volatile("csrw mscratch, x0");
  SHOW(mscratch);
  csr_write(mscratch, saved);
}

// Runs one CSR instruction, given as its 32-bit encoding, from a buffer.
static uint32_t code[2] __attribute__((aligned(4)));
static void run_insn(const char* name, uint32_t insn) {
  // t1 (x6) is the rs1 register used below; it holds 1.
  code[0] = insn;
  code[1] = 0x00008067;  // ret
  asm volatile("fence.i" ::: "memory");
  rt_arm_trap();
  asm volatile("li t1, 1\n jalr ra, 0(%0)" : : "r"(code) : "ra", "t0", "t1", "memory");
  rt_report_trap(name);
}

#define CSR_INSN(csr, rs1, funct3, rd) (((uint32_t)(csr) << 20) | ((rs1) << 15) | ((funct3) << 12) | ((rd) << 7) | 0x73)

static void test_access_rules(void) {
  // Read-only CSRs (csr[11:10] = 3): reading is fine, writing traps, and
  // csrrs/csrrc with rs1 != x0 count as writes even when rs1 holds 0.
  run_insn("csrr t0, mhartid", CSR_INSN(0xf14, 0, 2, 5));
  run_insn("csrrsi t0, mhartid, 0", CSR_INSN(0xf14, 0, 6, 5));
  // (QEMU 7.2 decides "is a write" from rs1's value instead of rs1 != x0,
  // so rs1 holds a non-zero value here.)
  run_insn("csrrs t0, mhartid, t1 (t1=1)", CSR_INSN(0xf14, 6, 2, 5));
  run_insn("csrrc t0, mvendorid, t1 (t1=1)", CSR_INSN(0xf11, 6, 3, 5));
  run_insn("csrw mvendorid, t0", CSR_INSN(0xf11, 5, 1, 0));
  run_insn("csrrwi x0, mimpid, 1", CSR_INSN(0xf13, 1, 5, 0));
  run_insn("csrw cycle, t0", CSR_INSN(0xc00, 5, 1, 0));
  run_insn("csrw instret, t0", CSR_INSN(0xc02, 5, 1, 0));
  run_insn("csrw time, t0", CSR_INSN(0xc01, 5, 1, 0));
  // CSRs that do not exist on this hart.
  run_insn("csrr t0, pmpcfg1 (RV32 only)", CSR_INSN(0x3a1, 0, 2, 5));
  run_insn("csrr t0, hstatus (no H)", CSR_INSN(0x600, 0, 2, 5));
  run_insn("csrr t0, 0x800 (custom)", CSR_INSN(0x800, 0, 2, 5));
  run_insn("csrr t0, 0x7c0 (custom)", CSR_INSN(0x7c0, 0, 2, 5));
  run_insn("csrr t0, cycleh (RV32 only)", CSR_INSN(0xc80, 0, 2, 5));
  run_insn("csrr t0, mstatush (RV32 only)", CSR_INSN(0x310, 0, 2, 5));
  run_insn("csrr t0, 0xfff", CSR_INSN(0xfff, 0, 2, 5));
  run_insn("csrr t0, utvec (no N)", CSR_INSN(0x005, 0, 2, 5));
  // The reserved funct3 = 4 of the SYSTEM opcode.
  run_insn("SYSTEM funct3=4", CSR_INSN(0x340, 0, 4, 5));
}

static void test_machine_csrs(void) {
  SHOW(mhartid);
  SHOW(mvendorid);
  SHOW(mconfigptr);
  SHOW(mhpmcounter3);
  SHOW(mhpmcounter31);
  SHOW(mhpmevent3);
  SHOW(mhpmevent31);
  SHOW(hpmcounter3);
  // (mepc[0] is always zero, but QEMU 7.2 keeps a written bit 0: only
  // even values here.)
  csr_write(mepc, ~1ul);
  SHOW(mepc);
  csr_write(sepc, 0x80001232);
  SHOW(sepc);
  // Valid virtual addresses: mtval/stval need not hold anything else.
  csr_write(mtval, 0xffffffc012345678);
  SHOW(mtval);
  csr_write(stval, 0x0000003fabcdef00);
  SHOW(stval);
  csr_write(mcause, 0x8000000000000005);
  SHOW(mcause);
  csr_write(scause, 0xd);
  SHOW(scause);
  uint64_t saved_sscratch = csr_read(sscratch);
  csr_write(sscratch, 0x5555aaaa5555aaaa);
  SHOW(sscratch);
  csr_write(sscratch, saved_sscratch);
  uint64_t saved = csr_read(mtvec);
  csr_write(mtvec, 0x80004001);  // vectored
  SHOW(mtvec);
  csr_write(mtvec, saved);
  csr_write(stvec, 0x80008000);
  SHOW(stvec);
  csr_write(stvec, 0x80008101);
  SHOW(stvec);
  csr_write(mcounteren, 0x7);
  SHOW(mcounteren);
  csr_write(scounteren, 0x5);
  SHOW(scounteren);
  csr_write(mcounteren, 0);
  csr_write(scounteren, 0);
  // Counters move (their values are not printed: they are host-dependent).
  uint64_t c0 = csr_read(mcycle), i0 = csr_read(minstret), t0 = csr_read(time);
  for (volatile int i = 0; i < 1000; i++) {
  }
  printf("mcycle advanced %d minstret advanced %d time monotonic %d\n", csr_read(mcycle) > c0,
         csr_read(minstret) > i0, csr_read(time) >= t0);
  printf("cycle==mcycle domain: cycle advanced %d instret advanced %d\n", csr_read(cycle) > c0,
         csr_read(instret) > i0);
}

static void test_fcsr(void) {
  csr_write(fcsr, 0xffffffff);
  SHOW(fcsr);
  SHOW(frm);
  SHOW(fflags);
  csr_write(fflags, 0x2a);
  SHOW(fcsr);
  csr_write(frm, 0xd);
  SHOW(fcsr);
  uint64_t old;
  asm volatile("csrrwi %0, fflags, 0x11" : "=r"(old));
  printf("csrrwi fflags old %lx fcsr %lx\n", old, csr_read(fcsr));
  asm volatile("fsflags %0, %1" : "=r"(old) : "r"(0ul));
  asm volatile("fsrm %0, %1" : "=r"(old) : "r"(2ul));
  printf("fsrm old %lx fcsr %lx\n", old, csr_read(fcsr));
  csr_write(fcsr, 0);
}

// mstatus bits whose behaviour the spec fixes (no WARL choices).
#define STATUS_MASK                                                                     \
  (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP | \
   MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW |   \
   MSTATUS_TSR | MSTATUS_SD)

static void test_status_views(void) {
  uint64_t saved = csr_read(mstatus);
  printf("mstatus UXL=%lx SXL=%lx\n", (saved >> 32) & 3, (saved >> 34) & 3);
  csr_clear(mstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
  csr_set(sstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
  printf("after sstatus set: mstatus&mask %016lx sstatus&mask %016lx\n", csr_read(mstatus) & STATUS_MASK,
         csr_read(sstatus) & STATUS_MASK);
  // M-only fields are invisible and unwritable through sstatus.
  csr_set(sstatus, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR);
  printf("M bits via sstatus: mstatus&mask %016lx\n", csr_read(mstatus) & STATUS_MASK);
  csr_set(mstatus, MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV);
  printf("sstatus hides M bits: %016lx\n", csr_read(sstatus) & STATUS_MASK);
  csr_clear(mstatus, MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV);
  // FS: Dirty sets SD; Off clears it.
  csr_set(mstatus, MSTATUS_FS);
  printf("FS=3: SD=%lu\n", csr_read(mstatus) >> 63);
  csr_set(sstatus, 0);
  printf("FS=3 via sstatus: SD=%lu\n", csr_read(sstatus) >> 63);
  csr_clear(mstatus, MSTATUS_FS);
  printf("FS=0: SD=%lu\n", csr_read(mstatus) >> 63);
  csr_write(mstatus, saved);

  // mie/mip and their S views (only the standard M and S bits are set:
  // QEMU 7.2 also keeps VS and LCOF bits without H or Sscofpmf).
  csr_write(mie, 0xaaa);
  SHOW(mie);
  csr_write(mideleg, 0x222);
  SHOW(mideleg);
  SHOW(sie);
  csr_write(sie, 0);
  printf("sie=0: mie %016lx\n", csr_read(mie));
  csr_write(sie, 0x222);
  printf("sie=0x222: mie %016lx\n", csr_read(mie));
  csr_write(mideleg, 0);
  SHOW(sie);
  csr_write(mie, 0);
  // With MIE clear nothing is taken while we poke mip.
  csr_write(mip, 0x222);
  printf("mip after writing SSIP|STIP|SEIP: %016lx\n", csr_read(mip) & 0xfff);
  csr_write(mideleg, 0x222);
  printf("sip (delegated) %016lx\n", csr_read(sip) & 0xfff);
  csr_write(sip, 0);
  printf("sip=0 clears only SSIP: mip %016lx\n", csr_read(mip) & 0xfff);
  csr_write(mip, 0);
  csr_write(mideleg, 0);
  printf("sip (not delegated) %016lx\n", csr_read(sip) & 0xfff);
  csr_write(medeleg, 0xb1ff);
  printf("medeleg common bits %016lx\n", csr_read(medeleg) & 0xb1ff);
  csr_write(medeleg, 0);
}

static void test_satp(void) {
  csr_write(satp, (8ul << 60) | 0x80123);
  SHOW(satp);
  csr_write(satp, (5ul << 60) | 0x80456);  // reserved mode: write ignored
  SHOW(satp);
  csr_write(satp, (9ul << 60) | 0x0fffffffffff);
  SHOW(satp);
  csr_write(satp, 0);
  SHOW(satp);
}

// Counter access from lower modes (mcounteren/scounteren gate them).
static uint64_t read_cycle(uint64_t which) {
  uint64_t v = 0;
  rt_arm_trap();
  if (which == 0) asm volatile("csrr %0, cycle" : "=r"(v));
  if (which == 1) asm volatile("csrr %0, time" : "=r"(v));
  if (which == 2) asm volatile("csrr %0, instret" : "=r"(v));
  if (which == 3) asm volatile("csrr %0, hpmcounter3" : "=r"(v));
  return rt_last_trap.count ? rt_last_trap.cause : 0xff;
}

static uint64_t read_scratch(uint64_t which) {
  rt_arm_trap();
  uint64_t v;
  if (which == 0) asm volatile("csrr %0, mscratch" : "=r"(v));
  if (which == 1) asm volatile("csrr %0, sscratch" : "=r"(v));
  if (which == 2) asm volatile("csrr %0, mstatus" : "=r"(v));
  if (which == 3) asm volatile("csrr %0, sstatus" : "=r"(v));
  if (which == 4) asm volatile("csrr %0, satp" : "=r"(v));
  return rt_last_trap.count ? rt_last_trap.cause : 0xff;
}

static void test_counter_enables(void) {
  static const char* names[] = {"cycle", "time", "instret", "hpmcounter3"};
  static const uint64_t settings[][2] = {{0, 0}, {7, 0}, {7, 7}, {0xf, 0x5}, {0x2, 0x7}};
  for (unsigned s = 0; s < COUNT(settings); s++) {
    csr_write(mcounteren, settings[s][0]);
    csr_write(scounteren, settings[s][1]);
    for (unsigned w = 0; w < 4; w++) {
      uint64_t us = rt_enter(PRV_S, read_cycle, w);
      uint64_t uu = rt_enter(PRV_U, read_cycle, w);
      printf("mcounteren=%lx scounteren=%lx %s: S %s U %s\n", settings[s][0], settings[s][1],
             names[w], us == 0xff ? "ok" : "illegal", uu == 0xff ? "ok" : "illegal");
    }
  }
  csr_write(mcounteren, 0);
  csr_write(scounteren, 0);
  rt_expect_trap = 0;
  // M CSRs from S (illegal), S CSRs from U (illegal).
  static const char* regs[] = {"mscratch", "sscratch", "mstatus", "sstatus", "satp"};
  for (unsigned w = 0; w < COUNT(regs); w++) {
    uint64_t s = rt_enter(PRV_S, read_scratch, w);
    uint64_t u = rt_enter(PRV_U, read_scratch, w);
    printf("%s: S %s U %s\n", regs[w], s == 0xff ? "ok" : "illegal", u == 0xff ? "ok" : "illegal");
  }
  rt_expect_trap = 0;
}

int main(void) {
  rt_pmp_allow_all();
  test_instructions();
  test_access_rules();
  test_machine_csrs();
  test_fcsr();
  test_status_views();
  test_satp();
  test_counter_enables();
  printf("zicsr done\n");
  return 0;
}
