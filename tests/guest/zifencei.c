// Zifencei and self-modifying code: code written to RAM runs after
// fence.i; rewriting a function that already ran (so an interpreter has it
// decoded) takes effect; a store into the block being executed changes
// the instruction that follows once fence.i has run; a generated loop.
#include "ops.h"

// li a0, imm  (addi a0, x0, imm)
static uint32_t li_a0(int imm) { return ((uint32_t)(imm & 0xfff) << 20) | (10 << 7) | 0x13; }
#define RET 0x00008067u
#define C_NOP 0x0001u

static uint32_t buf[2048] __attribute__((aligned(4096)));  // two pages

typedef uint64_t (*fn0)(void);

static uint64_t call(void* p) { return ((fn0)p)(); }

static void test_rewrite(void) {
  buf[0] = li_a0(1);
  buf[1] = RET;
  asm volatile("fence.i" ::: "memory");
  printf("first version returns %lu\n", call(buf));
  // Run it many times so any decoded-code cache is warm, then rewrite.
  uint64_t sum = 0;
  for (int i = 0; i < 100; i++) sum += call(buf);
  buf[0] = li_a0(2);
  asm volatile("fence.i" ::: "memory");
  printf("after rewrite returns %lu (warm-up sum %lu)\n", call(buf), sum);
  // Rewrite only the return so the function now falls through to more code.
  buf[1] = 0x00150513;  // addi a0, a0, 1
  buf[2] = 0x00150513;
  buf[3] = RET;
  asm volatile("fence.i" ::: "memory");
  printf("longer version returns %lu\n", call(buf));
}

// A function in .text (not the data buffer) that patches its own next
// instruction: sw of a new "li a0" over label 2, fence.i, then runs it.
static uint64_t patch_self(uint32_t insn) {
  uint64_t r;
  asm volatile(
      "   la t0, 2f\n"
      "   sw %1, 0(t0)\n"
      "   fence.i\n"
      "   .option push\n"
      "   .option norvc\n"
      "2: li a0, 7\n"  // 4 bytes: replaced by the store above
      "   .option pop\n"
      "   mv %0, a0\n"
      : "=r"(r)
      : "r"(insn)
      : "t0", "a0", "memory");
  return r;
}

static void test_patch_self(void) {
  printf("patch_self(li a0, 33) = %lu\n", patch_self(li_a0(33)));
  printf("patch_self(li a0, -5) = %ld\n", (int64_t)patch_self(li_a0(-5)));
  printf("patch_self(li a0, 100) = %lu\n", patch_self(li_a0(100)));
}

// A store into the same block as the code that follows it, and code that
// crosses into a freshly written second page.
static void test_page_cross(void) {
  // Place a 4-byte instruction across the page boundary: 2 bytes at the
  // end of page 0 and 2 bytes at the start of page 1.
  uint16_t* h = (uint16_t*)buf;
  unsigned end = 4096 / 2;  // halfword index of page 1
  for (unsigned i = 0; i < end; i++) h[i] = C_NOP;
  uint32_t insn = li_a0(77);
  h[end - 1] = (uint16_t)insn;
  h[end] = (uint16_t)(insn >> 16);
  h[end + 1] = (uint16_t)RET;
  h[end + 2] = (uint16_t)(RET >> 16);
  asm volatile("fence.i" ::: "memory");
  printf("page-crossing instruction returns %lu\n", call(&h[end - 8]));
  insn = li_a0(78);
  h[end] = (uint16_t)(insn >> 16);  // only the upper half, in page 1
  asm volatile("fence.i" ::: "memory");
  printf("after patching its upper half: %lu\n", call(&h[end - 8]));
}

// Generate "a0 = 0; a0 += k (n times); ret" for several n and k.
static void test_generated(void) {
  for (int n = 1; n <= 200; n += 67) {
    for (int k = -3; k <= 5; k += 4) {
      unsigned i = 0;
      buf[i++] = li_a0(0);
      for (int j = 0; j < n; j++) buf[i++] = ((uint32_t)(k & 0xfff) << 20) | (10 << 15) | (10 << 7) | 0x13;
      buf[i++] = RET;
      asm volatile("fence.i" ::: "memory");
      printf("generated n=%d k=%d -> %ld\n", n, k, (int64_t)call(buf));
    }
  }
}

int main(void) {
  test_rewrite();
  test_patch_self();
  test_page_cross();
  test_generated();
  printf("zifencei done\n");
  return 0;
}
