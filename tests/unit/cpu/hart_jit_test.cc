// The translator (Engine::kJit) against the interpreter, its reference:
// random RV64IM loops with loads and stores (in RAM, across a page end,
// to MMIO, faulting), registers used often enough to live in host
// registers, AMOs and LR/SC (the same places, misaligned),
// self-modifying code (the next instruction, an earlier block, another page) and trap handlers run on two harts with
// the same budget slices; registers, pc, instret, memory and device
// accesses must be equal after every slice.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <string>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

// Registers with a fixed role; the random instructions write none of them.
constexpr unsigned kLink = 1, kCodeBase = 3, kMmio = 4, kData = 5, kCount = 6, kTrigger = 26, kUnmapped = 27,
                   kFarSlot = 28, kPatch = 29, kTraps = 30, kScratch = 31;
constexpr unsigned kHot = 7;  // x7-x10: the registers the "hot" cases use most
constexpr uint64_t kDataAddr = kRamBase + 0x20000;
constexpr uint64_t kFarFunc = kRamBase + 0x3000;  // a function on a page of its own

bool writable(unsigned r) {
  return r != kLink && r != kCodeBase && r != kMmio && r != kData && r != kCount && r < kTrigger;
}

class Generator {
 public:
  // `pointers`: a third of the cases are pointer_access's.
  explicit Generator(uint32_t seed, bool pointers = false) : rng_(seed), pointers_(pointers) {}

  // Returns the program; also fills `far` with the far function.
  Asm program(Asm& far) {
    Asm a(kRamBase);
    for (unsigned r = 7; r < kTrigger; ++r) a.li(r, value());
    a.li(kMmio, static_cast<int64_t>(kMmioBase + 0x800));  // offsets >= 0: refused by the device
    a.li(kData, static_cast<int64_t>(kDataAddr));
    a.li(kUnmapped, 0x1000);
    a.li(kFarSlot, static_cast<int64_t>(kFarFunc));
    a.li(kCount, 100 + pick(200));
    a.bind("loop");
    a.auipc(kCodeBase, 0);  // the loop's address, which SMC offsets are relative to
    a.addi(10, 10, 1);      // a slot that case 21 patches
    const uint64_t body = a.here() - 8;
    // kTrigger: all ones every 32nd iteration, when the SMC cases store to
    // code; else they store to the data page, so their blocks get hot.
    a.andi(kTrigger, kCount, 31);
    a.opi(3, kTrigger, kTrigger, 1);  // sltiu: 1 when zero
    a.sub(kTrigger, 0, kTrigger);
    const unsigned n = 8 + pick(48);
    for (unsigned k = 0; k < n; ++k) one(a, body);
    a.addi(kCount, kCount, -1);
    a.bne(kCount, 0, "loop");
    a.bind("end");
    a.wfi();  // a timer interrupt wakes it (install_skip_handler): wait again
    a.jal(0, "end");
    a.finish();

    // The far function: a slot the loop patches, then a return.
    far.addi(10, 10, 1);
    far.jalr(0, kLink, 1);  // bit 0 of the target is dropped
    return a;
  }

 private:
  uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  unsigned rd() {
    for (;;) {
      unsigned r = pick(8) == 0 ? 0 : pick(32);
      if (r == 0 || writable(r)) return r;
    }
  }
  unsigned rs() { return pick(32); }
  int64_t value() {
    static const int64_t special[] = {0, 1, -1, INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX, 0x80000000, 0xffffffff};
    if (pick(3) == 0) return special[pick(sizeof special / sizeof special[0])];
    return static_cast<int64_t>(rng_());
  }
  int32_t imm12() { return static_cast<int32_t>(pick(4096)) - 2048; }
  // A harmless instruction for code patching: addi x10..x15, x10..x15, imm.
  uint32_t patch_insn() { return enc::i(imm12(), 10 + pick(6), 0, 10 + pick(6), 0x13); }

  void one(Asm& a, uint64_t body) {
    if (pointers_ && pick(3) == 0) return pointer_access(a);
    switch (pick(30)) {
      case 0: case 1: case 2: {  // R-type: RV64I and M, 64- and 32-bit
        static const std::pair<uint32_t, unsigned> ops[] = {
            {0, 0}, {0x20, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}, {0, 5}, {0x20, 5}, {0, 6}, {0, 7},
            {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 7}};
        const auto& [f7, f3] = ops[pick(sizeof ops / sizeof ops[0])];
        a.op(f7, f3, rd(), rs(), rs());
        return;
      }
      case 3: case 4: {
        static const std::pair<uint32_t, unsigned> ops[] = {
            {0, 0}, {0x20, 0}, {0, 1}, {0, 5}, {0x20, 5}, {1, 0}, {1, 4}, {1, 5}, {1, 6}, {1, 7}};
        const auto& [f7, f3] = ops[pick(sizeof ops / sizeof ops[0])];
        a.op32(f7, f3, rd(), rs(), rs());
        return;
      }
      case 5: case 6: case 7: {  // I-type
        const unsigned f3 = pick(8);
        if (f3 == 1) a.slli(rd(), rs(), pick(64));
        else if (f3 == 5) pick(2) ? a.srli(rd(), rs(), pick(64)) : a.srai(rd(), rs(), pick(64));
        else a.opi(f3, rd(), rs(), imm12());
        return;
      }
      case 8: {
        const unsigned f3 = pick(3) == 0 ? 0 : pick(2) ? 1 : 5;
        const unsigned sh = pick(32) | (f3 == 5 && pick(2) ? 0x400 : 0);
        a.w32(enc::i(f3 == 0 ? imm12() : static_cast<int32_t>(sh), rs(), f3, rd(), 0x1b));
        return;
      }
      case 9: pick(2) ? a.lui(rd(), static_cast<uint32_t>(rng_())) : a.auipc(rd(), static_cast<uint32_t>(rng_())); return;
      case 10: a.li(rd(), value()); return;
      case 11: case 12: case 13:  // RAM, sometimes across the data page's start
        a.load(pick(7), rd(), kData, pick(4) == 0 ? -static_cast<int32_t>(pick(8)) - 1 : imm12());
        return;
      case 14: case 15: case 16:
        a.store(pick(4), rs(), kData, pick(4) == 0 ? -static_cast<int32_t>(pick(8)) - 1 : imm12());
        return;
      case 17:  // MMIO: a device load/store, or refused (access fault)
        pick(2) ? a.load(pick(7), rd(), kMmio, imm12()) : a.store(pick(4), rs(), kMmio, imm12());
        return;
      case 18:  // nothing mapped there: access fault
        pick(2) ? a.load(pick(7), rd(), kUnmapped, imm12()) : a.store(pick(4), rs(), kUnmapped, imm12());
        return;
      case 19: {  // a forward branch over 1-3 instructions: more blocks
        const std::string l = "skip" + std::to_string(labels_++);
        a.br(std::array<unsigned, 6>{0, 1, 4, 5, 6, 7}[pick(6)], rs(), rs(), l);
        for (unsigned k = pick(3) + 1; k > 0; --k) a.opi(0, rd(), rs(), imm12());
        a.bind(l);
        return;
      }
      case 20: {  // SMC: patch the very next instruction (same block)
        a.li(kPatch, static_cast<int32_t>(patch_insn()));
        const uint64_t offset = a.here() + 5 * 4 - body;  // past smc_store's 5 instructions
        if (offset >= 2048) return;  // out of an addi's reach
        a.addi(kScratch, kCodeBase, static_cast<int32_t>(offset));
        smc_store(a);
        a.w32(patch_insn());
        return;
      }
      case 21:  // SMC: patch the loop's slot (this block, or an earlier one)
        a.li(kPatch, static_cast<int32_t>(patch_insn()));
        a.addi(kScratch, kCodeBase, 4);
        smc_store(a);
        return;
      case 22:  // SMC: call the far function, then patch its slot (another page)
        a.jal(kLink, static_cast<int32_t>(kFarFunc - a.here()));
        a.li(kPatch, static_cast<int32_t>(patch_insn()));
        a.mv(kScratch, kFarSlot);
        smc_store(a);
        return;
      case 23: case 24: {  // AMO*: RAM, sometimes misaligned; MMIO; nothing mapped
        static const unsigned f5s[] = {0x00, 0x01, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c};
        const unsigned where = pick(8);
        const unsigned base = where == 0 ? kMmio : where == 1 ? kUnmapped : kData;
        int32_t off = base == kMmio ? -8 * static_cast<int32_t>(1 + pick(100)) : 8 * static_cast<int32_t>(pick(200)) - 800;
        if (pick(8) == 0) off += 1 + static_cast<int32_t>(pick(3));  // misaligned: a trap
        a.addi(kScratch, base, off);
        a.amo(f5s[pick(sizeof f5s / sizeof f5s[0])], pick(2) ? 2 : 3, rd(), kScratch, rs());
        return;
      }
      case 25: {  // LR then SC, which fails when something between broke the reservation
        const unsigned f3 = pick(2) ? 2 : 3;
        a.addi(kScratch, kData, 8 * static_cast<int32_t>(pick(64)));
        a.amo(0x02, f3, rd(), kScratch, 0);
        if (pick(2)) one(a, body);
        a.amo(0x03, f3, rd(), kScratch, rs());
        return;
      }
      case 26: case 27: {  // rd = rd op ...: a few registers used often, so blocks keep them in host registers
        const unsigned r = kHot + pick(4), r2 = pick(2) ? kHot + pick(4) : rs();
        switch (pick(5)) {
          case 0: {
            static const std::pair<uint32_t, unsigned> ops[] = {{0, 0}, {0x20, 0}, {0, 4}, {0, 6}, {0, 7}, {1, 0}};
            const auto& [f7, f3] = ops[pick(sizeof ops / sizeof ops[0])];
            a.op(f7, f3, r, r, r2);
            return;
          }
          case 1: a.opi(std::array<unsigned, 4>{0, 4, 6, 7}[pick(4)], r, r, imm12()); return;
          case 2: pick(2) ? a.slli(r, r, pick(64)) : pick(2) ? a.srli(r, r, pick(64)) : a.srai(r, r, pick(64)); return;
          case 3: {  // a forward branch on them
            const std::string l = "hot" + std::to_string(labels_++);
            a.br(std::array<unsigned, 6>{0, 1, 4, 5, 6, 7}[pick(6)], r, r2, l);
            a.opi(0, r, r, imm12());
            a.bind(l);
            return;
          }
          default:  // a load or store with one of them as the value
            pick(2) ? a.load(pick(7), r, kData, imm12()) : a.store(pick(4), r, kData, imm12());
            return;
        }
      }
      case 28: {  // jalr to one of two targets in its page (its target cache), sometimes patching the first
        a.auipc(kScratch, 0);
        const uint64_t first = a.here() + 12;
        a.opi(7, kPatch, rs(), 4);  // andi: 0 or 4
        a.add(kScratch, kScratch, kPatch);
        a.jalr(rd(), kScratch, 16);
        a.w32(patch_insn());
        a.w32(patch_insn());
        if (pick(2)) {  // kills the first target's translation, which the cache must then forget
          a.li(kPatch, static_cast<int32_t>(patch_insn()));
          a.auipc(kScratch, 0);
          a.addi(kScratch, kScratch, -static_cast<int32_t>(a.here() - 4 - first));
          smc_store(a);
        }
        return;
      }
      default:
        a.nop();
        return;
    }
  }

  // A load or store at offset 0 from a hot register (the translator then
  // uses that register as the address), sometimes loading into the
  // pointer itself; RAM, across the data page's start, MMIO (a slow path
  // that succeeds) or nothing mapped (a fault).
  void pointer_access(Asm& a) {
    const unsigned p = kHot + pick(4);
    switch (pick(8)) {
      case 0: a.addi(p, kMmio, -8 * static_cast<int32_t>(1 + pick(100))); break;
      case 1: a.addi(p, kUnmapped, static_cast<int32_t>(pick(64))); break;
      case 2: a.addi(p, kData, -static_cast<int32_t>(pick(8)) - 1); break;
      default: a.addi(p, kData, static_cast<int32_t>(pick(2040))); break;
    }
    switch (pick(3)) {
      case 0: a.load(pick(7), p, p, 0); return;
      case 1: a.load(pick(7), kHot + pick(4), p, 0); return;
      default: a.store(pick(4), pick(2) ? kHot + pick(4) : rs(), p, 0); return;
    }
  }

  // Stores kPatch at kScratch when kTrigger is set, else at kData.
  static void smc_store(Asm& a) {
    a.sub(kScratch, kScratch, kData);
    a.op(0, 7, kScratch, kScratch, kTrigger);  // and
    a.add(kScratch, kScratch, kData);
    a.sw(kPatch, kScratch, 0);
  }

  std::mt19937_64 rng_;
  bool pointers_;
  unsigned labels_ = 0;
};

// M-mode handler: an exception is counted and its instruction skipped;
// a timer interrupt moves stimecmp on by `period` and resumes (kScratch
// kept in mscratch: the interrupt may come between its uses).
void install_skip_handler(Machine& m, int32_t period) {
  Asm h(Machine::kHandler);
  h.csrw(kCsrMscratch, kScratch);
  h.csrr(kScratch, kCsrMcause);
  h.blt(kScratch, 0, "interrupt");
  h.addi(kTraps, kTraps, 1);
  h.csrr(kScratch, kCsrMepc);
  h.addi(kScratch, kScratch, 4);
  h.csrw(kCsrMepc, kScratch);
  h.mret();
  h.bind("interrupt");
  h.csrr(kScratch, kCsrStimecmp);
  h.addi(kScratch, kScratch, period);
  h.csrw(kCsrStimecmp, kScratch);
  h.csrr(kScratch, kCsrMscratch);
  h.mret();
  h.finish();
  m.load(h);
  EXPECT_TRUE(m.hart->write_csr(kCsrMtvec, Machine::kHandler));
}

// Sstc's timer, time counting instructions (as --icount does): when
// stimecmp is looked at depends on counting block ends exactly (every
// 256th), in translations as in the run loop.
void start_sstc_timer(Machine& m, uint64_t first) {
  m.clock.instret_of = m.hart.get();
  EXPECT_TRUE(m.hart->write_csr(kCsrMenvcfg, uint64_t{1} << 63));
  EXPECT_TRUE(m.hart->write_csr(kCsrStimecmp, first));
  EXPECT_TRUE(m.hart->write_csr(kCsrMie, 1 << 5));  // STIE
  uint64_t ms = 0;
  EXPECT_TRUE(m.hart->read_csr(kCsrMstatus, &ms));
  EXPECT_TRUE(m.hart->write_csr(kCsrMstatus, ms | 1 << 3));  // MIE
}

void expect_same(Machine& interp, Machine& jit, const std::string& where) {
  for (unsigned r = 0; r < 32; ++r) ASSERT_EQ(interp.x(r), jit.x(r)) << where << " x" << r;
  ASSERT_EQ(interp.hart->pc(), jit.hart->pc()) << where;
  ASSERT_EQ(interp.hart->instret(), jit.hart->instret()) << where;
  // Code, handler, far function and data pages.
  ASSERT_EQ(std::memcmp(interp.ram->host(), jit.ram->host(), 0x30000), 0) << where << ": memory differs";
  ASSERT_EQ(interp.dev.log.size(), jit.dev.log.size()) << where << ": device accesses";
  ASSERT_EQ(interp.csr(kCsrMcause), jit.csr(kCsrMcause)) << where;
  ASSERT_EQ(interp.csr(kCsrMtval), jit.csr(kCsrMtval)) << where;
}

// Odd seeds translate every block at its first entry (so every store to
// code runs translated), even seeds at the default threshold (translated
// and interpreted blocks mixed, as in a guest); every fourth seed with
// 8 KiB of code memory, which fills and is emptied again and again.
struct RandomRunCounts {
  uint64_t translated = 0, traps = 0, flushes = 0, linked = 0, unlinked = 0;
};

void run_random_programs(uint32_t seeds, bool pointers, RandomRunCounts& counts) {
  for (uint32_t seed = 1; seed <= seeds; ++seed) {
    Machine interp, jit;
    jit.hart->set_engine(Engine::kJit);
    if (seed % 2) jit.hart->set_jit_threshold(1);
    if (seed % 4 == 1) jit.hart->set_jit_code_size(8192);  // emptied when full, many times a run
    ASSERT_EQ(jit.hart->engine(), Engine::kJit);
    Generator gen(seed, pointers);
    Asm far(kFarFunc);
    const Asm a = gen.program(far);
    const int32_t period = 700 + static_cast<int32_t>(seed % 5) * 300;
    for (Machine* m : {&interp, &jit}) {
      m->load(a);
      m->load(far);
      install_skip_handler(*m, period);
      start_sstc_timer(*m, 500 + seed % 997);
    }
    // Memory tracking must see the same pages: each slice is an epoch
    // and a trace (both re-arm the TLBs).
    auto log_i = interp.ram->open_dirty_log("test"), log_j = jit.ram->open_dirty_log("test");
    interp.ram->start_trace();
    jit.ram->start_trace();
    std::mt19937 slices(seed);
    const std::string name = "seed " + std::to_string(seed);
    for (int k = 0; k < 400; ++k) {
      const uint64_t budget = 1 + slices() % (k % 2 ? 5000 : 40);
      const StopReason ri = interp.run(budget), rj = jit.run(budget);
      ASSERT_EQ(ri, rj) << name << " slice " << k;
      expect_same(interp, jit, name + " slice " + std::to_string(k));
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(log_i->end_epoch(), log_j->end_epoch()) << name << " slice " << k << ": dirty pages";
      ASSERT_EQ(interp.ram->stop_trace(), jit.ram->stop_trace()) << name << " slice " << k << ": accessed pages";
      interp.ram->start_trace();
      jit.ram->start_trace();
      if (ri == StopReason::kWfi) break;
    }
    counts.translated += jit.hart->blocks_translated();
    counts.flushes += jit.hart->jit_code_flushes();
    counts.traps += jit.x(kTraps);
    counts.linked += jit.hart->jit_links_made();
    counts.unlinked += jit.hart->jit_links_undone();
  }
}

TEST(HartJit, RandomProgramsMatchTheInterpreter) {
  RandomRunCounts c;
  run_random_programs(400, false, c);
  if (HasFatalFailure()) return;
  // The comparison means something only if blocks ran translated and
  // faults happened in them.
  EXPECT_GT(c.translated, 300u);
  EXPECT_GT(c.traps, 300u);
  EXPECT_GT(c.flushes, 100u);
  // Direct jumps between translations were patched in, and undone when
  // their target was overwritten.
  EXPECT_GT(c.linked, 300u);
  EXPECT_GT(c.unlinked, 30u);
}

// Loads and stores through pointers in host registers (the address
// register itself, no offset), including the pointer loaded over.
TEST(HartJit, RandomPointerProgramsMatchTheInterpreter) {
  RandomRunCounts c;
  run_random_programs(200, true, c);
  if (HasFatalFailure()) return;
  EXPECT_GT(c.translated, 150u);
  EXPECT_GT(c.traps, 150u);
}

// Every M instruction on the edge cases (division by zero, the signed
// overflow, 32-bit operands that are not sign-extended), translated at
// the first entry, against the interpreter.
TEST(HartJit, MultiplyDivideEdgeCases) {
  const int64_t values[] = {0, 1, -1, 2, -2, 7, -7, INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX,
                            0x80000000, 0xffffffff, 0x123456789abcdef0};
  for (int64_t va : values) {
    for (int64_t vb : values) {
      Machine interp, jit;
      jit.hart->set_engine(Engine::kJit);
      jit.hart->set_jit_threshold(1);
      Asm a(kRamBase);
      a.li(1, va);
      a.li(2, vb);
      unsigned rd = 3;
      for (unsigned f3 = 0; f3 < 8; ++f3) a.op(1, f3, rd++, 1, 2);
      for (unsigned f3 : {0u, 4u, 5u, 6u, 7u}) a.op32(1, f3, rd++, 1, 2);
      a.jal(0, 4);  // ends the block: the next one (WFI) stays interpreted
      a.wfi();
      for (Machine* m : {&interp, &jit}) {
        m->load(a);
        ASSERT_EQ(m->run(), StopReason::kWfi);
      }
      ASSERT_EQ(jit.hart->blocks_translated(), 1u);
      for (unsigned r = 3; r < rd; ++r)
        ASSERT_EQ(interp.x(r), jit.x(r)) << "x" << r << " for " << va << ", " << vb;
    }
  }
}

// Sstc's stimecmp is compared with the clock every 256 block ends, so the
// instruction a timer interrupt lands on depends on counting block ends
// exactly; a translated self-loop counts them without the run loop.
TEST(HartJit, TimerInterruptLandsOnTheSameInstruction) {
  Machine interp, jit;
  jit.hart->set_engine(Engine::kJit);
  jit.hart->set_jit_threshold(1);
  Asm a(kRamBase);
  a.li(5, INT64_MIN);  // menvcfg.STCE
  a.csrw(kCsrMenvcfg, 5);
  a.li(5, 1000);  // at instruction 1000
  a.csrw(kCsrStimecmp, 5);
  a.li(5, 1 << 5);  // mie.STIE
  a.csrw(kCsrMie, 5);
  a.li(5, 1 << 3);  // mstatus.MIE
  a.csrs(kCsrMstatus, 5);
  a.li(5, 0);
  a.bind("loop");
  a.addi(5, 5, 1);
  a.jal(0, "loop");
  a.finish();
  for (Machine* m : {&interp, &jit}) {
    m->load(a);
    Asm h(Machine::kHandler);
    h.csrr(28, kCsrMepc);
    h.csrr(29, kCsrMinstret);
    h.csrr(30, kCsrMcause);
    h.li(5, -1);  // no timer any more: WFI waits
    h.csrw(kCsrStimecmp, 5);
    h.wfi();
    m->load(h);
    ASSERT_TRUE(m->hart->write_csr(kCsrMtvec, Machine::kHandler));
    m->clock.instret_of = m->hart.get();  // time advances with instructions
    ASSERT_EQ(m->run(), StopReason::kWfi);
  }
  EXPECT_GE(jit.hart->blocks_translated(), 1u);
  EXPECT_EQ(jit.x(30), kInterruptBit | 5) << "a supervisor timer interrupt";
  expect_same(interp, jit, "after the interrupt");
  EXPECT_GT(jit.x(29), 1000u) << "the interrupt came when stimecmp's time had come";
}

// Runs `a` on both machines until WFI; they must agree.
void run_to_wfi(Machine& interp, Machine& jit, const Asm& a) {
  interp.load(a);
  jit.load(a);
  ASSERT_EQ(interp.run(), StopReason::kWfi);
  ASSERT_EQ(jit.run(), StopReason::kWfi);
  expect_same(interp, jit, "at the WFI");
}

// A hot loop is translated and gives the interpreter's results.
// A device raising an interrupt line from a translated store's slow path
// (translated code tests attention_, which a raised line sets, not the
// lines): first a line mie does not enable, which changes nothing, then
// MEIP, which must trap at the same instruction as interpreted.
TEST(HartJit, DeviceInterruptLandsOnTheSameInstruction) {
  Asm a(kRamBase);
  a.li(5, 1 << 11);  // mie.MEIE
  a.csrw(kCsrMie, 5);
  a.li(5, 1 << 3);  // mstatus.MIE
  a.csrs(kCsrMstatus, 5);
  a.li(4, static_cast<int64_t>(kMmioBase));
  a.li(5, 0);
  a.bind("loop");
  a.addi(5, 5, 1);
  a.li(7, 300);
  a.bne(5, 7, "late");
  a.li(6, 9);  // SEIP: pending, not enabled
  a.sw(6, 4, 0);
  a.bind("late");
  a.li(7, 700);
  a.bne(5, 7, "loop");
  a.li(6, 11);  // MEIP
  a.sw(6, 4, 0);
  a.addi(8, 8, 1);
  a.jal(0, "loop");
  a.finish();
  Machine interp, jit;
  jit.hart->set_engine(Engine::kJit);
  jit.hart->set_jit_threshold(1);
  for (Machine* m : {&interp, &jit}) {
    m->dev.irq_to = m->hart.get();
    m->load(a);
    Asm h(Machine::kHandler);
    h.csrr(28, kCsrMepc);
    h.csrr(29, kCsrMinstret);
    h.csrr(30, kCsrMcause);
    h.csrw(kCsrMie, 0);  // MEIP stays pending: WFI waits only with it disabled
    h.wfi();
    m->load(h);
    ASSERT_TRUE(m->hart->write_csr(kCsrMtvec, Machine::kHandler));
    ASSERT_EQ(m->run(), StopReason::kWfi);
  }
  EXPECT_GE(jit.hart->blocks_translated(), 3u);
  EXPECT_EQ(jit.x(30), kInterruptBit | 11) << "a machine external interrupt";
  EXPECT_EQ(jit.x(5), 700u);
  expect_same(interp, jit, "after the interrupt");
}

// The translator can run on this build: a change to Hart that moves
// attention_ away from stop_ fails here, not as a quiet interpreter.
TEST(HartJit, LayoutIsTheTranslators) {
  Machine m;
  EXPECT_TRUE(m.hart->jit_layout_ok());
  m.hart->set_engine(Engine::kJit);
  EXPECT_EQ(m.hart->engine(), Engine::kJit);
}

TEST(HartJit, HotLoopIsTranslated) {
  Machine interp, jit;
  jit.hart->set_engine(Engine::kJit);
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kDataAddr));
  a.li(2, 1000);
  a.li(3, 0);
  a.bind("loop");
  a.add(3, 3, 2);
  a.sd(3, 1, 0);
  a.ld(4, 1, 0);
  a.op(1, 4, 5, 4, 2);  // div
  a.addi(2, 2, -1);
  a.bne(2, 0, "loop");
  a.wfi();
  a.finish();
  run_to_wfi(interp, jit, a);
  EXPECT_GE(jit.hart->blocks_translated(), 1u);
  EXPECT_EQ(interp.hart->blocks_translated(), 0u);
  EXPECT_EQ(jit.x(3), 500500u);
}

// Blocks with AMOs and LR/SC are translated (the SMP kernel's locks are
// AMOs) and give the interpreter's results.
TEST(HartJit, AtomicsAreTranslated) {
  Machine interp, jit;
  jit.hart->set_engine(Engine::kJit);
  jit.hart->set_jit_threshold(1);
  Asm a(kRamBase);
  a.li(1, static_cast<int64_t>(kDataAddr));
  a.li(3, 1000);
  a.li(4, 3);
  a.bind("loop");
  a.amo(0x00, 3, 7, 1, 4);  // amoadd.d x7, x4, (x1)
  a.amo(0x01, 2, 8, 1, 3);  // amoswap.w x8, x3, (x1)
  a.amo(0x18, 3, 9, 1, 3);  // amominu.d x9, x3, (x1)
  a.amo(0x02, 2, 5, 1, 0);  // lr.w x5, (x1)
  a.add(5, 5, 4);
  a.amo(0x03, 2, 6, 1, 5);  // sc.w x6, x5, (x1): succeeds
  a.amo(0x03, 2, 11, 1, 5);  // sc.w x11, x5, (x1): fails, no reservation
  a.add(10, 10, 6);
  a.add(12, 12, 11);
  a.addi(3, 3, -1);
  a.blt(0, 3, "loop");
  a.wfi();
  a.finish();
  run_to_wfi(interp, jit, a);
  // The first block and the loop's (the WFI's stays interpreted).
  EXPECT_EQ(jit.hart->blocks_translated(), 2u);
  EXPECT_EQ(jit.x(10), 0u) << "every first sc.w succeeded";
  EXPECT_EQ(jit.x(12), 1000u) << "every second sc.w failed";
}

// Back to the interpreter: translations are dropped and never run again.
TEST(HartJit, EngineSwitchesBack) {
  Machine m;
  m.hart->set_engine(Engine::kJit);
  Asm a(kRamBase);
  a.li(2, 200);
  a.bind("loop");
  a.addi(2, 2, -1);
  a.bne(2, 0, "loop");
  a.li(2, 200);
  a.bind("again");
  a.addi(2, 2, -1);
  a.bne(2, 0, "again");
  a.wfi();
  a.finish();
  m.load(a);
  ASSERT_EQ(m.run(100), StopReason::kBudget);  // still cold
  EXPECT_EQ(m.hart->blocks_translated(), 0u);
  ASSERT_EQ(m.run(200), StopReason::kBudget);
  EXPECT_EQ(m.hart->blocks_translated(), 1u);
  m.hart->set_engine(Engine::kInterp);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.hart->blocks_translated(), 1u);
  EXPECT_EQ(m.x(2), 0u);
}

// The translator's statistics (--stats, issue 16): entries from the run
// loop, the chains that ended in a trap, the code memory used, and the
// run loop's jump-cache misses, which the interpreter counts too.
TEST(HartJit, StatisticsCountEntriesTrapsAndCode) {
  Machine interp, jit;
  jit.hart->set_engine(Engine::kJit);
  jit.hart->set_jit_threshold(1);
  Asm a(kRamBase);
  a.li(5, 0);
  a.li(6, 10);
  a.li(7, 0x1000);  // below RAM: loads fault
  a.bind("loop");
  a.addi(5, 5, 1);
  a.blt(5, 6, "loop");
  a.ld(8, 7, 0);  // a block of its own, translated, ends in a trap
  a.jal(0, 4);    // which ends before the WFI, never translated
  a.wfi();
  a.finish();
  for (Machine* m : {&interp, &jit}) {
    m->install_m_handler();
    m->load(a);
    ASSERT_EQ(m->run(), StopReason::kWfi);
    EXPECT_EQ(m->x(5), 10u);
    EXPECT_EQ(m->x(28), kLoadAccessFault);
    EXPECT_GE(m->hart->jump_cache_misses(), 1u);
    EXPECT_EQ(m->hart->jit_exits_smc(), 0u);
  }
  EXPECT_EQ(interp.hart->jit_entries(), 0u);
  EXPECT_EQ(interp.hart->jit_exits_trap(), 0u);
  EXPECT_EQ(interp.hart->jit_code_bytes(), 0u);
  EXPECT_GE(jit.hart->jit_entries(), 1u);
  EXPECT_EQ(jit.hart->jit_exits_trap(), 1u);
  EXPECT_GT(jit.hart->jit_code_bytes(), 0u);
}

}  // namespace
}  // namespace tandem::cpu::test
