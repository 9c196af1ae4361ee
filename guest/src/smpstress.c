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
// Usage: smpstress [--threads N] [--iters N] [--messages N]
//
// Freestanding (no libc; the flags below): the threads are clone(CLONE_VM)
// children on stacks of their own, everything else is a system call. A
// static glibc program is over 400 KB, which every boot of the guest would
// pay for in inflating its initramfs; this one is a few KB.
// guest-cflags: -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie
#include <stdint.h>

enum { kMaxThreads = 64, kRingSlots = 256, kStackBytes = 64 * 1024 };

// Linux riscv64 system calls (asm-generic numbers).
enum { kSysWrite = 64, kSysExit = 93, kSysExitGroup = 94, kSysSchedGetaffinity = 123, kSysWait4 = 260 };

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

static int run(int argc, char **argv) {
  uint64_t mask[16] = {0};
  long got_mask = sys3(kSysSchedGetaffinity, 0, sizeof mask, (long)mask);
  threads = 0;
  for (long w = 0; got_mask > 0 && w < got_mask / 8; w++)
    for (uint64_t m = mask[w]; m; m &= m - 1) threads++;
  if (threads < 1) threads = 1;
  if (threads > kMaxThreads) threads = kMaxThreads;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return fail("usage: smpstress [--threads N] [--iters N] [--messages N]", "");
    long n;
    if (same(argv[i], "--threads")) n = threads = (int)number(argv[i + 1], 1, kMaxThreads);
    else if (same(argv[i], "--iters")) n = iters = number(argv[i + 1], 0, 1L << 30);
    else if (same(argv[i], "--messages")) n = messages = number(argv[i + 1], 0, 1L << 30);
    else return fail("unknown option ", argv[i]);
    if (n < 0) return fail("bad number for ", argv[i]);
  }
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
