// What a resync's page load costs in a running machine
// (state::load_pages_live), for 10,000 pages by default:
//   bench_live_load [--pages N] [--runs R]
// Each page of a fresh machine's RAM holds one decoded block (the hart ran
// through a chain of jumps, one per page), as the kernel text of a busy
// guest would. Printed as JSON, medians in microseconds:
//   load_code_us   load_pages_live() over those pages: memcpy, and the
//                  decoded code dropped (all at once beyond
//                  mem::GuestMemory::kDropCodePages code pages)
//   by_page_us     the same in batches of kDropCodePages: each page's
//                  code dropped as it is written
//   load_plain_us  the same over pages holding no decoded code (memcpy
//                  and bit tests only)
//   flush_all_us   dropping every block and the TLB at once, as
//                  apply_machine()'s hart restore does anyway
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "board/machine.h"
#include "state/machine_snapshot.h"

using namespace tandem;

namespace {

constexpr uint64_t kBase = 0x80000000;

uint32_t addi(unsigned rd, unsigned rs1, int imm) {
  return (static_cast<uint32_t>(imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
}

uint32_t jal(unsigned rd, int32_t off) {
  uint32_t u = static_cast<uint32_t>(off);
  return (((u >> 20) & 1) << 31) | (((u >> 1) & 0x3ff) << 21) | (((u >> 11) & 1) << 20) |
         (((u >> 12) & 0xff) << 12) | (rd << 7) | 0x6f;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double micros_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t pages = 10000;
  int runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pages") pages = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "bench_live_load: unknown option '%s'\n", a.c_str());
      return 2;
    }
  }
  board::MachineConfig c;
  c.ram_size = (uint64_t{pages} * 2 + 256) * mem::kPageSize;
  c.rng = false;
  c.icount = true;
  auto made = board::Machine::create_empty(c);
  if (!made.ok()) {
    std::fprintf(stderr, "bench_live_load: %s\n", made.error().message().c_str());
    return 1;
  }
  board::Machine& m = **made;
  // Page p: addi x6, x6, 1; jal x0, next page. The last one spins.
  std::vector<uint8_t> code(size_t{pages} * mem::kPageSize, 0);
  for (uint32_t p = 0; p < pages; p++) {
    uint32_t insn[2] = {addi(6, 6, 1), p + 1 < pages ? jal(0, mem::kPageSize - 4) : jal(0, 0)};
    std::memcpy(&code[size_t{p} * mem::kPageSize], insn, sizeof insn);
  }
  std::vector<uint32_t> code_pages(pages), plain_pages(pages);
  for (uint32_t p = 0; p < pages; p++) {
    code_pages[p] = p;
    plain_pages[p] = pages + p;
  }
  std::vector<double> load_code, by_page, load_plain, flush_all;
  for (int r = 0; r < runs; r++) {
    if (!state::load_pages_live(m, code_pages, code.data()).ok()) return 1;
    m.hart(0).set_pc(kBase);
    m.hart(0).run(2 * uint64_t{pages});
    const uint64_t decoded = m.hart(0).blocks_decoded();
    auto t = std::chrono::steady_clock::now();
    if (!state::load_pages_live(m, code_pages, code.data()).ok()) return 1;
    load_code.push_back(micros_since(t));
    m.hart(0).set_pc(kBase);
    m.hart(0).run(2 * uint64_t{pages});
    t = std::chrono::steady_clock::now();
    for (size_t at = 0; at < pages; at += mem::GuestMemory::kDropCodePages) {
      const size_t n = std::min<size_t>(mem::GuestMemory::kDropCodePages, pages - at);
      if (!state::load_pages_live(m, std::span(code_pages).subspan(at, n), &code[at * mem::kPageSize]).ok()) return 1;
    }
    by_page.push_back(micros_since(t));
    t = std::chrono::steady_clock::now();
    if (!state::load_pages_live(m, plain_pages, code.data()).ok()) return 1;
    load_plain.push_back(micros_since(t));
    // Decode them all again, then drop them at once.
    m.hart(0).set_pc(kBase);
    m.hart(0).run(2 * uint64_t{pages});
    if (m.hart(0).blocks_decoded() - decoded < pages) {
      std::fprintf(stderr, "bench_live_load: the hart decoded %llu blocks, not one per page\n",
                   static_cast<unsigned long long>(m.hart(0).blocks_decoded() - decoded));
      return 1;
    }
    const cpu::HartState h = m.hart(0).save();
    t = std::chrono::steady_clock::now();
    if (!m.hart(0).restore(h).ok()) return 1;
    flush_all.push_back(micros_since(t));
  }
  std::printf(
      "{\"pages\": %u, \"load_code_us\": %.1f, \"by_page_us\": %.1f, \"load_plain_us\": %.1f, "
      "\"flush_all_us\": %.1f}\n",
      pages, median(load_code), median(by_page), median(load_plain), median(flush_all));
  return 0;
}
