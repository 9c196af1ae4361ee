// Paging tests shared by Sv39 and Sv48 (privileged spec 4.3-4.4): A/D
// updates read back from the PTEs, permission faults with stval, MXR, SUM,
// U/S separation, MPRV, superpages (and misaligned ones), invalid and
// reserved PTE encodings, sfence.vma, delegated page faults.
#include "vm.h"

static unsigned g_levels;
static uint64_t pt_pool[48][512] __attribute__((aligned(4096)));
static unsigned pt_used;
static uint64_t* root;

// Physical pages the test mappings point at.
static uint8_t pages[10][4096] __attribute__((aligned(4096)));
enum { P_DATA, P_RO, P_XONLY, P_USER, P_RX, P_SF_A, P_SF_B, P_WONLY, P_ZERO, P_STORE2 };
// A 2 MiB-aligned physical region for the superpage tests.
#define MEGA_PA 0x80400000ul

// User-mode code: leaf snippets that end with the runtime's exit ecall
// (U mode cannot return into S-only .text). Placed in their own pages,
// which get the U bit.
asm(".pushsection .text.user, \"ax\"\n"
    ".balign 4096\n"
    ".globl u_load, u_store, u_fetch, u_amo, u_lr\n"
    "u_load:  li t0, 0xbad\n ld t0, 0(a0)\n mv a0, t0\n j u_exit\n"
    "u_store: li t0, 0x5a\n sd t0, 0(a0)\n li a0, 0\n j u_exit\n"
    "u_fetch: li t0, 0xbad\n mv t1, a0\n mv a0, t0\n jalr ra, 0(t1)\n j u_exit\n"
    "u_amo:   li t0, 0xbad\n amoadd.d t0, t0, (a0)\n mv a0, t0\n j u_exit\n"
    "u_lr:    li t0, 0xbad\n lr.d t0, (a0)\n mv a0, t0\n j u_exit\n"
    "u_exit:  li a7, 0x7e57\n ecall\n"
    ".balign 4096\n"
    ".popsection\n");
extern char u_load[], u_store[], u_fetch[], u_amo[], u_lr[];

static uint64_t* alloc_table(void) {
  if (pt_used == 48) {
    printf("page-table pool exhausted\n");
    rt_exit(5);
  }
  uint64_t* t = pt_pool[pt_used++];
  memset(t, 0, 4096);
  return t;
}

static unsigned vpn(uint64_t va, unsigned level) { return (va >> (12 + 9 * level)) & 0x1ff; }

volatile uint64_t* vm_map(uint64_t va, uint64_t pa, unsigned level, uint64_t flags) {
  uint64_t* t = root;
  for (unsigned l = g_levels - 1; l > level; l--) {
    uint64_t* e = &t[vpn(va, l)];
    if (!(*e & PTE_V)) *e = (((uint64_t)alloc_table() >> 12) << 10) | PTE_V;
    t = (uint64_t*)((*e >> 10) << 12);
  }
  volatile uint64_t* leaf = &t[vpn(va, level)];
  *leaf = ((pa >> 12) << 10) | flags;
  return leaf;
}

volatile uint64_t* vm_pte(uint64_t va) {
  uint64_t* t = root;
  for (unsigned l = g_levels - 1;; l--) {
    uint64_t* e = &t[vpn(va, l)];
    if (!(*e & PTE_V) || (*e & (PTE_R | PTE_W | PTE_X)) || l == 0) return e;
    t = (uint64_t*)((*e >> 10) << 12);
  }
}

uint64_t vm_satp(void) {
  return (g_levels == 3 ? SATP_SV39 : SATP_SV48) | ((uint64_t)root >> 12);
}

static void flush(void) { asm volatile("sfence.vma" ::: "memory"); }

void vm_init(unsigned levels) {
  g_levels = levels;
  pt_used = 0;
  root = alloc_table();
  const uint64_t kern = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
  extern char __end[];
  if ((uint64_t)__end > RAM_BASE + (2ul << 20)) {
    printf("program too large for the 4 KiB identity map\n");
    rt_exit(5);
  }
  for (uint64_t pa = RAM_BASE; pa < RAM_BASE + (2ul << 20); pa += 4096) vm_map(pa, pa, 0, kern);
  for (uint64_t pa = RAM_BASE + (2ul << 20); pa < RAM_BASE + (64ul << 20); pa += 2ul << 20)
    vm_map(pa, pa, 1, kern);
  vm_map(0, 0, 2, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);  // devices
  // The user snippets' page(s).
  for (uint64_t pa = (uint64_t)u_load & ~0xfffull; pa < (uint64_t)u_lr + 64; pa += 4096)
    vm_map(pa, pa, 0, kern | PTE_U);

  // Test pages: contents first.
  for (int p = 0; p < 10; p++)
    for (int i = 0; i < 4096; i += 8) *(uint64_t*)&pages[p][i] = 0x1111111111111111ull * (p + 1) + i;
  memset(pages[P_ZERO], 0, 4096);
  const uint32_t li42_ret[] = {0x02a00513, 0x00008067};  // li a0, 42; ret
  memcpy(pages[P_XONLY], li42_ret, sizeof li42_ret);
  memcpy(pages[P_RX], li42_ret, sizeof li42_ret);
  memcpy(pages[P_USER] + 0x800, li42_ret, sizeof li42_ret);
  for (uint64_t i = 0; i < 16; i++) ((volatile uint64_t*)MEGA_PA)[i * 512] = 0xa0a0a0a000000000ull + i;

  vm_map(VA_TEST + 0x0000, (uint64_t)pages[P_DATA], 0, PTE_V | PTE_R | PTE_W);
  vm_map(VA_TEST + 0x1000, (uint64_t)pages[P_RO], 0, PTE_V | PTE_R);
  vm_map(VA_TEST + 0x2000, (uint64_t)pages[P_XONLY], 0, PTE_V | PTE_X);
  // VA_TEST + 0x3000: not mapped.
  vm_map(VA_TEST + 0x4000, (uint64_t)pages[P_WONLY], 0, PTE_V | PTE_W | PTE_A | PTE_D);
  vm_map(VA_TEST + 0x5000, (uint64_t)pages[P_USER], 0, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U);
  vm_map(VA_TEST + 0x6000, (uint64_t)pages[P_RX], 0, PTE_V | PTE_R | PTE_X);
  vm_map(VA_TEST + 0x7000, (uint64_t)pages[P_SF_A], 0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
  // Non-leaf PTE at level 0 (a pointer where a leaf must be).
  vm_map(VA_TEST + 0x8000, (uint64_t)pages[P_ZERO], 0, PTE_V);
  // Invalid PTE with permission bits set.
  vm_map(VA_TEST + 0x9000, (uint64_t)pages[P_RO], 0, PTE_R | PTE_W | PTE_A | PTE_D);
  vm_map(VA_TEST + 0xa000, (uint64_t)pages[P_STORE2], 0, PTE_V | PTE_R | PTE_W | PTE_A);
  // W+X without R (reserved).
  vm_map(VA_TEST + 0xb000, (uint64_t)pages[P_RO], 0, PTE_V | PTE_W | PTE_X | PTE_A | PTE_D);
  // 2 MiB pages: aligned, and one whose PPN[0] is not zero.
  vm_map(VA_TEST + 0x200000, MEGA_PA, 1, PTE_V | PTE_R | PTE_W);
  vm_map(VA_TEST + 0x400000, MEGA_PA + 0x1000, 1, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
  // 1 GiB pages at VA 8 GiB (aligned alias of RAM) and 12 GiB (misaligned).
  vm_map(0x200000000ul, RAM_BASE, 2, PTE_V | PTE_R | PTE_A);
  vm_map(0x300000000ul, RAM_BASE + (2ul << 20), 2, PTE_V | PTE_R | PTE_A);

  csr_write(satp, vm_satp());
  flush();
}

static volatile uint64_t probe_va;
static volatile unsigned probe_kind;

static uint64_t s_probe(uint64_t unused) {
  (void)unused;
  uint64_t va = probe_va, r = 0xbad;
  switch (probe_kind) {
    case PROBE_LOAD:
      asm volatile("ld %0, 0(%1)" : "+r"(r) : "r"(va) : "memory");
      break;
    case PROBE_STORE:
      asm volatile("sd %0, 0(%1)" : : "r"(0x5aul), "r"(va) : "memory");
      r = 0;
      break;
    case PROBE_FETCH:
      asm volatile("mv a0, %0\n jalr ra, 0(%1)\n mv %0, a0" : "+r"(r) : "r"(va) : "ra", "a0", "memory");
      break;
    case PROBE_AMO:
      asm volatile("amoadd.d %0, %0, (%1)" : "+r"(r) : "r"(va) : "memory");
      break;
    case PROBE_LR:
      asm volatile("lr.d %0, (%1)" : "+r"(r) : "r"(va) : "memory");
      break;
  }
  return r;
}

static void show(const char* what, uint64_t r, uint64_t va) {
  printf("%s %lx: value %lx, ", what, va, r);
  if (rt_last_trap.count)
    printf("trap cause=%lx epc=%lx tval=%lx", rt_last_trap.cause, rt_last_trap.epc, rt_last_trap.tval);
  else
    printf("no trap");
  // The PTE the walk ends at, where the address has one.
  unsigned bits = 12 + 9 * g_levels;
  int64_t top = (int64_t)va >> (bits - 1);
  if (top == 0 || top == -1)
    printf(", pte %lx\n", *vm_pte(va));
  else
    printf(", not canonical\n");
  rt_expect_trap = 0;
}

void vm_probe(const char* what, unsigned mode, enum probe_kind kind, uint64_t va) {
  uint64_t r;
  rt_arm_trap();
  if (mode == PRV_S) {
    probe_va = va;
    probe_kind = kind;
    r = rt_enter(PRV_S, s_probe, 0);
  } else {
    static char* const snippets[] = {u_load, u_store, u_fetch, u_amo, u_lr};
    r = rt_enter(PRV_U, (uint64_t(*)(uint64_t))snippets[kind], va);
  }
  show(what, r, va);
}

void vm_probe_mprv(const char* what, unsigned mpp, enum probe_kind kind, uint64_t va) {
  uint64_t r = 0xbad;
  rt_arm_trap();
  csr_clear(mstatus, MSTATUS_MPP);
  csr_set(mstatus, (uint64_t)mpp << 11);
  // No other memory access while MPRV is set: a trap taken here leaves
  // MPP = U after its mret, which would change the meaning of MPRV.
  if (kind == PROBE_LOAD)
    asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2"
                 : "+r"(r) : "r"(va), "r"(MSTATUS_MPRV) : "memory");
  else
    asm volatile("csrs mstatus, %2\n sd %0, 0(%1)\n csrc mstatus, %2"
                 : "+r"(r) : "r"(va), "r"(MSTATUS_MPRV) : "memory");
  show(what, r, va);
}

static void test_ad_bits(void) {
  printf("-- A/D bits\n");
  vm_probe("S load (A=0 D=0)", PRV_S, PROBE_LOAD, VA_TEST + 0x0008);
  vm_probe("S store (A=1 D=0)", PRV_S, PROBE_STORE, VA_TEST + 0x0010);
  vm_probe("S load after store", PRV_S, PROBE_LOAD, VA_TEST + 0x0010);
  *vm_pte(VA_TEST) &= ~(PTE_A | PTE_D);
  flush();
  vm_probe("S store first (A=0 D=0)", PRV_S, PROBE_STORE, VA_TEST + 0x0018);
  *vm_pte(VA_TEST) &= ~(PTE_A | PTE_D);
  flush();
  vm_probe("S amo first (A=0 D=0)", PRV_S, PROBE_AMO, VA_TEST + 0x0020);
  *vm_pte(VA_TEST) &= ~(PTE_A | PTE_D);
  flush();
  vm_probe("S lr (A=0 D=0)", PRV_S, PROBE_LR, VA_TEST + 0x0028);
  vm_probe("S fetch (A=0)", PRV_S, PROBE_FETCH, VA_TEST + 0x6000);
  vm_probe("S store to RO page (no A/D change)", PRV_S, PROBE_STORE, VA_TEST + 0x1000);
  vm_probe("S load from RO page", PRV_S, PROBE_LOAD, VA_TEST + 0x1000);
  vm_probe("S store with A=1 D=0", PRV_S, PROBE_STORE, VA_TEST + 0xa000);
  vm_probe("S load 2 MiB page (A=0)", PRV_S, PROBE_LOAD, VA_TEST + 0x200000 + 0x3000);
  vm_probe("S store 2 MiB page", PRV_S, PROBE_STORE, VA_TEST + 0x200000 + 0x1ff000);
  printf("  store landed at PA %lx: %lx\n", MEGA_PA + 0x1ff000,
         *(volatile uint64_t*)(MEGA_PA + 0x1ff000));
}

static void test_permissions(void) {
  printf("-- permissions\n");
  vm_probe("S load unmapped", PRV_S, PROBE_LOAD, VA_TEST + 0x3000);
  vm_probe("S store unmapped", PRV_S, PROBE_STORE, VA_TEST + 0x3008);
  vm_probe("S fetch unmapped", PRV_S, PROBE_FETCH, VA_TEST + 0x3010);
  // (An AMO on an unmapped page: QEMU 7.2 reports a load page fault, see
  // qemu_quirks.c.)
  vm_probe("S lr unmapped", PRV_S, PROBE_LR, VA_TEST + 0x3020);
  vm_probe("S amo RO page", PRV_S, PROBE_AMO, VA_TEST + 0x1008);
  vm_probe("S fetch RW page (no X)", PRV_S, PROBE_FETCH, VA_TEST + 0x0000);
  vm_probe("S load W-only (reserved)", PRV_S, PROBE_LOAD, VA_TEST + 0x4000);
  vm_probe("S store W-only (reserved)", PRV_S, PROBE_STORE, VA_TEST + 0x4000);
  vm_probe("S load WX (reserved)", PRV_S, PROBE_LOAD, VA_TEST + 0xb000);
  vm_probe("S fetch WX (reserved)", PRV_S, PROBE_FETCH, VA_TEST + 0xb000);
  vm_probe("S load non-leaf at level 0", PRV_S, PROBE_LOAD, VA_TEST + 0x8000);
  vm_probe("S load V=0 with RW set", PRV_S, PROBE_LOAD, VA_TEST + 0x9000);
  vm_probe("S load misaligned 2 MiB page", PRV_S, PROBE_LOAD, VA_TEST + 0x400000);
  vm_probe("S load 1 GiB page", PRV_S, PROBE_LOAD, 0x200000000ul + ((uint64_t)pages[P_RO] - RAM_BASE));
  vm_probe("S store 1 GiB page (R only)", PRV_S, PROBE_STORE, 0x200000000ul + 0x10);
  vm_probe("S load misaligned 1 GiB page", PRV_S, PROBE_LOAD, 0x300000000ul);
  // Misaligned accesses that cross into a page they may not touch: the
  // fault names the part that failed, and nothing is written.
  vm_probe("S load crossing into non-leaf", PRV_S, PROBE_LOAD, VA_TEST + 0x7ffc);
  uint64_t before = *(volatile uint64_t*)&pages[P_DATA][4088];
  vm_probe("S store crossing into RO", PRV_S, PROBE_STORE, VA_TEST + 0x0ffc);
  printf("  first page unchanged: %d\n", *(volatile uint64_t*)&pages[P_DATA][4088] == before);
  vm_probe("S load crossing RO into X-only", PRV_S, PROBE_LOAD, VA_TEST + 0x1ffa);
}

static void test_mxr_sum(void) {
  printf("-- MXR\n");
  vm_probe("S load X-only, MXR=0", PRV_S, PROBE_LOAD, VA_TEST + 0x2000);
  csr_set(mstatus, MSTATUS_MXR);
  vm_probe("S load X-only, MXR=1", PRV_S, PROBE_LOAD, VA_TEST + 0x2000);
  vm_probe("S store X-only, MXR=1", PRV_S, PROBE_STORE, VA_TEST + 0x2000);
  csr_clear(mstatus, MSTATUS_MXR);
  vm_probe("S fetch X-only", PRV_S, PROBE_FETCH, VA_TEST + 0x2000);
  printf("-- SUM and U/S\n");
  vm_probe("S load U page, SUM=0", PRV_S, PROBE_LOAD, VA_TEST + 0x5000);
  csr_set(mstatus, MSTATUS_SUM);
  vm_probe("S load U page, SUM=1", PRV_S, PROBE_LOAD, VA_TEST + 0x5000);
  vm_probe("S store U page, SUM=1", PRV_S, PROBE_STORE, VA_TEST + 0x5008);
  vm_probe("S fetch U page, SUM=1", PRV_S, PROBE_FETCH, VA_TEST + 0x5800);
  csr_clear(mstatus, MSTATUS_SUM);
  vm_probe("U load U page", PRV_U, PROBE_LOAD, VA_TEST + 0x5000);
  vm_probe("U store U page", PRV_U, PROBE_STORE, VA_TEST + 0x5010);
  vm_probe("U fetch U page", PRV_U, PROBE_FETCH, VA_TEST + 0x5800);
  vm_probe("U amo U page", PRV_U, PROBE_AMO, VA_TEST + 0x5018);
  vm_probe("U load S page", PRV_U, PROBE_LOAD, VA_TEST + 0x1000);
  vm_probe("U store S page", PRV_U, PROBE_STORE, VA_TEST + 0x0000);
  vm_probe("U fetch S page", PRV_U, PROBE_FETCH, VA_TEST + 0x6000);
  vm_probe("U lr S page", PRV_U, PROBE_LR, VA_TEST + 0x0000);
  csr_set(mstatus, MSTATUS_MXR);
  vm_probe("U load S X-only page, MXR=1", PRV_U, PROBE_LOAD, VA_TEST + 0x2000);
  csr_clear(mstatus, MSTATUS_MXR);
}

static void test_mprv(void) {
  printf("-- MPRV\n");
  vm_probe_mprv("M MPRV MPP=S load", PRV_S, PROBE_LOAD, VA_TEST + 0x1010);
  vm_probe_mprv("M MPRV MPP=S store RO", PRV_S, PROBE_STORE, VA_TEST + 0x1010);
  vm_probe_mprv("M MPRV MPP=S load U page", PRV_S, PROBE_LOAD, VA_TEST + 0x5000);
  vm_probe_mprv("M MPRV MPP=U load U page", PRV_U, PROBE_LOAD, VA_TEST + 0x5000);
  vm_probe_mprv("M MPRV MPP=U load S page", PRV_U, PROBE_LOAD, VA_TEST + 0x1000);
  vm_probe_mprv("M MPRV MPP=M load (bare)", PRV_M, PROBE_LOAD, (uint64_t)pages[P_RO]);
  // (mret to a mode below M must clear MPRV (priv 1.12); QEMU 7.2 does not
  // yet, so that rule is left to tandem's unit tests.)
}

static uint64_t s_sfence_va(uint64_t va) {
  asm volatile("sfence.vma %0, zero" : : "r"(va) : "memory");
  return *(volatile uint64_t*)va;
}

static void test_sfence(void) {
  printf("-- sfence.vma\n");
  uint64_t va = VA_TEST + 0x7000;
  vm_probe("S load via P_SF_A", PRV_S, PROBE_LOAD, va);
  *vm_pte(va) = (((uint64_t)pages[P_SF_B] >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
  flush();
  vm_probe("remapped to P_SF_B, sfence.vma from M", PRV_S, PROBE_LOAD, va);
  *vm_pte(va) = (((uint64_t)pages[P_SF_A] >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
  printf("back to P_SF_A, sfence.vma va from S: %lx\n", rt_enter(PRV_S, s_sfence_va, va));
  *vm_pte(va) = 0;
  flush();
  vm_probe("unmapped, sfence.vma from M", PRV_S, PROBE_LOAD, va);
  *vm_pte(va) = (((uint64_t)pages[P_SF_A] >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
  flush();
}

static void test_delegated(void) {
  printf("-- page faults delegated to S\n");
  csr_write(stvec, (uint64_t)rt_s_trap_entry);
  csr_write(medeleg, (1 << CAUSE_FETCH_PAGE_FAULT) | (1 << CAUSE_LOAD_PAGE_FAULT) |
                         (1 << CAUSE_STORE_PAGE_FAULT));
  vm_probe("S load unmapped (to S)", PRV_S, PROBE_LOAD, VA_TEST + 0x3000);
  vm_probe("S store RO (to S)", PRV_S, PROBE_STORE, VA_TEST + 0x1000);
  vm_probe("S fetch no-X (to S)", PRV_S, PROBE_FETCH, VA_TEST + 0x0000);
  vm_probe("U load S page (to S)", PRV_U, PROBE_LOAD, VA_TEST + 0x1000);
  printf("  stval %lx scause %lx\n", csr_read(stval), csr_read(scause));
  csr_write(medeleg, 0);
}

void vm_run_common(void) {
  test_ad_bits();
  test_permissions();
  test_mxr_sum();
  test_mprv();
  test_sfence();
  test_delegated();
}
