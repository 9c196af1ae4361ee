// The quasi-lockstep output comparator's cost per frame (ft/comparator.h),
// host only, printed as JSON lines:
//   bench_comparator [--mib 256] [--reps 5]
// tcp: one connection streaming `mib` MiB, the primary in 1448-byte
// segments, the secondary in 1000-byte ones, the secondary a segment
// behind; each primary frame is released as soon as it matches. udp: 200
// byte datagrams, one flow, alternating sides. to_secondary: rewriting a
// client's ACK with timestamps and a SACK block. Each figure is the median
// of `reps` runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../tests/unit/ft/ft_frames.h"
#include "ft/comparator.h"

using namespace tandem::ft;
using namespace tandem::ft::test;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<Frame> segments(uint32_t isn, uint32_t ts, const std::string& data, size_t mss) {
  std::vector<Frame> out;
  out.push_back(test::out({.seq = isn, .ack = 70001, .flags = kSyn | kAck, .ts = std::pair{ts, 1u}}));
  for (size_t at = 0; at < data.size(); at += mss)
    out.push_back(test::out({.seq = isn + 1 + uint32_t(at), .ack = 70001, .flags = kAck | kPsh,
                             .data = data.substr(at, mss), .ts = std::pair{ts, 1u}}));
  return out;
}

// Seconds for one run of the TCP stream; checks that all was released.
double tcp_run(const std::vector<Frame>& p, const std::vector<Frame>& s) {
  Comparator c;
  auto t0 = Clock::now();
  size_t released = 0, si = 0;
  for (size_t pi = 0; pi < p.size(); pi++) {
    c.primary(p[pi].data(), p[pi].size(), t0);
    // The secondary's bytes follow up to the primary's previous segment.
    size_t want = pi * 1448;
    while (si < s.size() && (si == 0 || (si - 1) * 1000 < want)) {
      c.secondary(s[si].data(), s[si].size(), t0);
      si++;
    }
    released += c.take_releasable().size();
  }
  for (; si < s.size(); si++) c.secondary(s[si].data(), s[si].size(), t0);
  released += c.take_releasable().size();
  double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  if (released != p.size() || c.divergence()) {
    fprintf(stderr, "bench_comparator: released %zu of %zu\n", released, p.size());
    exit(1);
  }
  return sec;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 256, reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mib")) mib = strtoull(argv[i + 1], nullptr, 10);
    else if (!strcmp(argv[i], "--reps")) reps = strtoull(argv[i + 1], nullptr, 10);
    else {
      fprintf(stderr, "usage: bench_comparator [--mib N] [--reps N]\n");
      return 2;
    }
  }
  std::string data(mib << 20, 0);
  uint32_t x = 1;
  for (char& ch : data) ch = char(x = x * 1103515245 + 12345);
  std::vector<Frame> p = segments(1000, 5000, data, 1448), s = segments(0x90000000u, 5040, data, 1000);
  std::vector<double> t;
  for (size_t r = 0; r < reps; r++) t.push_back(tcp_run(p, s));
  double sec = median(t);
  printf("{\"case\": \"tcp\", \"mib\": %zu, \"frames\": %zu, \"ns_per_frame\": %.0f, "
         "\"mib_per_s\": %.0f}\n",
         mib, p.size() + s.size(), sec * 1e9 / double(p.size() + s.size()), double(mib) / sec);

  const size_t n = 1'000'000;
  Frame d = udp_out(5353, 53, std::string(192, 'q'));
  t.clear();
  for (size_t r = 0; r < reps; r++) {
    Comparator c;
    auto t0 = Clock::now();
    size_t released = 0;
    for (size_t i = 0; i < n; i++) {
      c.primary(d.data(), d.size(), t0);
      c.secondary(d.data(), d.size(), t0);
      released += c.take_releasable().size();
    }
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (released != n) return 1;
  }
  printf("{\"case\": \"udp\", \"datagrams\": %zu, \"ns_per_datagram_pair\": %.0f}\n", n, median(t) * 1e9 / double(n));

  Comparator c;
  c.primary(p[0].data(), p[0].size(), Clock::now());
  c.secondary(s[0].data(), s[0].size(), Clock::now());
  Frame ack = in({.seq = 70001, .ack = 1001, .ts = std::pair{2u, 5000u}, .sack = {{1500, 1600}}});
  t.clear();
  for (size_t r = 0; r < reps; r++) {
    auto t0 = Clock::now();
    for (size_t i = 0; i < n; i++) {
      Frame f = ack;
      c.to_secondary(f.data(), f.size());
    }
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  printf("{\"case\": \"to_secondary\", \"frames\": %zu, \"ns_per_frame\": %.0f}\n", n, median(t) * 1e9 / double(n));
  return 0;
}
