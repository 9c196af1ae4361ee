// smpstress: shared-memory stress for SMP guests. N threads (default: one
// per online CPU) each add 1 to shared counters ITERS times: with an AMO
// (__atomic_fetch_add: amoadd), with a compare-and-swap loop (LR/SC), and
// under a spinlock taken with compare-and-swap (a plain increment inside).
// Then each thread sends MESSAGES messages to the next one through a
// single-producer single-consumer ring: payload first, a release fence,
// then the slot's sequence number; the reader checks the payload after an
// acquire fence. Prints one line and exits 0 only when every total is
// exact and no message was torn:
//
//   smpstress: threads=4 amo=800000 lrsc=800000 locked=800000 messages=80000 errors=0 ok
//
// Usage: smpstress [--threads N] [--iters N] [--messages N]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kMaxThreads = 64, kRingSlots = 256 };

struct Ring {
  uint64_t seq[kRingSlots];  // 0: empty; else the message number + 1
  uint64_t a[kRingSlots], b[kRingSlots];
};

static uint64_t amo_counter, lrsc_counter, locked_counter;
static int lock_word;
static long iters = 100000, messages = 10000;
static int threads;
static struct Ring rings[kMaxThreads];  // ring t: thread t -> thread t + 1
static uint64_t errors[kMaxThreads], received[kMaxThreads];
static int start_flag;

static void spin_lock(int *l) {
  int expected = 0;
  while (!__atomic_compare_exchange_n(l, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) expected = 0;
}

static void spin_unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

static void send(struct Ring *r, long n) {
  const int slot = (int)(n % kRingSlots);
  while (__atomic_load_n(&r->seq[slot], __ATOMIC_RELAXED) != 0) {
  }
  __atomic_thread_fence(__ATOMIC_ACQUIRE);  // the reader is done with the slot
  r->a[slot] = (uint64_t)n * 3 + 1;
  r->b[slot] = (uint64_t)n * 7 + 2;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&r->seq[slot], (uint64_t)n + 1, __ATOMIC_RELAXED);
}

static void receive(struct Ring *r, long n, uint64_t *errs) {
  const int slot = (int)(n % kRingSlots);
  uint64_t s;
  while ((s = __atomic_load_n(&r->seq[slot], __ATOMIC_RELAXED)) == 0) {
  }
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (s != (uint64_t)n + 1 || r->a[slot] != (uint64_t)n * 3 + 1 || r->b[slot] != (uint64_t)n * 7 + 2) ++*errs;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&r->seq[slot], 0, __ATOMIC_RELAXED);
}

static void *worker(void *arg) {
  const int t = (int)(intptr_t)arg;
  while (!__atomic_load_n(&start_flag, __ATOMIC_ACQUIRE)) {
  }
  for (long i = 0; i < iters; i++) {
    __atomic_fetch_add(&amo_counter, 1, __ATOMIC_SEQ_CST);
    uint64_t v = __atomic_load_n(&lrsc_counter, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&lrsc_counter, &v, v + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    spin_lock(&lock_word);
    locked_counter++;
    spin_unlock(&lock_word);
  }
  // Send and receive interleaved, a ring's worth at a time, so that no
  // thread waits for one that waits for it.
  struct Ring *out = &rings[t], *in = &rings[(t + threads - 1) % threads];
  for (long base = 0; base < messages; base += kRingSlots) {
    const long end = base + kRingSlots < messages ? base + kRingSlots : messages;
    for (long n = base; n < end; n++) send(out, n);
    for (long n = base; n < end; n++) receive(in, n, &errors[t]);
    received[t] += (uint64_t)(end - base);
  }
  return NULL;
}

static long number(const char *flag, const char *v, long lo, long hi) {
  char *end;
  long n = strtol(v, &end, 10);
  if (!*v || *end || n < lo || n > hi) {
    fprintf(stderr, "smpstress: %s wants a number from %ld to %ld, not '%s'\n", flag, lo, hi, v);
    exit(2);
  }
  return n;
}

int main(int argc, char **argv) {
  threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) {
      fprintf(stderr, "usage: smpstress [--threads N] [--iters N] [--messages N]\n");
      return 2;
    }
    if (!strcmp(argv[i], "--threads")) threads = (int)number(argv[i], argv[i + 1], 1, kMaxThreads);
    else if (!strcmp(argv[i], "--iters")) iters = number(argv[i], argv[i + 1], 0, 1L << 30);
    else if (!strcmp(argv[i], "--messages")) messages = number(argv[i], argv[i + 1], 0, 1L << 30);
    else {
      fprintf(stderr, "smpstress: unknown option '%s'\n", argv[i]);
      return 2;
    }
    i++;
  }
  if (threads < 1) threads = 1;
  pthread_t tid[kMaxThreads];
  for (int t = 0; t < threads; t++)
    if (pthread_create(&tid[t], NULL, worker, (void *)(intptr_t)t) != 0) {
      perror("smpstress: pthread_create");
      return 1;
    }
  __atomic_store_n(&start_flag, 1, __ATOMIC_RELEASE);
  uint64_t errs = 0, got = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    errs += errors[t];
    got += received[t];
  }
  const uint64_t want = (uint64_t)threads * (uint64_t)iters;
  const int ok = amo_counter == want && lrsc_counter == want && locked_counter == want && errs == 0 &&
                 got == (uint64_t)threads * (uint64_t)messages;
  printf("smpstress: threads=%d amo=%llu lrsc=%llu locked=%llu messages=%llu errors=%llu %s\n", threads,
         (unsigned long long)amo_counter, (unsigned long long)lrsc_counter, (unsigned long long)locked_counter,
         (unsigned long long)got, (unsigned long long)errs, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
