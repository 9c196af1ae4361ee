// Tight integer loops whose data shares the 4 KiB page of their code, as
// a plain linker script lays out a small bare-metal program (.text, then
// .rodata, .data and .bss): fill an array from a generator, shell-sort it,
// CRC it through a nibble table. Built twice: as it is (code and data in
// one page) and with -DDATA_APART (the data on a page of its own). Both
// print the same checksums; bench/cpu/near_data checks the layout and
// races the two on tandem and QEMU (issue 16).
#include "rt.h"

#ifndef ITERATIONS
#define ITERATIONS 40
#endif

#ifdef DATA_APART
#define DATA_PLACE __attribute__((aligned(4096)))
#else
#define DATA_PLACE
#endif

#define N 96

uint32_t near_array[N] DATA_PLACE;
uint32_t near_crc_table[16] DATA_PLACE;

__attribute__((noinline)) void near_fill(uint32_t seed) {
  for (unsigned i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    near_array[i] = seed ^ (seed >> 15);
  }
}

// Shell sort with Ciura's gaps: many loads and stores per comparison.
__attribute__((noinline)) void near_sort(void) {
  static const unsigned gaps[] = {57, 23, 10, 4, 1};
  for (unsigned g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
    const unsigned gap = gaps[g];
    for (unsigned i = gap; i < N; i++) {
      uint32_t v = near_array[i];
      unsigned j = i;
      for (; j >= gap && near_array[j - gap] > v; j -= gap) near_array[j] = near_array[j - gap];
      near_array[j] = v;
    }
  }
}

// CRC-32 (reflected, polynomial 0xedb88320) four bits at a time; the
// table is built once, by stores beside the code like everything here.
static void near_crc_init(void) {
  for (uint32_t n = 0; n < 16; n++) {
    uint32_t c = n;
    for (int k = 0; k < 4; k++) c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    near_crc_table[n] = c;
  }
}

__attribute__((noinline)) uint32_t near_crc(uint32_t crc) {
  for (unsigned i = 0; i < N; i++) {
    uint32_t w = near_array[i];
    for (int b = 0; b < 8; b++) {
      crc = near_crc_table[(crc ^ w) & 15] ^ (crc >> 4);
      w >>= 4;
    }
  }
  return crc;
}

int main(void) {
  near_crc_init();
  uint32_t crc = 0xffffffffu;
  for (uint32_t it = 0; it < ITERATIONS; it++) {
    near_fill(it * 2654435761u);
    near_sort();
    for (unsigned i = 1; i < N; i++)
      if (near_array[i - 1] > near_array[i]) {
        printf("not sorted at iteration %u index %u\n", (unsigned)it, i);
        return 1;
      }
    crc = near_crc(crc);
    if (it < 3) printf("iteration %u: crc %08x\n", (unsigned)it, (unsigned)~crc);
  }
  printf("near_data: %u iterations, checksum %08x\n", (unsigned)ITERATIONS, (unsigned)~crc);
  return 0;
}
