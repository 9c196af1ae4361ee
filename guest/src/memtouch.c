// memtouch: dirty (or read) a working set of memory at a chosen rate, so that
// the VMM's dirty-page tracking, live save and checkpointing have a workload
// whose size and speed are known.
//
//   memtouch [--mb N] [--rate MB/s] [--seconds S] [--read | --random]
//
// Touching a page means one 8-byte store into it (or one load with --read):
// that is what makes a page dirty (or accessed), so the rate counts pages,
// MB = 256 pages of 4 KiB. Each pass stores a new value, so consecutive
// versions of a page differ in one word. With --random a touch rewrites the
// whole page with pseudo-random words instead: every version differs from
// the last everywhere and compresses not at all (the worst case for page
// diffs and for compression). The working set is walked in order
// and wraps around. One progress line per second, then a final line.
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { kMiB = 1024 * 1024 };

struct options {
  uint64_t mb;
  uint64_t rate_mb;   // MB/s, 0 = as fast as possible
  uint64_t seconds;   // 0 = until interrupted
  int read_only;
  int random;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: memtouch [--mb N] [--rate MB/s] [--seconds S] [--read | --random]\n"
          "  --mb N       working set in MiB (default 64)\n"
          "  --rate R     MiB touched per second, 0 = as fast as possible (default 0)\n"
          "  --seconds S  run time, 0 = until SIGINT/SIGTERM (default 10)\n"
          "  --read       load from each page instead of storing to it\n"
          "  --random     rewrite each page whole with pseudo-random words\n");
}

static int parse_u64(const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  if (text == NULL || *text == '\0' || *text == '-') return -1;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0') return -1;
  *out = v;
  return 0;
}

// Accepts "--name value" and "--name=value".
static int parse_args(int argc, char **argv, struct options *o) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--read") == 0) {
      o->read_only = 1;
      continue;
    }
    if (strcmp(arg, "--random") == 0) {
      o->random = 1;
      continue;
    }
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    static const char *const names[] = {"--mb", "--rate", "--seconds"};
    uint64_t *targets[] = {&o->mb, &o->rate_mb, &o->seconds};
    int matched = 0;
    for (int n = 0; n < 3 && !matched; n++) {
      size_t len = strlen(names[n]);
      if (strncmp(arg, names[n], len) != 0) continue;
      const char *value;
      if (arg[len] == '=') {
        value = arg + len + 1;
      } else if (arg[len] == '\0' && i + 1 < argc) {
        value = argv[++i];
      } else {
        continue;
      }
      if (parse_u64(value, targets[n]) != 0) {
        fprintf(stderr, "memtouch: bad value for %s: '%s'\n", names[n], value);
        return -1;
      }
      matched = 1;
    }
    if (!matched) {
      fprintf(stderr, "memtouch: unknown argument '%s'\n", arg);
      return -1;
    }
  }
  if (o->read_only && o->random) {
    fprintf(stderr, "memtouch: --read and --random exclude each other\n");
    return -1;
  }
  if (o->mb == 0 || o->mb > (UINT64_C(1) << 20)) {
    fprintf(stderr, "memtouch: --mb must be 1..1048576\n");
    return -1;
  }
  return 0;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
  while (!g_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

int main(int argc, char **argv) {
  struct options o = {.mb = 64, .rate_mb = 0, .seconds = 10, .read_only = 0, .random = 0};
  if (parse_args(argc, argv, &o) != 0) {
    usage(stderr);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t size = (size_t)o.mb * kMiB;
  const size_t pages = size / page;
  const size_t chunk_pages = kMiB / page;  // pace and account in whole MiB
  uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    fprintf(stderr, "memtouch: cannot map %" PRIu64 " MiB: %s\n", o.mb, strerror(errno));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  if (o.read_only) {
    // Reads of never-written anonymous memory all hit the shared zero page;
    // give every page its own frame first (not counted).
    for (size_t p = 0; p < pages; p++) mem[p * page] = 1;
    printf("memtouch: filled %" PRIu64 "MB for --read\n", o.mb);
  }

  const uint64_t start = now_ns();
  const uint64_t end = o.seconds ? start + o.seconds * 1000000000u : UINT64_MAX;
  uint64_t next_report = start + 1000000000u;
  uint64_t report_secs = 0;
  uint64_t touched_mb = 0, touched_mb_at_report = 0;
  uint64_t stamp = 0;  // value stored in this pass
  volatile uint64_t sink = 0;
  uint64_t rng = 0x9e3779b97f4a7c15u;  // xorshift64 state, for --random
  size_t pos = 0;  // next page to touch

  while (!g_stop) {
    if (pos == 0) stamp++;
    if (o.read_only) {
      uint64_t sum = 0;
      for (size_t p = 0; p < chunk_pages; p++) sum += *(volatile uint64_t *)(mem + (pos + p) * page);
      sink += sum;
    } else if (o.random) {
      for (size_t p = 0; p < chunk_pages; p++) {
        uint64_t *w = (uint64_t *)(mem + (pos + p) * page);
        for (size_t k = 0; k < page / 8; k++) {
          rng ^= rng << 13;
          rng ^= rng >> 7;
          rng ^= rng << 17;
          w[k] = rng;
        }
      }
    } else {
      for (size_t p = 0; p < chunk_pages; p++) *(volatile uint64_t *)(mem + (pos + p) * page) = stamp;
    }
    pos += chunk_pages;
    if (pos >= pages) pos = 0;
    touched_mb++;

    uint64_t t = now_ns();
    for (;;) {
      while (t >= next_report && next_report <= end) {
        report_secs++;
        printf("memtouch: t=%" PRIu64 "s touched=%" PRIu64 "MB rate=%" PRIu64 "MB/s\n", report_secs,
               touched_mb, touched_mb - touched_mb_at_report);
        touched_mb_at_report = touched_mb;
        next_report += 1000000000u;
      }
      if (t >= end || g_stop) goto done;
      if (o.rate_mb == 0) break;
      // Pace: the next MiB may start at start + touched/rate.
      uint64_t due = start + touched_mb * 1000000000u / o.rate_mb;
      if (t >= due) break;
      sleep_until_ns(due < next_report ? due : next_report);
      t = now_ns();
    }
  }
done:;
  double elapsed = (double)(now_ns() - start) / 1e9;
  printf("memtouch: done t=%.1fs touched=%" PRIu64 "MB rate=%" PRIu64 "MB/s ws=%" PRIu64 "MB mode=%s\n",
         elapsed, touched_mb, elapsed > 0 ? (uint64_t)((double)touched_mb / elapsed + 0.5) : 0, o.mb,
         o.read_only ? "read" : o.random ? "random" : "write");
  munmap(mem, size);
  return 0;
}
