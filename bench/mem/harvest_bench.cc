// The dirty-bit harvest of a replication epoch (DirtyLog::end_epoch: take
// and clear the shared dirty bits, hand them to the other logs, update the
// log's history) for guests of several sizes and dirty sets, on one thread
// split over two, and as GuestMemory chooses (set_harvest_threads 1, 2, 0),
// printed as JSON lines:
//   bench_harvest [--gib 1,4,16,64] [--dirty 1000,10000,100000,1000000] [--reps 31]
// Each figure is the median time of `reps` end_epoch() calls, each after
// the dirty set was written again (pages spread evenly over RAM). A second
// log is open, as when a save runs beside replication.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "mem/guest_memory.h"

using namespace tandem;

namespace {

std::vector<uint64_t> list(const char* text) {
  std::vector<uint64_t> out;
  std::stringstream ss(text);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(std::strtoull(x.c_str(), nullptr, 10));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  // As tandem's main() (cli/main.cc): freed heap is kept, so the page lists
  // of one epoch reuse the last one's memory instead of faulting in fresh.
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  std::vector<uint64_t> gib = {1, 4, 16, 64}, dirty = {1000, 10000, 100000, 1000000};
  int reps = 31;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--gib") gib = list(argv[i + 1]);
    else if (a == "--dirty") dirty = list(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_harvest [--gib 1,4,16,64] [--dirty N,...] [--reps 31]\n");
      return 2;
    }
  }
  constexpr uint64_t kBase = 0x80000000;
  for (uint64_t g : gib) {
    auto ram = mem::GuestMemory::create(kBase, g << 30);
    if (!ram.ok()) {
      std::fprintf(stderr, "%s\n", ram.error().message().c_str());
      return 1;
    }
    mem::GuestMemory& m = **ram;
    auto log = m.open_dirty_log("replication");
    auto beside = m.open_dirty_log("save");
    for (uint64_t d : dirty) {
      if (d > m.page_count()) continue;
      const uint64_t stride = m.page_count() / d;
      for (unsigned threads : {1u, 2u, 0u}) {
        m.set_harvest_threads(threads);
        std::vector<double> us;
        size_t got = 0;
        for (int r = 0; r < reps; r++) {
          for (uint64_t k = 0; k < d; k++) m.prepare_write(m.page_gpa(k * stride), 8);
          const auto t0 = std::chrono::steady_clock::now();
          got = log->end_epoch().size();
          us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
          beside->end_epoch();  // keeps its pending set from growing
        }
        const char* tname = threads == 0 ? "auto" : threads == 1 ? "1" : "2";
        std::printf("{\"gib\": %llu, \"dirty_pages\": %zu, \"threads\": \"%s\", \"end_epoch_us_p50\": %.1f, "
                    "\"min_us\": %.1f}\n",
                    static_cast<unsigned long long>(g), got, tname, median(us),
                    *std::min_element(us.begin(), us.end()));
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
