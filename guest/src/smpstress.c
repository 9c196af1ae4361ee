// smpstress: shared-memory stress for SMP guests. N threads (default: one
// per CPU the process may run on) each add 1 to shared counters ITERS
// times: with an AMO (__atomic_fetch_add: amoadd), with a compare-and-swap
// loop (LR/SC), and under a spinlock taken with compare-and-swap (a plain
// increment inside). Then each thread sends MESSAGES messages to the next
// one through a single-producer single-consumer ring: payload first, a
// release fence, then the slot's sequence number; the reader checks the
// payload after an acquire fence. Prints one line and exits 0 only when
// every total is exact and no message was torn:
//
//   smpstress: threads=4 amo=800000 lrsc=800000 locked=800000 messages=80000 errors=0 ok
//
// With --compute ITERS it measures throughput instead (bench/smp): each
// thread runs ITERS rounds of CPU-bound work on data of its own (no cache
// line written by two threads), each round a CRC-32 over 4 KiB, a
// quicksort of 256 keys and Euclid's gcd on 32 pairs; see compute_round.
// A round's inputs depend on the round number only, so every thread must
// end with the same checksum, whatever the number of threads or harts:
//
//   smpstress: compute start threads=2 iters=20000
//   smpstress: compute threads=2 iters=20000 checksum=0123456789abcdef guest_ms=2345 ok
//
// The first line is printed before the threads start, the second once all
// have exited (guest_ms: the guest's CLOCK_MONOTONIC between the two), so
// a host can time the compute phase between the two lines.
//
// Usage: smpstress [--threads N] [--iters N] [--messages N]
//        smpstress --compute ITERS [--threads N]
//
// Freestanding (no libc; the flags below): the threads are clone(CLONE_VM)
// children on stacks of their own, everything else is a system call. A
// static glibc program is over 400 KB, which every boot of the guest would
// pay for in inflating its initramfs; this one is a few KB.
// guest-cflags: -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie
#include <stdint.h>

enum { kMaxThreads = 64, kRingSlots = 256, kStackBytes = 64 * 1024 };

// Linux riscv64 system calls (asm-generic numbers).
enum {
  kSysWrite = 64,
  kSysExit = 93,
  kSysExitGroup = 94,
  kSysClockGettime = 113,
  kSysSchedGetaffinity = 123,
  kSysWait4 = 260
};

static long sys3(long n, long a, long b, long c) {
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  register long a7 __asm__("a7") = n;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}

static long sys4(long n, long a, long b, long c, long d) {
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  register long a3 __asm__("a3") = d;
  register long a7 __asm__("a7") = n;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a3), "r"(a7) : "memory");
  return a0;
}

// spawn(stack_top, arg, fn): clone(CLONE_VM | SIGCHLD) onto `stack_top`;
// the child calls fn(arg) and exits. Returns the child's pid (or -errno).
// In assembly: the child must not return into the parent's frame.
long spawn(void *stack_top, long arg, int (*fn)(long));
__asm__(
    ".text\n"
    ".globl spawn\n"
    "spawn:\n"
    "  addi a0, a0, -16\n"
    "  sd a1, 0(a0)\n"
    "  sd a2, 8(a0)\n"
    "  mv a1, a0\n"
    "  li a0, 0x111\n"  // CLONE_VM | SIGCHLD
    "  li a2, 0\n"
    "  li a3, 0\n"
    "  li a4, 0\n"
    "  li a7, 220\n"  // clone
    "  ecall\n"
    "  bnez a0, 1f\n"
    "  ld a0, 0(sp)\n"
    "  ld t0, 8(sp)\n"
    "  jalr t0\n"
    "  li a7, 93\n"  // exit(fn's result)
    "  ecall\n"
    "1:\n"
    "  ret\n");

// The entry: the kernel leaves argc, argv... at sp.
__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "  .option push\n"
    "  .option norelax\n"
    "  la gp, __global_pointer$\n"
    "  .option pop\n"
    "  mv a0, sp\n"
    "  andi sp, sp, -16\n"
    "  call start_c\n");

// What the compiler may call on its own.
void *memset(void *d, int c, unsigned long n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void *memcpy(void *d, const void *s, unsigned long n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}

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
static uint8_t stacks[kMaxThreads][kStackBytes] __attribute__((aligned(16)));

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

static int worker(long t) {
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
    __atomic_store_n(&received[t], received[t] + (uint64_t)(end - base), __ATOMIC_RELEASE);
  }
  return 0;
}

// Output, formatted by hand.
static char line[512];
static unsigned long used;
static void put(const char *s) {
  while (*s && used < sizeof line) line[used++] = *s++;
}
static void put_u64(uint64_t v) {
  char digits[24];
  int k = 0;
  do digits[k++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (k > 0 && used < sizeof line) line[used++] = digits[--k];
}
static void put_field(const char *name, uint64_t v) {
  put(" ");
  put(name);
  put("=");
  put_u64(v);
}
static void put_hex(uint64_t v) {
  for (int shift = 60; shift >= 0; shift -= 4)
    if (used < sizeof line) line[used++] = "0123456789abcdef"[(v >> shift) & 15];
}
static int flush(int fd) {
  sys3(kSysWrite, fd, (long)line, (long)used);
  used = 0;
  return 0;
}
static int fail(const char *a, const char *b) {
  used = 0;
  put("smpstress: ");
  put(a);
  put(b);
  put("\n");
  flush(2);
  return 2;
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

// A decimal number from lo to hi, else -1.
static long number(const char *v, long lo, long hi) {
  long n = 0;
  if (!*v) return -1;
  for (; *v; v++) {
    if (*v < '0' || *v > '9' || n > hi) return -1;
    n = n * 10 + (*v - '0');
  }
  return n >= lo && n <= hi ? n : -1;
}

// --- --compute: throughput on private data -----------------------------

enum { kWords = 1024, kKeys = 256, kGcdPairs = 32 };

// One thread's data; the alignment keeps threads off each other's cache
// lines (the size rounds up to a multiple of 64 too).
struct Compute {
  uint32_t words[kWords];  // 4 KiB: a quarter rewritten each round, all of it CRCed
  uint32_t keys[kKeys];
  uint64_t checksum, unsorted;
} __attribute__((aligned(64)));

static struct Compute compute[kMaxThreads];
static uint32_t crc_table[256];  // written before the threads start, then only read

static void make_crc_table(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;  // CRC-32, reflected
    crc_table[n] = c;
  }
}

static uint32_t crc32(const uint8_t *p, unsigned long n) {
  uint32_t c = 0xffffffffu;
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

static void insertion_sort(uint32_t *a, long lo, long hi) {
  for (long i = lo + 1; i <= hi; i++) {
    const uint32_t v = a[i];
    long j = i;
    for (; j > lo && a[j - 1] > v; j--) a[j] = a[j - 1];
    a[j] = v;
  }
}

// Quicksort of a[lo..hi] (Hoare partition): recursion on the smaller
// side keeps the stack at log2(n) frames.
static void quicksort(uint32_t *a, long lo, long hi) {
  while (hi - lo >= 16) {
    const uint32_t pivot = a[lo + (hi - lo) / 2];
    long i = lo - 1, j = hi + 1;
    for (;;) {
      do i++;
      while (a[i] < pivot);
      do j--;
      while (a[j] > pivot);
      if (i >= j) break;
      const uint32_t t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    if (j - lo < hi - j) {
      quicksort(a, lo, j);
      lo = j + 1;
    } else {
      quicksort(a, j + 1, hi);
      hi = j;
    }
  }
  insertion_sort(a, lo, hi);
}

static uint32_t gcd(uint32_t a, uint32_t b) {
  while (b) {
    const uint32_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }  // FNV-1a's step, 64-bit

// One round: rewrite a quarter of the words from a generator seeded with
// the round number, CRC all 4 KiB, sort 256 keys taken from a window the
// CRC picks, check the order, gcd of pairs from both ends.
static uint64_t compute_round(struct Compute *c, uint64_t round) {
  uint64_t x = round * 0x9e3779b97f4a7c15ull + 1;  // xorshift64, never 0
  uint32_t *quarter = c->words + (round % 4) * (kWords / 4);
  for (int k = 0; k < kWords / 4; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    quarter[k] = (uint32_t)(x >> 16);
  }
  const uint32_t crc = crc32((const uint8_t *)c->words, sizeof c->words);
  const uint32_t *window = c->words + crc % (kWords - kKeys);
  for (int k = 0; k < kKeys; k++) c->keys[k] = window[k] ^ crc;  // not a plain copy: no memcpy call
  quicksort(c->keys, 0, kKeys - 1);
  for (int k = 1; k < kKeys; k++) c->unsorted += c->keys[k - 1] > c->keys[k];
  uint64_t g = 0;
  for (int k = 0; k < kGcdPairs; k++) g += gcd(c->keys[k] | 1, c->keys[kKeys - 1 - k]);
  return mix(mix(mix(crc, c->keys[0]), c->keys[kKeys / 2]), g);
}

static int compute_worker(long t) {
  struct Compute *c = &compute[t];
  uint64_t h = 0xcbf29ce484222325ull;
  for (long i = 0; i < iters; i++) h = mix(h, compute_round(c, (uint64_t)i));
  __atomic_store_n(&c->checksum, h, __ATOMIC_RELEASE);
  return 0;
}

static long monotonic_ms(void) {
  struct {
    long sec, nsec;
  } ts = {0, 0};
  sys3(kSysClockGettime, 1 /* CLOCK_MONOTONIC */, (long)&ts, 0);
  return ts.sec * 1000 + ts.nsec / 1000000;
}

static int run_compute(void) {
  make_crc_table();
  put("smpstress: compute start");
  put_field("threads", (uint64_t)threads);
  put_field("iters", (uint64_t)iters);
  put("\n");
  flush(1);
  const long t0 = monotonic_ms();
  for (int t = 0; t < threads; t++)
    if (spawn(stacks[t] + kStackBytes, t, compute_worker) < 0) return fail("clone failed", "");
  for (int t = 0; t < threads; t++) sys4(kSysWait4, -1, 0, 0, 0);
  const long ms = monotonic_ms() - t0;
  uint64_t unsorted = 0;
  int differs = -1;  // the first thread whose checksum is not thread 0's
  for (int t = 0; t < threads; t++) {
    unsorted += compute[t].unsorted;
    const uint64_t sum = __atomic_load_n(&compute[t].checksum, __ATOMIC_ACQUIRE);
    if (differs < 0 && sum != compute[0].checksum) differs = t;
  }
  const int ok = unsorted == 0 && differs < 0;
  put("smpstress: compute");
  put_field("threads", (uint64_t)threads);
  put_field("iters", (uint64_t)iters);
  put(" checksum=");
  put_hex(compute[0].checksum);
  put_field("guest_ms", (uint64_t)ms);
  if (unsorted) put_field("unsorted", unsorted);
  if (differs >= 0) {
    put_field("thread", (uint64_t)differs);
    put(" checksum=");
    put_hex(compute[differs].checksum);
  }
  put(ok ? " ok\n" : " WRONG\n");
  flush(1);
  return ok ? 0 : 1;
}

static int run(int argc, char **argv) {
  uint64_t mask[16] = {0};
  long got_mask = sys3(kSysSchedGetaffinity, 0, sizeof mask, (long)mask);
  int computing = 0;
  threads = 0;
  for (long w = 0; got_mask > 0 && w < got_mask / 8; w++)
    for (uint64_t m = mask[w]; m; m &= m - 1) threads++;
  if (threads < 1) threads = 1;
  if (threads > kMaxThreads) threads = kMaxThreads;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc)
      return fail("usage: smpstress [--threads N] [--iters N] [--messages N] | --compute ITERS [--threads N]", "");
    long n;
    if (same(argv[i], "--threads")) n = threads = (int)number(argv[i + 1], 1, kMaxThreads);
    else if (same(argv[i], "--iters")) n = iters = number(argv[i + 1], 0, 1L << 30);
    else if (same(argv[i], "--messages")) n = messages = number(argv[i + 1], 0, 1L << 30);
    else if (same(argv[i], "--compute")) {
      n = iters = number(argv[i + 1], 1, 1L << 30);
      computing = 1;
    } else return fail("unknown option ", argv[i]);
    if (n < 0) return fail("bad number for ", argv[i]);
  }
  if (computing) return run_compute();
  for (int t = 0; t < threads; t++)
    if (spawn(stacks[t] + kStackBytes, t, worker) < 0) return fail("clone failed", "");
  __atomic_store_n(&start_flag, 1, __ATOMIC_RELEASE);
  for (int t = 0; t < threads; t++) sys4(kSysWait4, -1, 0, 0, 0);
  uint64_t errs = 0, got = 0;
  for (int t = 0; t < threads; t++) {
    errs += __atomic_load_n(&errors[t], __ATOMIC_ACQUIRE);
    got += __atomic_load_n(&received[t], __ATOMIC_ACQUIRE);
  }
  const uint64_t want = (uint64_t)threads * (uint64_t)iters;
  const int ok = amo_counter == want && lrsc_counter == want && locked_counter == want && errs == 0 &&
                 got == (uint64_t)threads * (uint64_t)messages;
  put("smpstress:");
  put_field("threads", (uint64_t)threads);
  put_field("amo", amo_counter);
  put_field("lrsc", lrsc_counter);
  put_field("locked", locked_counter);
  put_field("messages", got);
  put_field("errors", errs);
  put(ok ? " ok\n" : " WRONG\n");
  flush(1);
  return ok ? 0 : 1;
}

__attribute__((noreturn, used)) void start_c(long *sp) {
  long status = run((int)sp[0], (char **)(sp + 1));
  for (;;) sys3(kSysExitGroup, status, 0, 0);
}
