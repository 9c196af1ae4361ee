// Snapshot write and read throughput for guest RAM of different kinds,
// printed as JSON (one object per run):
//   bench_state [--dir DIR] [--mib N] [--codecs lz4,zstd] [--levels 1,-1,-3] [--threads 1,2]
//               [--blocks 256,64] [--kind K]
// --levels are zstd's; LZ4 runs once per thread count and block size.
// MB/s are guest RAM bytes (10^6) per second. Writing includes fsync and
// rename; reading is read_snapshot() (every checksum) plus load_memory()
// into fresh RAM, from the page cache (the file was just written).
// page_load_us is the median time of load_page() of one stored page (read,
// checksum and decompress its block): what one lazy-restore fault costs.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "state/snapshot_file.h"

using namespace tandem;

namespace {

constexpr uint64_t kBase = 0x80000000;
constexpr uint64_t kPage = mem::kPageSize;

void fill_random(uint8_t* p, size_t n, std::mt19937_64& rng) {
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(p + i, &v, 8);
  }
}

// Text-like: words of a 64-word vocabulary with numbers mixed in, which
// zstd compresses about as well as kernel logs and source (~3-4x).
void fill_text(uint8_t* p, size_t n, std::mt19937_64& rng) {
  static const char* words[] = {
      "the",     "kernel",  "page",   "snapshot", "virtio",  "queue",    "interrupt", "memory",
      "tandem",  "restore", "device", "driver",   "buffer",  "request",  "complete",  "error",
      "network", "packet",  "socket", "thread",   "process", "schedule", "timer",     "clock",
      "file",    "inode",   "block",  "sector",   "mount",   "user",     "system",    "call",
      "read",    "write",   "open",   "close",    "map",     "unmap",    "fault",     "trap",
      "hart",    "csr",     "mstatus", "satp",    "tlb",     "flush",    "dirty",     "clean",
      "epoch",   "backup",  "primary", "replica", "commit",  "abort",    "retry",     "wait",
      "lock",    "unlock",  "signal", "return",   "value",   "state",    "config",    "init"};
  size_t i = 0;
  while (i < n) {
    uint64_t r = rng();
    const char* w = words[r & 63];
    while (*w && i < n) p[i++] = static_cast<uint8_t>(*w++);
    if (i < n) p[i++] = (r >> 8) % 13 == 0 ? '\n' : ' ';
    if ((r >> 16) % 7 == 0) {
      int len =
          std::snprintf(nullptr, 0, "%llu ", static_cast<unsigned long long>((r >> 24) % 100000));
      char num[16];
      std::snprintf(num, sizeof num, "%llu ", static_cast<unsigned long long>((r >> 24) % 100000));
      for (int k = 0; k < len && i < n; k++) p[i++] = static_cast<uint8_t>(num[k]);
    }
  }
}

// "mostly-zero": 1/16 of the pages in use (half text, half random),
// scattered in runs of 16 pages, the rest never touched.
void fill(mem::GuestMemory& ram, const std::string& kind) {
  std::mt19937_64 rng(1);
  if (kind == "random") return fill_random(ram.host(), ram.size(), rng);
  if (kind == "text") return fill_text(ram.host(), ram.size(), rng);
  for (size_t p = 0; p + 16 <= ram.page_count(); p += 256) {
    if ((p / 256) % 2) fill_text(ram.page_host(p), 16 * kPage, rng);
    else fill_random(ram.page_host(p), 16 * kPage, rng);
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds (user + system) of the whole process so far: on a shared
// machine, wall-clock MB/s depend on the neighbours, CPU MB/s much less.
double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::vector<std::string> split(const char* s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  uint64_t mib = 256;
  std::vector<std::string> codecs = {"lz4", "zstd"};
  std::vector<int> levels = {1, -1, -5};
  std::vector<int> threads = {1, 2};
  std::vector<int> blocks = {256};
  std::vector<std::string> kinds = {"mostly-zero", "random", "text"};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    else if (a == "--mib") mib = std::stoull(argv[i + 1]);
    else if (a == "--codecs") codecs = split(argv[i + 1]);
    else if (a == "--levels") levels = parse_list(argv[i + 1]);
    else if (a == "--threads") threads = parse_list(argv[i + 1]);
    else if (a == "--blocks") blocks = parse_list(argv[i + 1]);
    else if (a == "--kind") kinds = {argv[i + 1]};
    else {
      std::fprintf(stderr,
                   "usage: %s [--dir DIR] [--mib N] [--codecs lz4,zstd] [--levels L,..] [--threads T,..] "
                   "[--blocks P,..] [--kind K]\n",
                   argv[0]);
      return 2;
    }
  }
  const uint64_t size = mib << 20;
  const std::string path = dir + "/tandem-bench.snap";
  state::Snapshot snap;
  snap.config = {{"ram_size", std::to_string(size)}};
  snap.harts.resize(1);

  std::printf("[\n");
  bool first = true;
  for (const std::string& kind : kinds) {
    auto ram = mem::GuestMemory::create(kBase, size);
    if (!ram.ok()) {
      std::fprintf(stderr, "%s\n", ram.error().message().c_str());
      return 1;
    }
    fill(**ram, kind);
    for (const std::string& codec : codecs) {
     if (codec != "lz4" && codec != "zstd") {
       std::fprintf(stderr, "unknown codec '%s' (lz4 or zstd)\n", codec.c_str());
       return 2;
     }
     // zstd levels; LZ4 has none (reported as 0).
     for (int level : codec == "lz4" ? std::vector<int>{0} : levels) {
      for (int t : threads) {
       for (int per_block : blocks) {
        state::WriteOptions opt;
        opt.codec = codec == "lz4" ? state::Codec::kLz4 : state::Codec::kZstd;
        if (codec == "zstd") opt.zstd_level = level;
        opt.threads = static_cast<unsigned>(t);
        opt.pages_per_block = static_cast<unsigned>(per_block);
        auto t0 = std::chrono::steady_clock::now();
        double c0 = cpu_seconds();
        auto w = state::write_snapshot(path, snap, **ram, opt);
        double wsec = seconds_since(t0);
        double wcpu = cpu_seconds() - c0;
        if (!w.ok()) {
          std::fprintf(stderr, "%s\n", w.error().message().c_str());
          return 1;
        }
        auto back = mem::GuestMemory::create(kBase, size);
        t0 = std::chrono::steady_clock::now();
        c0 = cpu_seconds();
        auto r = state::read_snapshot(path);
        Status st =
            r.ok() ? (*r)->load_memory(**back, static_cast<unsigned>(t)) : Status(r.error());
        double rsec = seconds_since(t0);
        double rcpu = cpu_seconds() - c0;
        if (!st.ok()) {
          std::fprintf(stderr, "%s\n", st.error().message().c_str());
          return 1;
        }
        bool same = std::memcmp((*ram)->host(), (*back)->host(), size) == 0;
        // One fault of a lazy restore: 200 stored pages, spread evenly.
        std::vector<uint32_t> stored;
        for (uint32_t p = 0; p < (*r)->page_count(); p++)
          if ((*r)->block_of(p) != state::SnapshotReader::kZeroPage) stored.push_back(p);
        std::vector<double> loads;
        std::vector<uint8_t> page(kPage);
        for (size_t k = 0; k < 200 && !stored.empty(); k++) {
          auto l0 = std::chrono::steady_clock::now();
          Status ls = (*r)->load_page(stored[k * stored.size() / 200], page.data());
          loads.push_back(seconds_since(l0) * 1e6);
          if (!ls.ok()) {
            std::fprintf(stderr, "%s\n", ls.error().message().c_str());
            return 1;
          }
        }
        std::sort(loads.begin(), loads.end());
        std::printf(
            "%s  {\"kind\": \"%s\", \"guest_mib\": %llu, \"codec\": \"%s\", \"zstd_level\": %d, \"threads\": %d, "
            "\"pages_per_block\": %d, \"file_mib\": %.1f, \"write_mb_s\": %.0f, \"read_mb_s\": %.0f, "
            "\"write_mb_per_cpu_s\": %.0f, \"read_mb_per_cpu_s\": %.0f, \"page_load_us\": %.1f, "
            "\"identical\": %s}",
            first ? "" : ",\n", kind.c_str(), static_cast<unsigned long long>(mib), codec.c_str(), level, t, per_block,
            w->file_bytes / 1048576.0, size / 1e6 / wsec, size / 1e6 / rsec, size / 1e6 / wcpu,
            size / 1e6 / rcpu, loads.empty() ? 0.0 : loads[loads.size() / 2], same ? "true" : "false");
        std::fflush(stdout);
        first = false;
       }
      }
     }
    }
  }
  std::printf("\n]\n");
  std::remove(path.c_str());
  return 0;
}
