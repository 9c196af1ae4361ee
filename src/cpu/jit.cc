// The translator: hot blocks to x86-64 with Xbyak (Engine::kJit). The
// interpreter stays the reference: a translation runs exactly the
// instructions of one block, with the interpreter's meaning for each, and
// hands the block's end back to the run loop (exec.cc, run_jit), which
// does the same bookkeeping as for an interpreted block (instret_, the
// sstc tick, budget, stop and interrupt checks, chaining through the jump
// cache). So a run's instruction counts, traps and timer interrupts do not
// depend on the engine. A block with any instruction outside the subset
// below (CSR, FP, system, Zb*) is never translated.
//
// Loads and stores look up the same TLBs inline as load<T>/store<T> do and
// call the same slow paths on a miss (load_slow, store_slow_status), so
// memory tracking and self-modifying code behave as interpreted.
#include <sys/mman.h>
#include <unistd.h>

#include <xbyak/xbyak.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>
#include <string>
#include <type_traits>

#include "cpu/hart.h"
#include "cpu/jit_code.h"

namespace tandem::cpu {

JitCode::JitCode(size_t size) : size_(size), data_(size - kEpochRoom) {
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) base_ = static_cast<uint8_t*>(p);
  if (std::getenv("TANDEM_PERF_MAP"))  // perf's convention for JIT code: /tmp/perf-PID.map
    perf_map_ = std::fopen(("/tmp/perf-" + std::to_string(getpid()) + ".map").c_str(), "a");
}

JitCode::~JitCode() {
  if (base_) munmap(base_, size_);
  if (perf_map_) std::fclose(perf_map_);
}

void JitCode::clear() {
  used_ = 0;
  data_ = size_ - kEpochRoom;
  runtime_ = Runtime{};
  links_.clear();
  links_count_ = 0;
}

namespace {
void set_rel32(uint8_t* rel32, const uint8_t* to) {
  const int32_t d = static_cast<int32_t>(to - (rel32 + 4));
  std::memcpy(rel32, &d, 4);
}
}  // namespace

void JitCode::link(uint8_t* rel32, const uint8_t* target) {
  int32_t d;
  std::memcpy(&d, rel32, 4);
  links_[target].emplace_back(rel32, rel32 + 4 + d);
  links_count_++;
  links_made_++;
  set_rel32(rel32, target);
}

uint8_t* JitCode::take_data(size_t bytes) {
  if (!base_) return nullptr;
  if (free_bytes() < bytes) return nullptr;
  data_ -= bytes;
  return base_ + data_;
}

void JitCode::unlink_into(const uint8_t* target) {
  if (base_) epoch_ref()++;
  auto it = links_.find(target);
  if (it == links_.end()) return;
  for (const auto& [rel32, stub] : it->second) set_rel32(rel32, stub);
  links_count_ -= it->second.size();
  links_undone_ += it->second.size();
  links_.erase(it);
}

void JitCode::unlink_all() {
  if (base_) epoch_ref()++;
  for (const auto& [target, sites] : links_)
    for (const auto& [rel32, stub] : sites) set_rel32(rel32, stub);
  links_undone_ += links_count_;
  links_.clear();
  links_count_ = 0;
}

namespace {

bool translatable(Op op) {
  switch (op) {
    case Op::END: case Op::NOP: case Op::FENCE:
    case Op::LUI: case Op::AUIPC: case Op::JAL: case Op::JALR:
    case Op::BEQ: case Op::BNE: case Op::BLT: case Op::BGE: case Op::BLTU: case Op::BGEU:
    case Op::LB: case Op::LH: case Op::LW: case Op::LD: case Op::LBU: case Op::LHU: case Op::LWU:
    case Op::SB: case Op::SH: case Op::SW: case Op::SD:
    case Op::ADDI: case Op::SLTI: case Op::SLTIU: case Op::XORI: case Op::ORI: case Op::ANDI:
    case Op::SLLI: case Op::SRLI: case Op::SRAI:
    case Op::ADD: case Op::SUB: case Op::SLL: case Op::SLT: case Op::SLTU: case Op::XOR:
    case Op::SRL: case Op::SRA: case Op::OR: case Op::AND:
    case Op::ADDIW: case Op::SLLIW: case Op::SRLIW: case Op::SRAIW:
    case Op::ADDW: case Op::SUBW: case Op::SLLW: case Op::SRLW: case Op::SRAW:
    case Op::MUL: case Op::MULH: case Op::MULHSU: case Op::MULHU:
    case Op::DIV: case Op::DIVU: case Op::REM: case Op::REMU:
    case Op::MULW: case Op::DIVW: case Op::DIVUW: case Op::REMW: case Op::REMUW:
    case Op::LR: case Op::SC: case Op::AMO:
      return true;
    default:
      return false;
  }
}

unsigned access_size(Op op) {
  switch (op) {
    case Op::LB: case Op::LBU: case Op::SB: return 1;
    case Op::LH: case Op::LHU: case Op::SH: return 2;
    case Op::LW: case Op::LWU: case Op::SW: return 4;
    default: return 8;
  }
}

// Offsets of the hart's fields the generated code uses.
struct Layout {
  int x, pc, tlb_r, tlb_w;
  // What chaining reads and writes (exec.cc's CHAIN).
  int instret, sstc_countdown, attention, stop, mip, mip_ext, sstc_stip, irq_mask, jc, tlb_x, cur_block,
      cur_block_dead;
  int block_host, block_jit, block_count;  // in a Block
  unsigned jc_mask;
};

// JitCode::kLinkOffset: from a translation's start to its link entry,
// `lea rcx, [rip + body]` and `jmp prologue`, both with 32-bit
// displacements.
constexpr size_t kLinkOffset = JitCode::kLinkOffset;

void link_site(JitCode* code, uint8_t* rel32, const uint8_t* target) { code->link(rel32, target); }

using namespace Xbyak::util;

// Register use: rbx the hart, rbp &x_[0], r12 the block's virtual pc
// (from a block end on, the next block's: pc_ is written from it at every
// exit), r13 run()'s instruction target, r14 instret_ and r15d
// sstc_countdown_ (kept in registers while translations chain; in memory
// again at every exit and before every call), r8-r11 cached guest registers
// (choose_cached; the runtime's lookup uses r8 before it enters the
// next translation, which loads its own); rax, rcx, rdx, rsi, rdi scratch.
// [rsp] is a slot for a slow load's value, [rsp + 8] is set when a slow
// path ran since the last block end, and then [rsp + 16] holds r13, which
// is 0 so that the block end's budget test fails and the shared checks
// see the flag (mark_slow). Every immediate of a decoded instruction
// fits in 32 bits. All translations share this frame, made by the
// runtime's prologue, so one may continue into another.
class Common : public Xbyak::CodeGenerator {
 public:
  Common(void* at, size_t room, const Layout& l) : CodeGenerator(room, at), l_(l) {}
  // Hart::JitExit, which is private to the hart.
  static constexpr uint64_t kExitEnd = 0, kExitTrap = 1, kExitSmc = 2;
  // A jalr's target cache (Emitter::jalr): the epoch it was filled at,
  // then kIcEntries of {target - the block's pc, the target's link entry},
  // indexed by a hash of the former (ic_index); an odd key matches no
  // target.
  static constexpr unsigned kIcBits = 5, kIcEntries = 1u << kIcBits;
  static constexpr uint64_t kIcNoKey = 1;
  static constexpr size_t kIcBytes = 16 + 16 * kIcEntries;

 protected:
  void sync_counters() {
    mov(qword[rbx + l_.instret], r14);
    mov(dword[rbx + l_.sstc_countdown], r15d);
  }

  // CHAIN's conditions besides finding the next block: the budget (rcx =
  // instret_ with this block retired), the sstc tick, a stop request and
  // attention (dead blocks to free, a pause, an interrupt line raised:
  // the byte after stop_, one test for both), a pending interrupt; any of
  // them jumps to `fail`. No interrupt term changes while translations
  // run but a line raised (mip_ext_, by a device or another hart, which
  // then raises attention_ too): mip_, sstc_stip_ and irq_mask_ change in
  // CSR instructions, traps and the run loop's sstc tick, never in
  // translated code; so the prologue makes the budget test fail at every
  // block end when the terms at entry make CHAIN's test fail, and a block
  // end tests attention_ for the rest.
  // The sstc countdown is decremented as it is tested (`sub` sets the
  // flags `cmp` would): when all pass it is decremented already, as
  // CHAIN's retirement does; a failure after its decrement goes to
  // `ticked`, which is to add it back and go on to `fail`.
  // `retired`: instret_ with the block retired.
  // `last_jump` false: the caller branches on the last test's flags
  // (equal: all passed).
  void end_checks(const Xbyak::Reg64& retired, const Xbyak::Label& fail, const Xbyak::Label& ticked,
                  bool last_jump = true) {
    cmp(retired, r13);
    jae(fail, T_NEAR);
    sub(r15d, 1);
    jle(ticked, T_NEAR);
    cmp(word[rbx + l_.stop], 0);
    if (last_jump) jne(ticked, T_NEAR);
  }

  const Layout l_;
};

// The routines every translation shares (JitCode::Runtime), at the start
// of the code memory: the frame, the exits, and the chaining paths.
class RuntimeEmitter : public Common {
 public:
  using Common::Common;

  JitCode::Runtime emit(JitCode* code, void (*link_site)(JitCode*, uint8_t*, const uint8_t*)) {
    JitCode::Runtime rt;
    // From the run loop: fn(hart, the block's pc, run()'s target), rcx =
    // where the block's body is.
    rt.prologue = getCurr();
    push(rbx);
    push(rbp);
    push(r12);
    push(r13);
    push(r14);
    push(r15);
    sub(rsp, 24);  // 6 pushes and 24 bytes keep calls 16-byte aligned
    mov(byte[rsp + 8], 0);
    mov(rbx, rdi);
    lea(rbp, ptr[rdi + l_.x]);
    mov(r12, rsi);
    mov(r13, rdx);
    mov(r14, qword[rbx + l_.instret]);
    mov(r15d, dword[rbx + l_.sstc_countdown]);
    Xbyak::Label none_pending;
    mov(rax, qword[rbx + l_.mip]);
    or_(rax, qword[rbx + l_.mip_ext]);
    or_(rax, qword[rbx + l_.sstc_stip]);
    test(qword[rbx + l_.irq_mask], rax);
    jz(none_pending);
    xor_(r13d, r13d);  // end_checks: the budget is spent at every block end
    L(none_pending);
    jmp(rcx);

    rt.end = getCurr();
    mov(eax, static_cast<uint32_t>(kExitEnd));
    rt.exit = getCurr();
    mov(qword[rbx + l_.pc], r12);  // a trap's block, or the next block after a block end
    sync_counters();
    add(rsp, 24);
    pop(r15);
    pop(r14);
    pop(r13);
    pop(r12);
    pop(rbp);
    pop(rbx);
    ret();

    // Called at a block end with a fixed target in the block's page, the
    // block retired (r12 = the next pc, r14 = instret_ with the block's
    // instructions). Returns (the next block's link entry sets
    // cur_block_), or leaves to the run loop with the block not retired.
    // When a slow path ran (the flag, r13 0) it does the look-up instead
    // and jumps to what it finds, as `lookup`'s callers would.
    Xbyak::Label fail, ticked, slowed, unretire, lookup;
    rt.checks = getCurr();
    end_checks(r14, fail, ticked);
    ret();  // cur_block_dead_ is false: no call ran
    L(ticked);
    add(r15d, 1);
    L(fail);
    cmp(byte[rsp + 8 + 8], 0);  // above the call's return address
    jne(slowed, T_NEAR);
    add(rsp, 8);
    L(unretire);
    mov(rsi, qword[rbx + l_.cur_block]);
    mov(esi, dword[rsi + l_.block_count]);
    sub(r14, rsi);
    jmp(rt.end, T_NEAR);
    L(slowed);
    mov(byte[rsp + 8 + 8], 0);
    mov(r13, qword[rsp + 8 + 16]);
    add(rsp, 8);  // not back to the caller, whose direct link may be stale
    call(lookup);
    jmp(rdi);

    // Called at any other block end (r12, r14 as above): also finds the
    // next block as CHAIN does (fetch TLB, jump cache, its host bytes)
    // and returns with rdi = its translation's link entry.
    L(lookup);
    rt.lookup = getCurr();
    end_checks(r14, fail, ticked);
    find_next(ticked);
    mov(byte[rbx + l_.cur_block_dead], 0);  // CHAIN's
    ret();

    // An unlinked direct jump's stub comes here, rdx = the end of the
    // jump's rel32, the block retired by `checks`: when the next block
    // has a translation, the jump is patched to go straight to it from
    // now on; otherwise the retirement is undone and the run loop does
    // CHAIN.
    Xbyak::Label undo;
    rt.link = getCurr();
    find_next(undo);
    push(rdi);
    push(rdi);  // twice: the call stays 16-byte aligned
    lea(rsi, ptr[rdx - 4]);
    mov(rdx, rdi);
    mov(rdi, reinterpret_cast<uintptr_t>(code));
    mov(rax, reinterpret_cast<uintptr_t>(link_site));
    call(rax);
    pop(rax);
    pop(rax);
    jmp(rax);
    L(undo);
    add(r15d, 1);
    jmp(unretire, T_NEAR);

    rt.ic_reset = getCurr();
    mov(qword[rcx], rax);
    mov(r8d, static_cast<uint32_t>(kIcNoKey));
    for (unsigned k = 0; k < kIcEntries; ++k) mov(qword[rcx + 16 + 16 * k], r8);
    ret();
    return rt;
  }

 private:
  // rdi = the link entry of the translation of the block at pc r12, found
  // as CHAIN finds it (the fetch TLB's host address, the jump cache's
  // block with those host bytes, its translation), or jumps to `fail`.
  void find_next(Xbyak::Label& fail) {
    mov(rdi, r12);
    shr(rdi, 12);
    mov(r8d, edi);
    and_(r8d, 255);
    shl(r8d, 4);
    add(r8, qword[rbx + l_.tlb_x]);
    cmp(qword[r8], rdi);
    jne(fail, T_NEAR);
    mov(rdi, qword[r8 + 8]);
    add(rdi, r12);
    mov(rsi, r12);  // the jump-cache entry
    shr(rsi, 1);
    and_(esi, l_.jc_mask);
    shl(esi, 4);
    add(rsi, rbx);
    cmp(qword[rsi + l_.jc], r12);
    jne(fail, T_NEAR);
    mov(rsi, qword[rsi + l_.jc + 8]);  // its block
    cmp(rdi, qword[rsi + l_.block_host]);
    jne(fail, T_NEAR);
    mov(rdi, qword[rsi + l_.block_jit]);
    test(rdi, rdi);
    jz(fail, T_NEAR);
    add(rdi, static_cast<uint32_t>(kLinkOffset));
  }
};

// One block's translation: its entry from the run loop, its link entry,
// the body; then the stubs of its direct jumps and its slow paths, which
// run seldom.
class Emitter : public Common {
 public:
  // `ics`: a jalr cache (kIcBytes, epoch already stale) for each jalr
  // of the block, in order; `epoch`: JitCode::epoch().
  Emitter(void* at, size_t room, const Layout& l, const JitCode::Runtime& rt,
          bool (*load_slow)(Hart*, uint64_t, uint64_t, uint64_t*),
          int (*store_slow)(Hart*, uint64_t, uint64_t, uint64_t),
          int (*amo)(Hart*, const Insn*), std::vector<uint8_t*> ics, const uint64_t* epoch)
      : Common(at, room, l), rt_(rt), load_slow_(load_slow), store_slow_(store_slow), amo_(amo), ics_(std::move(ics)),
        epoch_(epoch) {
    for (unsigned r = 0; r <= kSinkReg; ++r) {
      mem64_.push_back(qword[rbp + 8 * r]);
      mem32_.push_back(dword[rbp + 8 * r]);
    }
  }

  // `host`, `page_offset`: where the block's first instruction is;
  // `block`: the Block, which the link entry makes cur_block_.
  void block(const Insn* insns, size_t n, uint32_t count, const uint8_t* host, unsigned page_offset,
             const void* block) {
    count_ = count;
    host_ = host;
    page_offset_ = page_offset;
    for (size_t k = 0; k < n; ++k) has_memory_ |= access(insns[k].op) || atomic(insns[k].op);
    choose_cached(insns, n);
    for (size_t k = 0; k < n; ++k)
      if (loops_to_start(insns[k])) dirty_ = written_;
    lea(rcx, ptr[rip + body_]);
    jmp(rt_.prologue, T_NEAR);
    link_offset_ = getSize();
    mov(rax, reinterpret_cast<uintptr_t>(block));
    mov(qword[rbx + l_.cur_block], rax);
    L(body_);
    load_cached();
    L(loop_);  // a self loop comes here only when no slow path ran
    for (size_t k = 0; k < n; ++k) insn(insns[k], static_cast<unsigned>(k));
    cold_offset_ = getSize();
    for (Site& s : sites_) {
      L(s.stub);
      lea(rdx, ptr[rip + s.after]);
      jmp(rt_.link, T_NEAR);
    }
    for (IcMiss& m : ic_misses_) jalr_miss(m);
    for (SlowPath& sp : slow_) slow_path(sp);
  }
  size_t link_offset() const { return link_offset_; }
  size_t cold_offset() const { return cold_offset_; }

 private:
  // A load's or store's out-of-line path: `slow` is jumped to on a TLB
  // miss, `back` is where it resumes.
  struct SlowPath {
    bool store;
    unsigned index, size, rs2;
    Xbyak::Label slow, back;
    bool atomic = false;  // exec_amo's status: trap or a store to this block
    unsigned dirty = 0;  // the cached registers to write back before the call
    int va = -1;  // the cached register holding va, or -1: rsi
  };
  // A direct jump: to `stub` until patched (JitCode::link); `after`
  // follows its rel32.
  struct Site {
    Xbyak::Label stub, after;
  };
  // A jalr whose target cache missed jumps to `miss`.
  struct IcMiss {
    const uint8_t* ic;
    Xbyak::Label miss;
  };

  static bool atomic(Op op) { return op == Op::LR || op == Op::SC || op == Op::AMO; }
  static bool access(Op op) {
    switch (op) {
      case Op::LB: case Op::LH: case Op::LW: case Op::LD: case Op::LBU: case Op::LHU: case Op::LWU:
      case Op::SB: case Op::SH: case Op::SW: case Op::SD:
        return true;
      default:
        return false;
    }
  }
  // Guest register r as an operand: its host register when the block
  // caches it, else its place in x_.
  const Xbyak::Operand& X(unsigned r) const {
    return cache_[r] >= 0 ? static_cast<const Xbyak::Operand&>(kCache64[cache_[r]]) : mem64_[r];
  }
  const Xbyak::Operand& X32(unsigned r) const {
    return cache_[r] >= 0 ? static_cast<const Xbyak::Operand&>(kCache32[cache_[r]]) : mem32_[r];
  }

  // Up to kCached of the guest registers the block uses most (at least
  // twice) live in r8-r11 instead of x_: loaded at the block's start,
  // written back to x_ (write_back) before anything that reads x_ or
  // leaves the block (a block end, a call, an exit), loaded again after
  // each call (which clobbers them). A loop back to the block's start
  // keeps them.
  void choose_cached(const Insn* insns, size_t n) {
    unsigned uses[kSinkReg + 1] = {};
    for (size_t k = 0; k < n; ++k) {
      uses[insns[k].rd]++;
      uses[insns[k].rs1]++;
      uses[insns[k].rs2]++;
    }
    uses[0] = uses[kSinkReg] = 0;  // x0 reads 0 from x_; the sink is never read
    for (unsigned c = 0; c < kCached; ++c) {
      unsigned best = 0;
      for (unsigned r = 1; r < kSinkReg; ++r)
        if (uses[r] > uses[best] && cache_[r] < 0) best = r;
      if (uses[best] < 2) break;
      cache_[best] = static_cast<int>(c);
      cached_.push_back(best);
    }
    for (size_t k = 0; k < n; ++k)
      if (cache_[insns[k].rd] >= 0) written_ |= 1u << cache_[insns[k].rd];
  }
  // A jump or branch to the block's own start (Emitter::self_loop): the
  // registers it writes stay dirty across the loop back.
  static bool loops_to_start(const Insn& in) {
    switch (in.op) {
      case Op::JAL: case Op::BEQ: case Op::BNE: case Op::BLT: case Op::BGE: case Op::BLTU: case Op::BGEU:
        return in.off + in.imm == 0;
      default:
        return false;
    }
  }
  // Stores the cached registers in `dirty` (bits of cache slots) to x_:
  // dirty_ is those written since the block's start or, in a block that
  // loops to its start, all it writes anywhere.
  void write_back(unsigned dirty) {
    for (unsigned r : cached_)
      if (dirty & (1u << cache_[r])) mov(mem64_[r], kCache64[cache_[r]]);
  }
  void load_cached() {
    for (unsigned r : cached_) mov(kCache64[cache_[r]], mem64_[r]);
  }
  // Guest register r, cached, now differs from x_[r].
  void mark_dirty(unsigned r) { dirty_ |= 1u << cache_[r]; }
  void set_rd(const Insn& in, const Xbyak::Reg64& v) {
    if (cache_[in.rd] >= 0) {
      mov(kCache64[cache_[in.rd]], v);
      mark_dirty(in.rd);
    } else {
      mov(mem64_[in.rd], v);
    }
  }
  static int32_t imm32(int64_t v) { return static_cast<int32_t>(v); }

  // Before a call into the hart (a slow path, an AMO), which may read x_,
  // pc_ and instret_ (a device's clock under --icount) and trap: the
  // registers in `dirty` written back, pc_ as the interpreter has it in a
  // block, the counters, mark_slow.
  void enter_hart(unsigned dirty) {
    write_back(dirty);
    mov(qword[rbx + l_.pc], r12);
    sync_counters();
    mark_slow();
  }
  // The call may change the TLBs, the jump cache and blocks: the flag,
  // and r13 0 (saved) so that the block's end fails its budget test and
  // the shared checks look the next block up.
  void mark_slow() {
    Xbyak::Label marked;
    cmp(byte[rsp + 8], 0);
    jne(marked);
    mov(byte[rsp + 8], 1);
    mov(qword[rsp + 16], r13);
    xor_(r13d, r13d);
    L(marked);
  }

  // Leaves to the run loop; the caller has written back (x_ is current).
  void leave(uint64_t code) {
    mov(eax, static_cast<uint32_t>(code));
    jmp(rt_.exit, T_NEAR);
  }
  // The next pc is the block's pc + offset (modulo 2^64): the block ends.
  // A target in the block's own page has, as long as no call can have
  // changed the fetch TLB since the block was entered (no slow path ran),
  // the host address the block's own entry check gave plus the offset,
  // so the block found there stays the one CHAIN would find until it
  // dies: a direct jump to its translation, patched in by the runtime's
  // link routine and undone when it dies (JitCode::unlink_into); after a
  // slow path the shared checks do the look-up instead. Other
  // targets are found as CHAIN finds them, by the runtime's lookup.
  void end_at(int64_t offset) {
    if (offset == 0) self_loop();
    write_back(dirty_);
    if (offset != 0) add(r12, imm32(offset));
    add(r14, count_);  // retired; the runtime undoes it when the block ends in the run loop
    if (page_offset_ + offset < 0 || page_offset_ + offset >= 0x1000) {
      call(rt_.lookup);
      jmp(rdi);
      return;
    }
    call(rt_.checks);
    Site& s = sites_.emplace_back();
    jmp(s.stub, T_NEAR);
    L(s.after);
  }

  // A block jumping to its own start: the jump-cache entry, fetch TLB
  // entry and block its entry was checked with change only in calls, so
  // when no slow path ran CHAIN's other conditions are all there is to
  // check before running the block again. Falls through otherwise.
  // After a slow path (r13 0: the budget test fails) the block ends as
  // any other.
  void self_loop() {
    Xbyak::Label no, ticked, unretired;
    add(r14, count_);  // retired here, undone on a failure
    end_checks(r14, unretired, ticked, false);
    je(loop_, T_NEAR);  // cur_block_dead_ is false: no call ran (retire)
    L(ticked);
    add(r15d, 1);
    L(unretired);
    sub(r14, count_);
    if (has_memory_) {
      cmp(byte[rsp + 8], 0);
      jne(no, T_NEAR);
    }
    write_back(dirty_);
    jmp(rt_.end, T_NEAR);  // the next pc is r12, the block's own
    L(no);
  }

  // A jalr's end (rax = the target). Its cache holds
  // targets in the block's own page, each recorded when no slow path
  // had run (the block's host page was the fetch TLB's then and is
  // whenever that holds again: end_at's reasoning), with the link entry
  // the runtime's lookup found for it. A hit with no slow path run is
  // then the block CHAIN would find, as long as that translation lives:
  // its death raises JitCode's epoch, which empties every cache at its
  // next fill and fails every hit until then. Keyed by the offset from
  // the block's pc, not the target: one block may run at several
  // virtual addresses (aliases), never at another page offset.
  void jalr() {
    IcMiss& m = ic_misses_.emplace_back(IcMiss{ics_.at(ic_next_++), {}});
    mov(rdx, rax);
    sub(rdx, r12);
    ic_index();
    lea(rdi, ptr[rip + static_cast<const void*>(m.ic)]);
    cmp(rdx, qword[rdi + rsi + 16]);
    jne(m.miss, T_NEAR);
    mov(rcx, qword[rip + static_cast<const void*>(epoch_)]);
    cmp(rcx, qword[rdi]);
    jne(m.miss, T_NEAR);
    retire_to_rax();
    call(rt_.checks);  // leaves rdi and rsi alone; after a slow path, looks up
    jmp(qword[rdi + rsi + 24]);
  }

  // The block ends, retired (as end_at does), its next pc rax.
  void retire_to_rax() {
    mov(r12, rax);
    add(r14, count_);
  }

  // rsi = the offset of key rdx's entry: a multiplicative hash (the
  // targets of a switch's jalr are often evenly spaced, which bits of
  // the key alone would put on a few entries).
  void ic_index() {
    imul(esi, edx, static_cast<int>(0x9E3779B1u));
    shr(esi, 32 - kIcBits);
    shl(esi, 4);
  }

  // The runtime's lookup, then, when the target is in the block's page
  // and no slow path ran, the cache entry (rdx = the key: the lookup
  // leaves rdx alone) is filled with what it found.
  void jalr_miss(IcMiss& m) {
    Xbyak::Label lookup, keep_epoch;
    L(m.miss);
    if (has_memory_) {
      cmp(byte[rsp + 8], 0);
      jne(lookup, T_NEAR);
    }
    mov(rcx, rax);
    xor_(rcx, r12);
    shr(rcx, 12);
    jnz(lookup, T_NEAR);
    retire_to_rax();
    call(rt_.lookup);
    ic_index();
    lea(rcx, ptr[rip + static_cast<const void*>(m.ic)]);
    mov(rax, qword[rip + static_cast<const void*>(epoch_)]);
    cmp(rax, qword[rcx]);
    je(keep_epoch, T_NEAR);
    call(rt_.ic_reset);
    L(keep_epoch);
    mov(qword[rcx + rsi + 16], rdx);
    mov(qword[rcx + rsi + 24], rdi);
    jmp(rdi);
    L(lookup);
    retire_to_rax();
    call(rt_.lookup);
    jmp(rdi);
  }

  void set_rd_rax(const Insn& in) { set_rd(in, rax); }
  void set_rd_eax_sext(const Insn& in) {
    if (cache_[in.rd] >= 0) {
      movsxd(kCache64[cache_[in.rd]], eax);
      mark_dirty(in.rd);
      return;
    }
    movsxd(rax, eax);
    mov(mem64_[in.rd], rax);
  }

  void insn(const Insn& in, unsigned index) {
    const int64_t here = in.off, next = in.off + in.len;
    switch (in.op) {
      case Op::END: end_at(here); return;
      case Op::NOP: case Op::FENCE: return;
      case Op::LUI:
        mov(rax, imm32(in.imm));
        set_rd_rax(in);
        return;
      case Op::AUIPC:
        lea(rax, ptr[r12 + imm32(here + in.imm)]);
        set_rd_rax(in);
        return;
      case Op::JAL:
        lea(rax, ptr[r12 + imm32(next)]);
        set_rd_rax(in);
        end_at(here + in.imm);
        return;
      case Op::JALR:
        mov(rax, X(in.rs1));  // before rd is written: rd may be rs1
        add(rax, imm32(in.imm));
        and_(rax, -2);
        lea(rcx, ptr[r12 + imm32(next)]);
        set_rd(in, rcx);
        write_back(dirty_);
        jalr();
        return;
      case Op::BEQ: case Op::BNE: case Op::BLT: case Op::BGE: case Op::BLTU: case Op::BGEU: {
        Xbyak::Label taken;
        if (cache_[in.rs1] >= 0) {
          cmp(kCache64[cache_[in.rs1]], X(in.rs2));
        } else {
          mov(rax, X(in.rs1));
          cmp(rax, X(in.rs2));
        }
        switch (in.op) {
          case Op::BEQ: je(taken, T_NEAR); break;
          case Op::BNE: jne(taken, T_NEAR); break;
          case Op::BLT: jl(taken, T_NEAR); break;
          case Op::BGE: jge(taken, T_NEAR); break;
          case Op::BLTU: jb(taken, T_NEAR); break;
          default: jae(taken, T_NEAR); break;
        }
        end_at(next);
        L(taken);
        end_at(here + in.imm);
        return;
      }
      case Op::LB: case Op::LH: case Op::LW: case Op::LD: case Op::LBU: case Op::LHU: case Op::LWU:
        load(in, index);
        return;
      case Op::SB: case Op::SH: case Op::SW: case Op::SD:
        store(in, index);
        return;
      case Op::LR: case Op::SC: case Op::AMO:
        amo(in, index);
        return;
      default:
        alu(in);
        return;
    }
  }

  // va = x[rs1] + imm into rsi; rcx = the TLB entry of `tlb` for it;
  // jumps to `slow` unless the entry maps va's page and the access stays
  // in it (load<T>/store<T>'s test), else the host address is rax + rsi.
  // One compare does both: the page of va's last byte against the
  // entry's tag, which is va's page or kNoVpn (an entry at index i only
  // ever holds a page whose low 8 bits are i, so never va's next page).
  // va is in rsi, or, for an offset of 0 from a cached register, in that
  // register (sp.va): returned.
  Xbyak::Reg64 tlb_lookup(const Insn& in, int tlb, unsigned size, SlowPath& sp) {
    sp.dirty = dirty_;
    Xbyak::Reg64 va = rsi;
    if (cache_[in.rs1] >= 0 && in.imm == 0) {
      sp.va = cache_[in.rs1];
      va = kCache64[sp.va];
    } else if (cache_[in.rs1] >= 0) {
      lea(rsi, ptr[kCache64[cache_[in.rs1]] + imm32(in.imm)]);
    } else {
      mov(rsi, mem64_[in.rs1]);
      if (in.imm != 0) add(rsi, imm32(in.imm));
    }
    mov(rcx, va);
    shr(rcx, 12 - 4);  // the index times sizeof(TlbEntry)
    and_(ecx, 0xff0);  // 256 entries: jit_translate's static_assert
    add(rcx, qword[rbx + tlb]);
    if (size == 1) mov(rax, va); else lea(rax, ptr[va + (size - 1)]);
    shr(rax, 12);
    cmp(qword[rcx], rax);
    jne(sp.slow, T_NEAR);
    mov(rax, qword[rcx + 8]);
    return va;
  }

  void load(const Insn& in, unsigned index) {
    const unsigned size = access_size(in.op);
    SlowPath& sp = slow_.emplace_back(SlowPath{false, index, size, 0, {}, {}});
    const Xbyak::Reg64 va = tlb_lookup(in, l_.tlb_r, size, sp);
    L(sp.back);
    // Into rd's host register when it is cached, else rax then x_.
    const int c = cache_[in.rd];
    const Xbyak::Reg64 d = c >= 0 ? kCache64[c] : rax;
    switch (in.op) {  // rax + va: where the value is, in memory or the slot
      case Op::LB: movsx(d, byte[rax + va]); break;
      case Op::LH: movsx(d, word[rax + va]); break;
      case Op::LW: movsxd(d, dword[rax + va]); break;
      case Op::LD: mov(d, qword[rax + va]); break;
      case Op::LBU: movzx(d.cvt32(), byte[rax + va]); break;
      case Op::LHU: movzx(d.cvt32(), word[rax + va]); break;
      default: mov(d.cvt32(), dword[rax + va]); break;
    }
    if (c >= 0) mark_dirty(in.rd); else mov(mem64_[in.rd], rax);
  }

  void store(const Insn& in, unsigned index) {
    const unsigned size = access_size(in.op);
    SlowPath& sp = slow_.emplace_back(SlowPath{true, index, size, in.rs2, {}, {}});
    const Xbyak::Reg64 va = tlb_lookup(in, l_.tlb_w, size, sp);
    const int c = cache_[in.rs2];
    if (c < 0) mov(rdx, mem64_[in.rs2]);
    const Xbyak::Reg64 v = c < 0 ? rdx : kCache64[c];
    switch (size) {
      case 1: mov(byte[rax + va], v.cvt8()); break;
      case 2: mov(word[rax + va], v.cvt16()); break;
      case 4: mov(dword[rax + va], v.cvt32()); break;
      default: mov(qword[rax + va], v); break;
    }
    L(sp.back);
  }

  // LR, SC, AMO*: the interpreter's own exec_amo through Hart::jit_amo
  // (host compare-and-swap on RAM, its slow paths for the rest), `in`
  // being the block's own decoded instruction, which lives as long as
  // this translation can run. A non-zero status leaves as a store's does.
  void amo(const Insn& in, unsigned index) {
    SlowPath& sp = slow_.emplace_back(SlowPath{false, index, 0, 0, {}, {}, true});
    enter_hart(dirty_);
    mov(rdi, rbx);
    mov(rsi, reinterpret_cast<uintptr_t>(&in));
    mov(rax, reinterpret_cast<uintptr_t>(amo_));
    call(rax);
    load_cached();
    test(eax, eax);
    jnz(sp.slow, T_NEAR);
  }

  // load_slow(h, va, size, &slot), whose slot's low bytes are then read as
  // the fast path reads memory (static_cast<T> then the extension); or
  // store_slow_status(h, va, size, static_cast<T>(x[rs2])). The callee
  // may read instret_ (a device's clock under --icount).
  void slow_path(SlowPath& sp) {
    L(sp.slow);
    if (sp.atomic) {
      status_exit(sp.index);
      return;
    }
    if (sp.va >= 0) mov(rsi, kCache64[sp.va]);
    enter_hart(sp.dirty);  // a store's value is then read from x_
    mov(rdi, rbx);
    mov(edx, sp.size);
    if (sp.store) {
      switch (sp.size) {
        case 1: movzx(ecx, byte[rbp + 8 * sp.rs2]); break;
        case 2: movzx(ecx, word[rbp + 8 * sp.rs2]); break;
        case 4: mov(ecx, dword[rbp + 8 * sp.rs2]); break;
        default: mov(rcx, qword[rbp + 8 * sp.rs2]); break;
      }
      mov(rax, reinterpret_cast<uintptr_t>(store_slow_));
      call(rax);
      load_cached();
      test(eax, eax);
      jz(sp.back, T_NEAR);
      status_exit(sp.index);
      return;
    }
    mov(rcx, rsp);
    mov(rax, reinterpret_cast<uintptr_t>(load_slow_));
    call(rax);
    load_cached();
    test(al, al);
    Xbyak::Label fault;
    jz(fault, T_NEAR);
    mov(rax, rsp);  // rax + va = rsp: the slot
    if (sp.va >= 0) sub(rax, kCache64[sp.va]); else xor_(esi, esi);
    jmp(sp.back, T_NEAR);
    L(fault);
    leave(kExitTrap | uint64_t{sp.index} << 2);
  }

  // eax = 1: instruction `index` trapped; else (2) it stored to this
  // block's code.
  void status_exit(unsigned index) {
    Xbyak::Label smc;
    cmp(eax, 1);
    jne(smc, T_NEAR);
    leave(kExitTrap | uint64_t{index} << 2);
    L(smc);
    leave(kExitSmc | uint64_t{index} << 2);
  }

  void alu(const Insn& in) {
    const int32_t imm = imm32(in.imm);
    const uint8_t sh = static_cast<uint8_t>(in.imm & 63);
    // The forms rd = rs1 op operand compute in rax, or, when rd = rs1 is
    // cached, in its host register.
    const bool in_place = in.rd == in.rs1 && cache_[in.rd] >= 0;
    const Xbyak::Reg64 a = in_place ? kCache64[cache_[in.rd]] : rax;
    bool result_in_a = false;
    auto rs1 = [&] {
      if (!in_place) mov(rax, X(in.rs1));
      result_in_a = true;
      return a;
    };
    switch (in.op) {
      case Op::ADDI: add(rs1(), imm); break;
      case Op::XORI: xor_(rs1(), imm); break;
      case Op::ORI: or_(rs1(), imm); break;
      case Op::ANDI: and_(rs1(), imm); break;
      case Op::SLLI: shl(rs1(), sh); break;
      case Op::SRLI: shr(rs1(), sh); break;
      case Op::SRAI: sar(rs1(), sh); break;
      case Op::SLTI: case Op::SLTIU:
        mov(rcx, X(in.rs1));
        xor_(eax, eax);
        cmp(rcx, imm);  // the immediate sign-extended, as both compare it
        if (in.op == Op::SLTI) setl(al); else setb(al);
        break;
      case Op::ADD: add(rs1(), X(in.rs2)); break;
      case Op::SUB: sub(rs1(), X(in.rs2)); break;
      case Op::XOR: xor_(rs1(), X(in.rs2)); break;
      case Op::OR: or_(rs1(), X(in.rs2)); break;
      case Op::AND: and_(rs1(), X(in.rs2)); break;
      case Op::SLL: case Op::SRL: case Op::SRA:  // x86 masks a 64-bit count to 6 bits, as RV64 does
        mov(rcx, X(in.rs2));
        mov(rax, X(in.rs1));
        if (in.op == Op::SLL) shl(rax, cl); else if (in.op == Op::SRL) shr(rax, cl); else sar(rax, cl);
        break;
      case Op::SLT: case Op::SLTU:
        mov(rcx, X(in.rs1));
        xor_(eax, eax);
        cmp(rcx, X(in.rs2));
        if (in.op == Op::SLT) setl(al); else setb(al);
        break;
      case Op::MUL: mov(rax, X(in.rs1)); imul(rax, X(in.rs2)); break;
      case Op::MULH: mov(rax, X(in.rs1)); imul(X(in.rs2)); mov(rax, rdx); break;
      case Op::MULHU: mov(rax, X(in.rs1)); mul(X(in.rs2)); mov(rax, rdx); break;
      case Op::MULHSU:
        // signed x unsigned: the unsigned high half, less rs2 when rs1 < 0.
        mov(rax, X(in.rs1));
        mul(X(in.rs2));
        mov(rcx, X(in.rs1));
        sar(rcx, 63);
        and_(rcx, X(in.rs2));
        sub(rdx, rcx);
        mov(rax, rdx);
        break;
      case Op::DIV: case Op::REM: case Op::DIVU: case Op::REMU: divide(in, false); break;
      default: alu32(in); return;
    }
    if (result_in_a && in_place) {
      mark_dirty(in.rd);
    } else {
      set_rd_rax(in);
    }
  }

  // Unprivileged spec 7.2: x/0 = all ones, x%0 = x; the signed overflow
  // gives the dividend (and remainder 0). Never a host #DE. `word`: the
  // W forms, on the low 32 bits (the caller sign-extends).
  void divide(const Insn& in, bool word) {
    const bool is_signed = in.op == Op::DIV || in.op == Op::REM || in.op == Op::DIVW || in.op == Op::REMW;
    const bool is_rem = in.op == Op::REM || in.op == Op::REMU || in.op == Op::REMW || in.op == Op::REMUW;
    const Xbyak::Reg a = word ? Xbyak::Reg(eax) : Xbyak::Reg(rax);
    const Xbyak::Reg d = word ? Xbyak::Reg(ecx) : Xbyak::Reg(rcx);
    const Xbyak::Reg r = word ? Xbyak::Reg(edx) : Xbyak::Reg(rdx);
    Xbyak::Label zero, done;
    mov(a, word ? X32(in.rs1) : X(in.rs1));
    mov(d, word ? X32(in.rs2) : X(in.rs2));
    test(d, d);
    jz(zero, T_NEAR);
    if (is_signed) {
      Xbyak::Label normal;
      cmp(d, -1);
      jne(normal, T_NEAR);
      if (word) {
        cmp(eax, 0x80000000);
      } else {
        mov(rdx, INT64_MIN);
        cmp(rax, rdx);
      }
      jne(normal, T_NEAR);
      if (is_rem) xor_(eax, eax);  // the quotient is the dividend, already in a
      jmp(done, T_NEAR);
      L(normal);
      word ? cdq() : cqo();
      idiv(d);
    } else {
      xor_(edx, edx);
      div(d);
    }
    if (is_rem) mov(a, r);
    jmp(done, T_NEAR);
    L(zero);
    if (!is_rem) mov(rax, -1);  // the remainder is the dividend, already in a
    L(done);
  }

  void alu32(const Insn& in) {
    const int32_t imm = imm32(in.imm);
    const uint8_t sh = static_cast<uint8_t>(in.imm & 31);
    switch (in.op) {
      case Op::ADDIW: mov(eax, X32(in.rs1)); add(eax, imm); break;
      case Op::SLLIW: mov(eax, X32(in.rs1)); shl(eax, sh); break;
      case Op::SRLIW: mov(eax, X32(in.rs1)); shr(eax, sh); break;
      case Op::SRAIW: mov(eax, X32(in.rs1)); sar(eax, sh); break;
      case Op::ADDW: mov(eax, X32(in.rs1)); add(eax, X32(in.rs2)); break;
      case Op::SUBW: mov(eax, X32(in.rs1)); sub(eax, X32(in.rs2)); break;
      case Op::SLLW: case Op::SRLW: case Op::SRAW:  // a 32-bit count is masked to 5 bits
        mov(ecx, X32(in.rs2));
        mov(eax, X32(in.rs1));
        if (in.op == Op::SLLW) shl(eax, cl); else if (in.op == Op::SRLW) shr(eax, cl); else sar(eax, cl);
        break;
      case Op::MULW: mov(eax, X32(in.rs1)); imul(eax, X32(in.rs2)); break;
      default: divide(in, true); break;
    }
    set_rd_eax_sext(in);
  }

  const JitCode::Runtime rt_;
  bool (*load_slow_)(Hart*, uint64_t, uint64_t, uint64_t*);
  int (*store_slow_)(Hart*, uint64_t, uint64_t, uint64_t);
  int (*amo_)(Hart*, const Insn*);
  Xbyak::Label body_, loop_;
  static constexpr unsigned kCached = 4;
  static inline const Xbyak::Reg64 kCache64[kCached] = {Xbyak::util::r9, Xbyak::util::r10, Xbyak::util::r11,
                                                        Xbyak::util::r8};
  static inline const Xbyak::Reg32 kCache32[kCached] = {Xbyak::util::r9d, Xbyak::util::r10d, Xbyak::util::r11d,
                                                        Xbyak::util::r8d};
  int cache_[kSinkReg + 1] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                              -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
  std::vector<unsigned> cached_;
  unsigned written_ = 0, dirty_ = 0;  // bits of cache slots: write_back
  std::vector<Xbyak::Address> mem64_, mem32_;
  uint32_t count_ = 0;  // the block's instructions
  size_t link_offset_ = 0, cold_offset_ = 0;
  const uint8_t* host_ = nullptr;
  unsigned page_offset_ = 0;
  bool has_memory_ = false;  // the block has loads or stores, so maybe slow paths
  std::deque<SlowPath> slow_;  // out-of-line paths, emitted after the block (stable addresses: labels)
  std::deque<Site> sites_;
  std::vector<uint8_t*> ics_;
  size_t ic_next_ = 0;
  std::deque<IcMiss> ic_misses_;
  const uint64_t* epoch_;
};

}  // namespace

bool Hart::jit_layout_ok() const {
  return reinterpret_cast<const char*>(&attention_) == reinterpret_cast<const char*>(&stop_) + 1;
}

void Hart::set_engine(Engine e) {
#if defined(__x86_64__)
  jit_on_ = e == Engine::kJit;
  if (jit_on_ && !jit_layout_ok()) {
    std::fprintf(stderr, "tandem: the translator cannot run on this build: Hart::attention_ does not follow stop_\n");
    std::abort();
  }
#else
  jit_on_ = false;
  (void)e;
#endif
  if (!jit_on_) jit_forget_all();  // the interpreter alone from here on
}

bool Hart::jit_load_slow(Hart* h, uint64_t va, uint64_t size, uint64_t* out) {
  return h->load_slow(va, static_cast<unsigned>(size), out);
}

int Hart::jit_store_slow(Hart* h, uint64_t va, uint64_t size, uint64_t v) {
  return h->store_slow_status(va, static_cast<unsigned>(size), v);
}

// exec.cc's op_AMO: a trap (1), or the block dropped under it (2).
int Hart::jit_amo(Hart* h, const Insn* in) {
  if (!h->exec_amo(*in)) return 1;
  return h->cur_block_dead_ ? 2 : 0;
}

size_t Hart::jit_code_bytes() const { return jit_code_ ? jit_code_->used() : 0; }
uint64_t Hart::jit_links_made() const { return jit_code_ ? jit_code_->links_made() : 0; }
uint64_t Hart::jit_links_undone() const { return jit_code_ ? jit_code_->links_undone() : 0; }

void Hart::set_jit_code_size(size_t bytes) {
  jit_forget_all();
  jit_code_ = std::make_unique<JitCode>(bytes);
}

void Hart::jit_forget_all() {
  for (BlockSlot& slot : table_)
    if (slot.gpa != kNoVpn) slot.block->jit = nullptr;
  for (Block* b : dead_) b->jit = nullptr;
  if (jit_code_) jit_code_->clear();
}

// Called at a block entry, outside any translated code, so the code
// memory may be emptied here.
bool Hart::jit_translate(Block* b) {
  static_assert(Common::kExitEnd == kJitEnd && Common::kExitTrap == kJitTrap && Common::kExitSmc == kJitSmc);
  static_assert(sizeof(TlbEntry) == 16 && kTlbSize == 256, "tlb_lookup's index arithmetic");
  for (uint32_t k = 0; k < b->count; ++k)
    if (!translatable(b->insns[k].op)) return false;
  if (!jit_code_) jit_code_ = std::make_unique<JitCode>();
  if (!jit_code_->ok()) return false;
  // The END marker too, when the last instruction does not end the block.
  const size_t n = b->count > 0 && ends_block(b->insns[b->count - 1].op) ? b->count : b->count + 1;
  auto field = [this](const void* p) {
    return static_cast<int>(static_cast<const char*>(p) - reinterpret_cast<const char*>(this));
  };
  static_assert(sizeof(JcEntry) == 16 && std::is_standard_layout_v<Block>);
  // end_checks reads stop_ and attention_ as one 16-bit word.
  static_assert(sizeof(stop_) == 1 && sizeof(attention_) == 1);
  if (!jit_layout_ok()) return false;  // set_engine refused it already
  const Layout l{field(&x_), field(&pc_), field(&tlb_r_), field(&tlb_w_), field(&instret_),
                 field(&sstc_countdown_), field(&attention_), field(&stop_), field(&mip_), field(&mip_ext_),
                 field(&sstc_stip_), field(&irq_mask_), field(&jc_), field(&tlb_x_), field(&cur_block_),
                 field(&cur_block_dead_), static_cast<int>(offsetof(Block, host)),
                 static_cast<int>(offsetof(Block, jit)), static_cast<int>(offsetof(Block, count)), kJcSize - 1};
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (jit_code_->used() == 0) {  // empty memory starts with the runtime
        RuntimeEmitter r(jit_code_->free_space(), jit_code_->free_bytes(), l);
        jit_code_->set_runtime(r.emit(jit_code_.get(), &link_site));
        jit_code_->commit(r.getSize());
        if (FILE* map = jit_code_->perf_map()) {
          std::fprintf(map, "%zx %zx jit_runtime\n", reinterpret_cast<uintptr_t>(r.getCode()), r.getSize());
          std::fflush(map);
        }
      }
      // The jalr caches first, so that the code's room ends before them.
      std::vector<uint8_t*> ics;
      for (size_t k = 0; k < n; ++k) {
        if (b->insns[k].op != Op::JALR) continue;
        uint8_t* ic = jit_code_->take_data(Common::kIcBytes);
        if (!ic) throw Xbyak::Error(Xbyak::ERR_CODE_IS_TOO_BIG);
        const uint64_t stale = *jit_code_->epoch() - 1;  // and every key is refused until the first fill
        std::memcpy(ic, &stale, sizeof stale);
        ics.push_back(ic);
      }
      Emitter e(jit_code_->free_space(), jit_code_->free_bytes(), l, jit_code_->runtime(), &jit_load_slow,
                &jit_store_slow, &jit_amo, std::move(ics), jit_code_->epoch());
      e.block(b->insns, n, b->count, b->host, static_cast<unsigned>(b->gpa & 0xfff), b);
      if (e.link_offset() != kLinkOffset) return false;  // cannot be: both instructions have rel32s
      b->jit = reinterpret_cast<JitFn>(const_cast<uint8_t*>(e.getCode()));
      jit_code_->commit(e.getSize());
      blocks_translated_++;
      if (FILE* map = jit_code_->perf_map()) {
        const auto at = reinterpret_cast<uintptr_t>(e.getCode());
        std::fprintf(map, "%zx %zx jit_%llx\n%zx %zx jit_%llx_slow\n", at, e.cold_offset(),
                     static_cast<unsigned long long>(b->gpa), at + e.cold_offset(), e.getSize() - e.cold_offset(),
                     static_cast<unsigned long long>(b->gpa));
        std::fflush(map);
      }
      return true;
    } catch (const Xbyak::Error&) {
      jit_forget_all();  // full: start again from empty memory
      jit_code_flushes_++;
    }
  }
  return false;
}

}  // namespace tandem::cpu
