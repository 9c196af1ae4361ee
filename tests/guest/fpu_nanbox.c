// NaN boxing (unprivileged spec 12.2): single values live in the low half
// of an f register with the upper 32 bits all ones. Transfers (flw, fsw,
// fmv.w.x, fmv.x.w) move bits; every other single operation reads an
// improperly boxed operand as the canonical NaN. Also: mstatus.FS (Off
// makes every F/D instruction and fcsr access illegal; writes make it
// Dirty) and reserved rounding modes.
#include "fpu.h"

// Values put in a whole f register with fmv.d.x: properly and improperly
// boxed singles, and a double.
static const uint64_t regs[] = {
    0xffffffff3f800000,  // boxed 1.0f
    0x000000003f800000,  // upper half zero
    0x7fffffff3f800000,  // upper half almost all ones
    0xfffffffe3f800000,
    0x3ff0000000000000,  // 1.0 as a double
    0xffffffff7f800001,  // boxed signalling NaN
    0xffffffffbf800000,  // boxed -1.0f
    0x00000000bf800000,  // unboxed -1.0f
};

#define ONE_F 0xffffffff3f800000ul

#define NB2(fn, insn)                                                                  \
  static struct fres fn(uint64_t a, uint64_t b) {                                      \
    struct fres r;                                                                     \
    asm volatile("fmv.d.x ft0, %2\n fmv.d.x ft1, %3\n csrw fflags, zero\n" insn         \
                 " ft2, ft0, ft1\n fmv.x.d %0, ft2\n csrr %1, fflags\n"                  \
                 : "=r"(r.bits), "=r"(r.flags) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); \
    return r;                                                                          \
  }
NB2(nb_fadd, "fadd.s")
NB2(nb_fmul, "fmul.s")
NB2(nb_fsgnj, "fsgnj.s")
NB2(nb_fsgnjn, "fsgnjn.s")
NB2(nb_fsgnjx, "fsgnjx.s")
NB2(nb_fmin, "fmin.s")
NB2(nb_fmax, "fmax.s")

static const struct {
  const char* name;
  struct fres (*fn)(uint64_t, uint64_t);
} ops[] = {{"fadd.s", nb_fadd},   {"fmul.s", nb_fmul}, {"fsgnj.s", nb_fsgnj}, {"fsgnjn.s", nb_fsgnjn},
           {"fsgnjx.s", nb_fsgnjx}, {"fmin.s", nb_fmin}, {"fmax.s", nb_fmax}};

static void test_boxing(void) {
  // Results of single operations are boxed.
  uint64_t r;
  static volatile uint32_t w = 0x40490fdb;
  asm volatile("flw ft0, 0(%1)\n fmv.x.d %0, ft0" : "=r"(r) : "r"(&w) : "ft0");
  printf("flw then fmv.x.d: %016lx\n", r);
  asm volatile("fmv.w.x ft0, %1\n fadd.s ft0, ft0, ft0\n fmv.x.d %0, ft0" : "=r"(r) : "r"(0x3f800000ul) : "ft0");
  printf("fadd.s result as 64 bits: %016lx\n", r);
  asm volatile("fcvt.s.w ft0, %1\n fmv.x.d %0, ft0" : "=r"(r) : "r"(-3l) : "ft0");
  printf("fcvt.s.w result as 64 bits: %016lx\n", r);
  asm volatile("fmv.d.x ft0, %1\n fcvt.s.d ft0, ft0\n fmv.x.d %0, ft0" : "=r"(r) : "r"(0x4000000000000000ul) : "ft0");
  printf("fcvt.s.d result as 64 bits: %016lx\n", r);

  for (unsigned i = 0; i < COUNT(regs); i++) {
    for (unsigned k = 0; k < COUNT(ops); k++) {
      struct fres a = ops[k].fn(regs[i], ONE_F), b = ops[k].fn(ONE_F, regs[i]);
      printf("%s r%u,1.0: %016lx/%02lx  1.0,r%u: %016lx/%02lx\n", ops[k].name, i, a.bits, a.flags, i,
             b.bits, b.flags);
    }
    uint64_t cls, eq, x, cvt, d, fl;
    asm volatile(
        "fmv.d.x ft0, %6\n csrw fflags, zero\n"
        "fclass.s %0, ft0\n feq.s %1, ft0, ft0\n fmv.x.w %2, ft0\n fcvt.w.s %3, ft0, rtz\n"
        "fcvt.d.s ft1, ft0\n fmv.x.d %4, ft1\n csrr %5, fflags\n"
        : "=r"(cls), "=r"(eq), "=r"(x), "=r"(cvt), "=r"(d), "=r"(fl) : "r"(regs[i]) : "ft0", "ft1");
    printf("r%u: fclass.s %lx feq.s %lu fmv.x.w %016lx fcvt.w.s %lx fcvt.d.s %016lx fflags %lx\n", i, cls,
           eq, x, cvt, d, fl);
    // fsw stores the low 32 bits whatever the upper half holds.
    static volatile uint64_t m;
    m = 0x5555555555555555;
    asm volatile("fmv.d.x ft0, %0\n fsw ft0, 0(%1)" : : "r"(regs[i]), "r"(&m) : "ft0", "memory");
    printf("r%u: fsw wrote %016lx\n", i, m);
  }
  // fmv.s (fsgnj.s rd, rs, rs) of an improperly boxed value.
  asm volatile("fmv.d.x ft0, %1\n fmv.s ft1, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(regs[1]) : "ft0", "ft1");
  printf("fmv.s of unboxed: %016lx\n", r);
  // fmadd.s with one unboxed operand.
  asm volatile("fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n fmadd.s ft2, ft1, ft1, ft0\n fmv.x.d %0, ft2"
               : "=r"(r) : "r"(regs[2]), "r"(ONE_F) : "ft0", "ft1", "ft2");
  printf("fmadd.s with unboxed addend: %016lx\n", r);
}

static uint32_t code[4] __attribute__((aligned(16)));
static void run_insn(const char* name, uint32_t insn) {
  code[0] = insn;
  code[1] = 0x00008067;  // ret
  asm volatile("fence.i" ::: "memory");
  rt_arm_trap();
  asm volatile("jalr ra, 0(%0)" : : "r"(code) : "ra", "ft0", "ft1", "t0", "memory");
  rt_report_trap(name);
}

// fadd.s ft0, ft1, ft2 with the given rm field.
#define FADD_S_RM(rm) (0x00000053u | (0u << 7) | ((uint32_t)(rm) << 12) | (1u << 15) | (2u << 20))

static void test_fs_and_rm(void) {
  uint64_t saved = csr_read(mstatus);
  // FS = Off: everything touching the FPU is illegal.
  csr_clear(mstatus, MSTATUS_FS);
  run_insn("FS=Off fadd.s", FADD_S_RM(0));
  run_insn("FS=Off flw", 0x0000a007 | (10u << 15));  // flw ft0, 0(a0): a0 is junk but never used
  run_insn("FS=Off fsd", 0x00003027 | (2u << 15));   // fsd ft0, 0(sp)
  run_insn("FS=Off fmv.x.w t0", 0xe00002d3);
  run_insn("FS=Off csrr t0, fcsr", 0x003022f3);
  run_insn("FS=Off csrr t0, fflags", 0x001022f3);
  run_insn("FS=Off csrr t0, frm", 0x002022f3);
  printf("FS after Off tests: %lu\n", (csr_read(mstatus) >> 13) & 3);
  // FS = Initial, then an FP register write makes it Dirty.
  csr_set(mstatus, 1ul << 13);
  printf("FS=Initial: FS %lu SD %lu\n", (csr_read(mstatus) >> 13) & 3, csr_read(mstatus) >> 63);
  asm volatile("fmv.w.x ft0, zero" ::: "ft0");
  printf("after fmv.w.x: FS %lu SD %lu\n", (csr_read(mstatus) >> 13) & 3, csr_read(mstatus) >> 63);
  csr_clear(mstatus, MSTATUS_FS);
  csr_set(mstatus, 1ul << 13);
  csr_write(fflags, 0);
  printf("after csrw fflags: FS %lu\n", (csr_read(mstatus) >> 13) & 3);
  csr_clear(mstatus, MSTATUS_FS);
  csr_set(mstatus, 2ul << 13);  // Clean
  asm volatile("fadd.s ft0, ft0, ft0" ::: "ft0");
  printf("Clean, after fadd.s: FS %lu\n", (csr_read(mstatus) >> 13) & 3);
  csr_write(mstatus, saved | MSTATUS_FS);

  // Reserved rounding modes: static 5 and 6, dynamic with frm 5..7.
  run_insn("fadd.s rm=5", FADD_S_RM(5));
  run_insn("fadd.s rm=6", FADD_S_RM(6));
  for (uint64_t frm = 4; frm < 8; frm++) {
    csr_write(frm, frm);
    printf("frm=%lu ", frm);
    run_insn("fadd.s dyn", FADD_S_RM(7));
  }
  // Operations without rounding ignore frm.
  csr_write(frm, 6);
  run_insn("frm=6 fsgnj.s", 0x20208053);
  run_insn("frm=6 fmin.s", 0x28208053);
  run_insn("frm=6 fmv.x.w", 0xe00082d3);
  csr_write(frm, 0);
}

int main(void) {
  test_boxing();
  test_fs_and_rm();
  printf("fpu_nanbox done\n");
  return 0;
}
