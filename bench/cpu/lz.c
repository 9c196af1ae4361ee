// A decompressor's mix for bench/cpu: byte loads and stores, a bit
// reader, data-dependent branches and short overlapping copies, as in the
// inflate a Linux boot spends its first tenth of a second in. The program
// makes 64 KiB of word-like text, compresses it once with a greedy LZ77
// (4-byte hash, 64 KiB window), then decompresses it ITERATIONS times and
// folds each output into an FNV-1a checksum. Written for this project;
// deterministic, so every correct RV64 gives the same checksum.
#include "rt.h"

#ifndef ITERATIONS
#define ITERATIONS 300
#endif

#define TEXT_SIZE 65536
#define HASH_BITS 13

// Data on pages of its own: a store into a page holding code is another
// benchmark's subject (bench/cpu/near_data).
#define PAGE_ALIGNED __attribute__((aligned(4096)))
static uint8_t text[TEXT_SIZE] PAGE_ALIGNED;
static uint8_t out[TEXT_SIZE] PAGE_ALIGNED;
// Tokens: one flag bit each (0 literal, 1 match) in `flags`, literal bytes
// in `lits`, matches as u16 offset + u8 (length - 4) in `matches`.
static uint8_t flags[TEXT_SIZE / 8 + 1] PAGE_ALIGNED;
static uint8_t lits[TEXT_SIZE] PAGE_ALIGNED;
static uint8_t matches[TEXT_SIZE] PAGE_ALIGNED;
static uint32_t tokens, nlits, nmatch;
static uint32_t head[1u << HASH_BITS] PAGE_ALIGNED;

static const char* const words[] = {"the ",   "state ",  "of ",     "a ",     "virtual ", "machine ",
                                    "is ",    "written ", "while ", "guest ", "runs ",    "and ",
                                    "pages ", "dirty ",  "copy ",   "on ",    "write ",   "checkpoint\n"};

static void make_text(void) {
  uint32_t seed = 12345, n = 0;
  while (n < TEXT_SIZE) {
    seed = seed * 1103515245u + 12345u;
    const char* w = words[(seed >> 16) % (sizeof words / sizeof words[0])];
    for (; *w && n < TEXT_SIZE; w++) text[n++] = (uint8_t)*w;
    if (((seed >> 8) & 15) == 0 && n < TEXT_SIZE) text[n++] = (uint8_t)('0' + (seed >> 24) % 10);
  }
}

static uint32_t hash4(const uint8_t* p) {
  uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  return (v * 2654435761u) >> (32 - HASH_BITS);
}

static void put_flag(int match) {
  if (match) flags[tokens / 8] |= (uint8_t)(1u << (tokens % 8));
  tokens++;
}

static void compress(void) {
  uint32_t i = 0;
  for (uint32_t k = 0; k < (1u << HASH_BITS); k++) head[k] = UINT32_MAX;
  while (i < TEXT_SIZE) {
    uint32_t len = 0, dist = 0;
    if (i + 4 <= TEXT_SIZE) {
      const uint32_t h = hash4(text + i), cand = head[h];
      head[h] = i;
      if (cand != UINT32_MAX && i - cand <= 65535) {
        while (len < 259 && i + len < TEXT_SIZE && text[cand + len] == text[i + len]) len++;
        dist = i - cand;
      }
    }
    if (len >= 4) {
      put_flag(1);
      matches[nmatch++] = (uint8_t)dist;
      matches[nmatch++] = (uint8_t)(dist >> 8);
      matches[nmatch++] = (uint8_t)(len - 4);
      i += len;
    } else {
      put_flag(0);
      lits[nlits++] = text[i++];
    }
  }
}

static uint32_t decompress(void) {
  uint32_t o = 0, l = 0, m = 0, bits = 0, nbits = 0;
  const uint8_t* f = flags;
  for (uint32_t t = 0; t < tokens; t++) {
    if (nbits == 0) {
      bits = *f++;
      nbits = 8;
    }
    const uint32_t match = bits & 1;
    bits >>= 1;
    nbits--;
    if (!match) {
      out[o++] = lits[l++];
      continue;
    }
    const uint32_t dist = (uint32_t)matches[m] | (uint32_t)matches[m + 1] << 8;
    uint32_t len = (uint32_t)matches[m + 2] + 4;
    m += 3;
    const uint8_t* from = out + o - dist;
    while (len--) out[o++] = *from++;  // overlaps when dist < len, as LZ77 allows
  }
  return o;
}

int main(void) {
  make_text();
  compress();
  uint32_t sum = 2166136261u;
  for (int it = 0; it < ITERATIONS; it++) {
    const uint32_t n = decompress();
    if (n != TEXT_SIZE || (it == 0 && memcmp(out, text, TEXT_SIZE) != 0)) {
      printf("lz benchmark: decompression %d gave %u bytes, not the text\n", it, (unsigned)n);
      return 1;
    }
    out[(uint32_t)it % TEXT_SIZE] ^= (uint8_t)it;  // each pass's checksum differs
    for (uint32_t k = 0; k < TEXT_SIZE; k += 61) sum = (sum ^ out[k]) * 16777619u;
  }
  printf("lz benchmark: %u iterations, %u tokens (%u literals, %u matches), checksum %08x\n", (unsigned)ITERATIONS,
         (unsigned)tokens, (unsigned)nlits, (unsigned)(nmatch / 3), (unsigned)sum);
  return 0;
}
