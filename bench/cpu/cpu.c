// tandem's CPU benchmark: a CoreMark-like integer workload written for
// this project. Each iteration runs four kernels over data derived from
// the iteration number: linked-list search/reverse/merge sort, 16-bit
// matrix multiply, a number-scanning state machine, and CRC16 over all
// results. Deterministic: the final checksum must be identical on every
// correct RV64 implementation, which is how bench/cpu/run verifies runs.
#include "rt.h"

#ifndef ITERATIONS
#define ITERATIONS 2000
#endif

// ---- CRC16 (CCITT polynomial 0x1021, bitwise: branchy on purpose)
static uint16_t crc16_byte(uint16_t crc, uint8_t b) {
  crc ^= (uint16_t)b << 8;
  for (int i = 0; i < 8; i++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  return crc;
}
static uint16_t crc16_u32(uint16_t crc, uint32_t v) {
  for (int i = 0; i < 4; i++) crc = crc16_byte(crc, (uint8_t)(v >> (8 * i)));
  return crc;
}

// ---- linked list
#define LIST_NODES 256
struct node {
  struct node* next;
  int32_t key;
  int16_t idx;
  int16_t val;
};
static struct node pool[LIST_NODES];

static struct node* list_build(uint32_t seed) {
  struct node* head = 0;
  for (int i = LIST_NODES - 1; i >= 0; i--) {
    seed = seed * 1103515245u + 12345u;
    pool[i].idx = (int16_t)i;
    pool[i].val = (int16_t)(seed >> 16);
    pool[i].key = (int32_t)((seed >> 8) & 0x3ff);
    pool[i].next = head;
    head = &pool[i];
  }
  return head;
}

static struct node* list_find(struct node* l, int32_t key) {
  while (l && l->key != key) l = l->next;
  return l;
}

static struct node* list_reverse(struct node* l) {
  struct node* prev = 0;
  while (l) {
    struct node* n = l->next;
    l->next = prev;
    prev = l;
    l = n;
  }
  return prev;
}

// Bottom-up merge sort (no recursion); by_val selects the key.
static int node_less(const struct node* a, const struct node* b, int by_val) {
  if (by_val) return a->val < b->val || (a->val == b->val && a->idx < b->idx);
  return a->idx < b->idx;
}

static struct node* list_sort(struct node* l, int by_val) {
  for (int width = 1;; width *= 2) {
    struct node *p = l, *tail = 0, *head = 0;
    int merges = 0;
    while (p) {
      merges++;
      struct node* q = p;
      int psize = 0, qsize = width;
      for (int i = 0; i < width && q; i++) {
        psize++;
        q = q->next;
      }
      while (psize > 0 || (qsize > 0 && q)) {
        struct node* e;
        if (psize == 0) {
          e = q;
          q = q->next;
          qsize--;
        } else if (qsize == 0 || !q || !node_less(q, p, by_val)) {
          e = p;
          p = p->next;
          psize--;
        } else {
          e = q;
          q = q->next;
          qsize--;
        }
        if (tail)
          tail->next = e;
        else
          head = e;
        tail = e;
      }
      p = q;
    }
    tail->next = 0;
    l = head;
    if (merges <= 1) return l;
  }
}

static uint16_t bench_list(uint32_t iter, uint16_t crc) {
  struct node* l = list_build(iter);
  int found = 0, missed = 0;
  for (int32_t k = 0; k < 64; k++) {
    struct node* n = list_find(l, (k * 37 + (int32_t)iter) & 0x3ff);
    if (n) {
      found++;
      crc = crc16_u32(crc, (uint32_t)n->idx);
    } else {
      missed++;
    }
  }
  l = list_reverse(l);
  l = list_sort(l, 1);
  int32_t acc = 0, i = 0;
  for (struct node* n = l; n; n = n->next, i++) acc += n->val * (i & 7);
  l = list_sort(l, 0);
  crc = crc16_u32(crc, (uint32_t)acc);
  crc = crc16_u32(crc, (uint32_t)(found << 16 | missed));
  crc = crc16_u32(crc, (uint32_t)l->idx);
  return crc;
}

// ---- matrix
#define N 24
static int16_t ma[N][N], mb[N][N];
static int32_t mc[N][N];

static uint16_t bench_matrix(uint32_t iter, uint16_t crc) {
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      ma[i][j] = (int16_t)((i * 31 + j * 17 + (int)iter) & 0xff) - 128;
      mb[i][j] = (int16_t)((i * 7 - j * 13 + (int)iter * 3) & 0x7f);
    }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      int32_t s = 0;
      for (int k = 0; k < N; k++) s += (int32_t)ma[i][k] * mb[k][j];
      mc[i][j] = s;
    }
  // Add a constant, scale by a vector, and fold bit fields of the result.
  int32_t sum = 0, bits = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      int32_t v = mc[i][j] + (int32_t)iter;
      v *= (j & 1) ? 3 : -2;
      sum += v;
      bits += (v >> 2) & 0xf;
    }
  crc = crc16_u32(crc, (uint32_t)sum);
  return crc16_u32(crc, (uint32_t)bits);
}

// ---- state machine: classify comma-separated tokens as numbers
enum state { S_START, S_INT, S_SIGN, S_HEX0, S_HEX, S_FRAC, S_EXP, S_EXPSIGN, S_SCI, S_BAD, S_COUNT };
static const char* const text_seed =
    "5012,-3.14e+5,0x1f,+27,1e10,abc,0xZZ,-0.5,12..3,99999,-,3.,+.7e-3,0x0,7e,42,";
static char text[512];

static enum state step(enum state s, char c) {
  switch (s) {
    case S_START:
      if (c >= '0' && c <= '9') return c == '0' ? S_HEX0 : S_INT;
      if (c == '+' || c == '-') return S_SIGN;
      if (c == '.') return S_FRAC;
      return S_BAD;
    case S_SIGN:
      if (c >= '0' && c <= '9') return S_INT;
      if (c == '.') return S_FRAC;
      return S_BAD;
    case S_HEX0:
      if (c == 'x') return S_HEX;
      if (c >= '0' && c <= '9') return S_INT;
      if (c == '.') return S_FRAC;
      return S_BAD;
    case S_HEX:
      if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) return S_HEX;
      return S_BAD;
    case S_INT:
      if (c >= '0' && c <= '9') return S_INT;
      if (c == '.') return S_FRAC;
      if (c == 'e') return S_EXP;
      return S_BAD;
    case S_FRAC:
      if (c >= '0' && c <= '9') return S_FRAC;
      if (c == 'e') return S_EXP;
      return S_BAD;
    case S_EXP:
      if (c == '+' || c == '-') return S_EXPSIGN;
      if (c >= '0' && c <= '9') return S_SCI;
      return S_BAD;
    case S_EXPSIGN:
    case S_SCI:
      if (c >= '0' && c <= '9') return S_SCI;
      return S_BAD;
    default:
      return S_BAD;
  }
}

static uint16_t bench_states(uint32_t iter, uint16_t crc) {
  // Rebuild the text with a few characters changed per iteration.
  size_t n = strlen(text_seed);
  size_t len = 0;
  while (len + n < sizeof text - 1) {
    memcpy(text + len, text_seed, n);
    len += n;
  }
  text[len] = 0;
  for (uint32_t k = 0; k < 8; k++) {
    size_t pos = (iter * 7 + k * 61) % len;
    if (text[pos] != ',') text[pos] = "0123456789.e+-x"[(iter + k) % 15];
  }
  uint32_t counts[S_COUNT] = {0};
  uint32_t transitions = 0;
  enum state s = S_START;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == ',') {
      counts[s]++;
      s = S_START;
      continue;
    }
    enum state t = step(s, c);
    transitions += t != s;
    s = t;
  }
  for (int i = 0; i < S_COUNT; i++) crc = crc16_u32(crc, counts[i]);
  return crc16_u32(crc, transitions);
}

int main(void) {
  uint16_t crc = 0xffff;
  for (uint32_t it = 0; it < ITERATIONS; it++) {
    crc = bench_list(it, crc);
    crc = bench_matrix(it, crc);
    crc = bench_states(it, crc);
  }
  printf("cpu benchmark: %u iterations, checksum %04x\n", (unsigned)ITERATIONS, crc);
  return 0;
}
