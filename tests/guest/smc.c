// Self-modifying code next to data (issue 16): a store rewriting the
// first instruction of the next block, already run, and a function on
// another page, each with and without fence.i; a generated function
// rewritten while data stores land beside it in its page. (A store
// rewriting the next instruction of the same block without fence.i is
// left to the hart's unit tests: QEMU 7.2 finishes its translation block
// with the old instruction there, which the spec allows.)
#include "ops.h"

// addi a0, a0, imm
static uint32_t addi_a0(int imm) { return ((uint32_t)(imm & 0xfff) << 20) | (10 << 15) | (10 << 7) | 0x13; }
#define RET 0x00008067u

// Runs the instruction at label 3 twice: once as it is, then after the
// store at label 2 has replaced it with `insn` (and jumped back to it).
// Returns a0 (0 + the two results). The rewrite stays for the next call.
#define NEXT_BLOCK(name, fence)                                   \
  static uint64_t name(uint32_t insn) {                           \
    uint64_t r;                                                   \
    asm volatile(                                                 \
        "   la t0, 3f\n"                                          \
        "   li a0, 0\n"                                           \
        "   li t1, 0\n"                                           \
        "   j 3f\n"                                               \
        "2: sw %1, 0(t0)\n"                                       \
        "   " fence "\n"                                          \
        "   j 3f\n"                                               \
        "   .option push\n"                                       \
        "   .option norvc\n"                                      \
        "3: addi a0, a0, 1\n"                                     \
        "   .option pop\n"                                        \
        "   addi t1, t1, 1\n"                                     \
        "   li t2, 2\n"                                           \
        "   blt t1, t2, 2b\n"                                     \
        "   mv %0, a0\n"                                          \
        : "=r"(r)                                                 \
        : "r"(insn)                                               \
        : "t0", "t1", "t2", "a0", "memory");                      \
    return r;                                                     \
  }
NEXT_BLOCK(next_block_fence, "fence.i")
NEXT_BLOCK(next_block_nofence, "nop")

static void test_next_block(void) {
  static const int imms[] = {100, -7, 2047, 3, -2048};
  for (unsigned i = 0; i < sizeof imms / sizeof imms[0]; i++) {
    printf("next block, fence.i:    addi %5d -> %ld\n", imms[i], (int64_t)next_block_fence(addi_a0(imms[i])));
    printf("next block, no fence.i: addi %5d -> %ld\n", imms[i], (int64_t)next_block_nofence(addi_a0(imms[i])));
  }
}

// A function and data in one page; the function is called, rewritten and
// called again, round after round, while the data beside it is written.
static uint32_t page[1024] __attribute__((aligned(4096)));
#define DATA_AT 512  // page[DATA_AT...]: data, past the code

typedef uint64_t (*fn1)(uint64_t);
static uint64_t call(uint64_t a0) { return ((fn1)(void*)page)(a0); }

static void test_other_page(int fence) {
  for (int k = 0; k < 32; k++) page[DATA_AT + k] = 0;
  page[0] = addi_a0(1);
  page[1] = RET;
  asm volatile("fence.i" ::: "memory");
  uint64_t sum = 0;
  for (int round = 0; round < 20; round++) {
    sum = sum * 31 + call(round);
    for (int k = 0; k < 32; k++) page[DATA_AT + k] += (uint32_t)(round * k);  // beside the code
    sum = sum * 31 + call(round);
    page[0] = addi_a0(round * 3 - 20);
    if (fence) asm volatile("fence.i" ::: "memory");
    sum = sum * 31 + call(round);
  }
  uint32_t data = 0;
  for (int k = 0; k < 32; k++) data ^= page[DATA_AT + k] * (uint32_t)(k + 1);
  printf("other page, %s: sum %lu data %08x\n", fence ? "fence.i" : "no fence.i", sum, data);
}

// A generated loop that writes into its own page, beside itself:
//   a0 = count; loop: sw a0, off(a1); addi a0, a0, -1; bnez a0, loop; ret
// with a1 = the page; then it is regenerated with another offset.
static void test_generated_writer(void) {
  for (int off = 0x400; off < 0x800; off += 0x104) {
    unsigned i = 0;
    page[i++] = ((uint32_t)(off >> 5) << 25) | (10 << 20) | (11 << 15) | (2 << 12) | ((off & 31) << 7) | 0x23;
    page[i++] = addi_a0(-1);
    page[i++] = 0xfe051ce3u;  // bnez a0, -8
    page[i++] = RET;
    asm volatile("fence.i" ::: "memory");
    uint64_t (*f)(uint64_t, uint32_t*) = (uint64_t(*)(uint64_t, uint32_t*))(void*)page;
    uint64_t r = f(1000 + off, page);
    printf("writer at +0x%x: a0 %lu word %u\n", off, r, page[off / 4]);
  }
}

int main(void) {
  test_next_block();
  test_other_page(1);
  test_other_page(0);
  test_generated_writer();
  printf("smc done\n");
  return 0;
}
