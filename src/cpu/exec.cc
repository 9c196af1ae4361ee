// The interpreter core: the run loop, block lookup/decode and one handler
// per operation, dispatched by computed goto (GCC's labels as values).
// Interrupts, stop requests and the budget are looked at between blocks
// only; a block never crosses a page, so its fetch translation is checked
// once when entering it.
#include <bit>
#include <cstring>
#include <new>

#include "base/bytes.h"
#include "cpu/hart.h"
#include "cpu/jit_code.h"
#include "cpu/smp_sync.h"

namespace tandem::cpu {

namespace {
inline int64_t sext32(uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }
inline uint64_t orc_b(uint64_t v) {
  uint64_t r = 0;
  for (unsigned i = 0; i < 64; i += 8)
    if ((v >> i) & 0xff) r |= uint64_t{0xff} << i;
  return r;
}
}  // namespace

// --- blocks ---

Hart::Block* Hart::find_block(uint64_t pc) {
  uint64_t gpa;
  if (!translate(pc, Access::kFetch, &gpa)) {
    take_trap(exc_cause_, exc_tval_, pc);
    return nullptr;
  }
  if (!ram_.contains(gpa)) {  // no executable memory outside RAM
    take_trap(kInsnAccessFault, pc, pc);
    return nullptr;
  }
  uint8_t* host = ram_.prepare_read(gpa);
  TlbEntry& t = tlb_x_[(pc >> 12) & (kTlbSize - 1)];
  t.vpn = pc >> 12;
  t.addend = reinterpret_cast<uintptr_t>(host) - pc;
  if ((pc & 0xfff) == 0xffe && (host[0] & 3) == 3) return decode_crossing(pc);
  Block* b = table_find(gpa);
  if (!b && __builtin_expect(has_offered_.load(std::memory_order_acquire), 0)) {
    adopt_offered();
    b = table_find(gpa);
  }
  if (!b) b = decode_block(gpa, host);
  b->last_found = instret_;
  if (__builtin_expect(logging_, 0) && b->log_epoch != log_epoch_) {
    b->log_epoch = log_epoch_;
    if (block_log_.size() < kMaxBlockLog) block_log_.push_back(gpa);
  }
  JcEntry& j = jc_[(pc >> 1) & (kJcSize - 1)];
  j.vpc = pc;
  j.block = b;
  return b;
}

Hart::Block* Hart::decode_block(uint64_t gpa, const uint8_t* host) {
  // Decoded code must see every later write: the page is claimed before
  // its bytes are read (code_pages.cc); our stores then go through code
  // write entries, which check the decoded halfwords, and the peers'
  // through the slow path.
  if (const uint64_t page_gpa = gpa & ~uint64_t{0xfff}; !code_pages_.count(page_gpa))
    claim_code_pages({&page_gpa, 1});
  Insn insns[kMaxBlockInsns + 1];
  uint32_t count, bytes;
  const size_t n = decode_insns(gpa, host, insns, &count, &bytes);
  Block* b = init_block(::operator new(block_size(n)), gpa, insns, n, count, bytes, false);
  b->host = host;
  register_block(b);
  blocks_decoded_++;
  return b;
}

// Decodes the block starting at `gpa` from `bytes` (its bytes up to the
// page end, or at least the block's longest possible length) into `out`
// (kMaxBlockInsns + 1 entries): returns the entries written, the END
// marker included when the block does not end with a block-ending
// instruction. Touches no hart state: predecode.cc calls it from other
// threads.
size_t Hart::decode_insns(uint64_t gpa, const uint8_t* bytes, Insn* out, uint32_t* count,
                          uint32_t* len) {
  size_t n = 0;
  uint32_t off = 0;
  const uint32_t start = gpa & 0xfff;
  for (;;) {
    const uint32_t pofs = start + off;
    if (pofs >= 0x1000 || n == kMaxBlockInsns) break;
    uint32_t raw;
    if (pofs == 0xffe) {
      raw = load_le<uint16_t>(bytes + off);
      if ((raw & 3) == 3) break;  // crosses the page: runs alone later
    } else {
      raw = load_le<uint32_t>(bytes + off);
    }
    Insn& in = out[n++];
    decode(raw, &in);
    in.off = static_cast<uint16_t>(off);
    off += in.len;
    if (ends_block(in.op)) {
      *count = static_cast<uint32_t>(n);
      *len = off;
      return n;
    }
  }
  *count = static_cast<uint32_t>(n);
  *len = off;
  Insn& end = out[n++];
  end = Insn{};
  end.op = Op::END;
  end.off = static_cast<uint16_t>(off);
  return n;
}

// A block and its instructions are one allocation (the instructions right
// behind the header): one malloc per decoded block, one cache line fewer
// per block entry.
Hart::Block* Hart::init_block(void* mem, uint64_t gpa, const Insn* insns, size_t n, uint32_t count,
                              uint32_t bytes, bool pooled) {
  auto* b = new (mem) Block;
  b->gpa = gpa;
  b->host = nullptr;
  b->count = count;
  b->bytes = bytes;
  b->log_epoch = 0;
  b->last_found = 0;
  b->pooled = pooled;
  b->heat = 0;
  b->jit = nullptr;
  b->insns = reinterpret_cast<Insn*>(reinterpret_cast<uint8_t*>(mem) + sizeof(Block));
  std::memcpy(static_cast<void*>(b->insns), insns, n * sizeof(Insn));
  return b;
}

void Hart::free_block(Block* b) {
  if (!b->pooled) ::operator delete(b);  // pooled: freed with its pool (predecode.cc)
}

// A 32-bit instruction whose upper half lies on the next page: both
// halves are fetched through the MMU each time and it runs as a block of
// its own that is never cached.
Hart::Block* Hart::decode_crossing(uint64_t pc) {
  const TlbEntry& t = tlb_x_[(pc >> 12) & (kTlbSize - 1)];
  uint32_t lo = load_le<uint16_t>(reinterpret_cast<const void*>(t.addend + pc));
  uint64_t next = pc + 2, gpa2;
  if (!translate(next, Access::kFetch, &gpa2)) {
    take_trap(exc_cause_, exc_tval_, pc);
    return nullptr;
  }
  if (!ram_.contains(gpa2, 2)) {
    take_trap(kInsnAccessFault, next, pc);
    return nullptr;
  }
  uint32_t hi = load_le<uint16_t>(ram_.prepare_read(gpa2));
  Insn insns[2];
  decode(lo | (hi << 16), &insns[0]);
  insns[0].off = 0;
  insns[1] = Insn{};
  insns[1].op = Op::END;
  insns[1].off = 4;
  const size_t n = ends_block(insns[0].op) ? 1 : 2;
  if (!crossing_) crossing_ = ::operator new(block_size(2));
  const uint64_t gpa = t.addend + pc - reinterpret_cast<uintptr_t>(ram_.host()) + ram_.base();
  return init_block(crossing_, gpa, insns, n, 1, 4, false);
}

void Hart::drop_all_blocks() {
  for (BlockSlot& slot : table_) {
    if (slot.gpa == kNoVpn) continue;
    if (slot.block == cur_block_) cur_block_dead_ = true;
    dead_.push_back(slot.block);
    slot = {kNoVpn, nullptr};
  }
  table_used_ = 0;
  if (!dead_.empty()) attention_.fetch_or(kAttnDead, std::memory_order_relaxed);
  code_pages_.clear();
  for (auto& set : tlb_code_w_)  // they point into the CodePages
    for (auto& e : set) e.vpn = kNoVpn;
  for (auto& j : jc_) {
    j.vpc = kNoVpn;
    j.block = nullptr;
  }
  if (jit_code_) jit_code_->unlink_all();  // no translation may jump to a dead one
}

Hart::Block* Hart::table_find(uint64_t gpa) const {
  const size_t mask = table_.size() - 1;
  for (size_t k = table_slot(gpa);; k = (k + 1) & mask) {
    const BlockSlot& slot = table_[k];
    if (slot.gpa == gpa) return slot.block;
    if (slot.gpa == kNoVpn) return nullptr;
  }
}

void Hart::table_insert(uint64_t gpa, Block* b) {
  if (2 * (table_used_ + 1) > table_.size()) {  // keep the load under 1/2
    std::vector<BlockSlot> old(table_.size() * 2, BlockSlot{kNoVpn, nullptr});
    old.swap(table_);
    table_shift_--;
    table_used_ = 0;
    for (const BlockSlot& slot : old)
      if (slot.gpa != kNoVpn) table_insert(slot.gpa, slot.block);
  }
  const size_t mask = table_.size() - 1;
  size_t k = table_slot(gpa);
  while (table_[k].gpa != kNoVpn && table_[k].gpa != gpa) k = (k + 1) & mask;
  if (table_[k].gpa == kNoVpn) table_used_++;
  table_[k] = {gpa, b};
}

void Hart::table_reserve(size_t blocks) { use_block_table(make_block_table(blocks)); }

Hart::BlockTable Hart::make_block_table(size_t blocks) {
  size_t size = kFirstTableSize;
  while (2 * blocks > size) size *= 2;  // load at most 1/2
  BlockTable t;
  t.slots_.assign(size, BlockSlot{kNoVpn, nullptr});
  return t;
}

// Only ever grows the table; the blocks already in it move over.
void Hart::use_block_table(BlockTable&& table) {
  if (table.slots_.size() <= table_.size()) return;
  std::vector<BlockSlot> old = std::move(table.slots_);
  old.swap(table_);
  table_shift_ = 64 - static_cast<unsigned>(std::countr_zero(table_.size()));
  table_used_ = 0;
  for (const BlockSlot& slot : old)
    if (slot.gpa != kNoVpn) table_insert(slot.gpa, slot.block);
}

// Linear probing deletion without tombstones: later entries of the probe
// run move back into the hole when their home slot allows it.
void Hart::table_erase(uint64_t gpa) {
  const size_t mask = table_.size() - 1;
  size_t k = table_slot(gpa);
  while (table_[k].gpa != gpa) {
    if (table_[k].gpa == kNoVpn) return;
    k = (k + 1) & mask;
  }
  size_t hole = k;
  for (size_t j = (hole + 1) & mask; table_[j].gpa != kNoVpn; j = (j + 1) & mask) {
    const size_t home = table_slot(table_[j].gpa);
    // Move j into the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!stays) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = {kNoVpn, nullptr};
  table_used_--;
}

void Hart::free_dead_blocks() {
  for (auto& j : jc_)
    if (j.block && j.block->host == nullptr) {  // dropped by unregister_blocks
      j.vpc = kNoVpn;
      j.block = nullptr;
    }
  for (Block* b : dead_) free_block(b);
  dead_.clear();
  attention_.fetch_and(static_cast<uint8_t>(~kAttnDead), std::memory_order_relaxed);
}

// --- the run loop ---

StopReason Hart::run(uint64_t budget) {
  static const void* const kLabels[] = {
#define TANDEM_OP_LABEL(name) &&op_##name,
      TANDEM_OPS(TANDEM_OP_LABEL)
#undef TANDEM_OP_LABEL
  };
  static_assert(sizeof kLabels / sizeof kLabels[0] == static_cast<size_t>(Op::kCount));

  // With harts on threads: executing from here to every return
  // (cpu/smp_sync.h), and between blocks only where it pauses.
  struct Executing {
    SmpSync* sync;
    explicit Executing(SmpSync* s) : sync(s) {
      if (sync) sync->exec_start();
    }
    ~Executing() {
      if (sync) sync->exec_end();
    }
  } executing(sync_);
  uint64_t target = instret_ + budget < instret_ ? UINT64_MAX : instret_ + budget;
  uint64_t* const x = x_;
  unsigned pauses = 0;
  update_sstc();
  sstc_countdown_ = 256;

#define NEXT                                          \
  do {                                                \
    ++i;                                              \
    goto* kLabels[static_cast<unsigned>(i->op)];      \
  } while (0)
#define PC (bpc + i->off)
#define NEXT_PC (bpc + i->off + i->len)
#define RS1 x[i->rs1]
#define RS2 x[i->rs2]
#define RD x[i->rd]
#define LOAD(T, conv)                                            \
  do {                                                           \
    T v_;                                                        \
    if (!load<T>(RS1 + i->imm, &v_)) goto trap;                  \
    RD = conv(v_);                                               \
    NEXT;                                                        \
  } while (0)
#define STORE(T, value)                                          \
  do {                                                           \
    int r_ = store<T>(RS1 + i->imm, static_cast<T>(value));      \
    if (__builtin_expect(r_ != 0, 0)) {                          \
      if (r_ == 1) goto trap;                                    \
      goto smc_exit;                                             \
    }                                                            \
    NEXT;                                                        \
  } while (0)
#define BRANCH(cond)                                             \
  do {                                                           \
    pc_ = (cond) ? PC + i->imm : NEXT_PC;                        \
    CHAIN();                                                     \
  } while (0)
#define ILLEGAL_INSN()                                           \
  do {                                                           \
    fault(kIllegalInsn, i->raw);                                 \
    goto trap;                                                   \
  } while (0)

  // Enters block b (bpc, i set): its translation if it has one.
#define ENTER_BLOCK()                                            \
  do {                                                           \
    if (b->jit) goto run_jit;                                    \
    if (__builtin_expect(jit_on_, 0)) goto warm_block;           \
    goto* kLabels[static_cast<unsigned>(i->op)];                 \
  } while (0)

  // Ends a block that jumps: when nothing needs attention and the target
  // block is in the jump cache, enter it directly. Each terminator has its
  // own copy of the final indirect jump, which predicts better than one
  // shared dispatch point.
#define CHAIN()                                                                              \
  do {                                                                                       \
    instret_ += b->count;                                                                    \
    /* Exactly one tick per block end, whichever way the next block is   */                \
    /* entered, so when stimecmp is looked at depends only on the        */                 \
    /* instruction stream (not on TLB or jump-cache hits): --icount runs */                 \
    /* stay reproducible across TLB flushes from snapshots and tracking. */                 \
    --sstc_countdown_;                                                                       \
    const uint64_t npc_ = pc_;                                                               \
    const JcEntry& j_ = jc_[(npc_ >> 1) & (kJcSize - 1)];                                    \
    const TlbEntry& t_ = tlb_x_[(npc_ >> 12) & (kTlbSize - 1)];                              \
    if (__builtin_expect(instret_ < target && sstc_countdown_ > 0 &&                         \
                             !attention_.load(std::memory_order_relaxed) &&                 \
                             !stop_.load(std::memory_order_relaxed) &&                      \
                             ((mip_ | mip_ext_.load(std::memory_order_relaxed) | sstc_stip_) & \
                              irq_mask_) == 0 &&                                             \
                             j_.vpc == npc_ && t_.vpn == (npc_ >> 12) &&                     \
                             j_.block->host == reinterpret_cast<const uint8_t*>(t_.addend + npc_), \
                         1)) {                                                               \
      b = j_.block;                                                                          \
      bpc = npc_;                                                                            \
      i = b->insns;                                                                          \
      cur_block_ = b;                                                                        \
      cur_block_dead_ = false;                                                               \
      ENTER_BLOCK();                                                                         \
    }                                                                                        \
    ++sstc_countdown_; /* loop_top counts this block end */                                  \
    goto loop_top;                                                                           \
  } while (0)

  Block* b = nullptr;
  uint64_t bpc = 0;
  const Insn* i = nullptr;
  for (;;) {
  loop_top:
    if (__builtin_expect(attention_.load(std::memory_order_relaxed) != 0, 0)) attend();
    if (__builtin_expect(stop_.load(std::memory_order_relaxed), 0)) {
      stop_.store(false, std::memory_order_relaxed);
      return StopReason::kStopRequested;
    }
    if (__builtin_expect(instret_ >= target, 0)) return StopReason::kBudget;
    if (__builtin_expect(--sstc_countdown_ <= 0, 0)) {
      sstc_countdown_ = 256;
      update_sstc();
    }
    if (__builtin_expect(((mip_ | mip_ext_.load(std::memory_order_relaxed) | sstc_stip_) & irq_mask_) != 0, 0))
      take_pending_interrupt();

    {
      const uint64_t pc = pc_;
      const JcEntry& j = jc_[(pc >> 1) & (kJcSize - 1)];
      const TlbEntry& t = tlb_x_[(pc >> 12) & (kTlbSize - 1)];
      if (__builtin_expect(j.vpc == pc && t.vpn == (pc >> 12) &&
                               j.block->host == reinterpret_cast<const uint8_t*>(t.addend + pc), 1)) {
        b = j.block;
      } else {
        jump_cache_misses_++;
        b = find_block(pc);
        if (!b) {
          // Fetch fault, trap taken. Nothing retired: charge the budget
          // anyway so that a trap vector that faults too cannot keep
          // run() from returning.
          if (target > 0) target--;
          continue;
        }
      }
    }
    bpc = pc_;
    i = b->insns;
    cur_block_ = b;
    cur_block_dead_ = false;
    ENTER_BLOCK();

  warm_block:
    // Engine::kJit only: hot blocks are translated once, at this entry.
    if (++b->heat == jit_threshold_ && jit_translate(b)) goto run_jit;
    goto* kLabels[static_cast<unsigned>(i->op)];
  run_jit: {
    // The translation runs the block's instructions, and the translated
    // blocks it chains to as CHAIN would; the bookkeeping of the last
    // block's end is the interpreter's own.
    const uint64_t r = b->jit(this, bpc, target);
    jit_entries_++;
    b = cur_block_;
    bpc = pc_;
    i = b->insns + (r >> 2);
    if (__builtin_expect((r & 3) == kJitEnd, 1)) CHAIN();
    if ((r & 3) == kJitTrap) {
      jit_exits_trap_++;
      goto trap;
    }
    jit_exits_smc_++;
    goto smc_exit;
  }

  op_ILLEGAL:
    ILLEGAL_INSN();
  op_END:
    pc_ = PC;
    CHAIN();
  op_NOP:
  op_FENCE:
    NEXT;

  op_LUI: RD = i->imm; NEXT;
  op_AUIPC: RD = PC + i->imm; NEXT;
  op_JAL:
    RD = NEXT_PC;
    pc_ = PC + i->imm;
    CHAIN();
  op_JALR: {
    uint64_t t = (RS1 + i->imm) & ~uint64_t{1};
    RD = NEXT_PC;
    pc_ = t;
    CHAIN();
  }
  op_BEQ: BRANCH(RS1 == RS2);
  op_BNE: BRANCH(RS1 != RS2);
  op_BLT: BRANCH(static_cast<int64_t>(RS1) < static_cast<int64_t>(RS2));
  op_BGE: BRANCH(static_cast<int64_t>(RS1) >= static_cast<int64_t>(RS2));
  op_BLTU: BRANCH(RS1 < RS2);
  op_BGEU: BRANCH(RS1 >= RS2);

  op_LB: LOAD(int8_t, static_cast<int64_t>);
  op_LH: LOAD(int16_t, static_cast<int64_t>);
  op_LW: LOAD(int32_t, static_cast<int64_t>);
  op_LD: LOAD(uint64_t, static_cast<uint64_t>);
  op_LBU: LOAD(uint8_t, static_cast<uint64_t>);
  op_LHU: LOAD(uint16_t, static_cast<uint64_t>);
  op_LWU: LOAD(uint32_t, static_cast<uint64_t>);
  op_SB: STORE(uint8_t, RS2);
  op_SH: STORE(uint16_t, RS2);
  op_SW: STORE(uint32_t, RS2);
  op_SD: STORE(uint64_t, RS2);

  op_ADDI: RD = RS1 + i->imm; NEXT;
  op_SLTI: RD = static_cast<int64_t>(RS1) < i->imm; NEXT;
  op_SLTIU: RD = RS1 < static_cast<uint64_t>(i->imm); NEXT;
  op_XORI: RD = RS1 ^ i->imm; NEXT;
  op_ORI: RD = RS1 | i->imm; NEXT;
  op_ANDI: RD = RS1 & i->imm; NEXT;
  op_SLLI: RD = RS1 << i->imm; NEXT;
  op_SRLI: RD = RS1 >> i->imm; NEXT;
  op_SRAI: RD = static_cast<int64_t>(RS1) >> i->imm; NEXT;
  op_ADD: RD = RS1 + RS2; NEXT;
  op_SUB: RD = RS1 - RS2; NEXT;
  op_SLL: RD = RS1 << (RS2 & 63); NEXT;
  op_SLT: RD = static_cast<int64_t>(RS1) < static_cast<int64_t>(RS2); NEXT;
  op_SLTU: RD = RS1 < RS2; NEXT;
  op_XOR: RD = RS1 ^ RS2; NEXT;
  op_SRL: RD = RS1 >> (RS2 & 63); NEXT;
  op_SRA: RD = static_cast<int64_t>(RS1) >> (RS2 & 63); NEXT;
  op_OR: RD = RS1 | RS2; NEXT;
  op_AND: RD = RS1 & RS2; NEXT;
  op_ADDIW: RD = sext32(RS1 + i->imm); NEXT;
  op_SLLIW: RD = sext32(RS1 << i->imm); NEXT;
  op_SRLIW: RD = sext32(static_cast<uint32_t>(RS1) >> i->imm); NEXT;
  op_SRAIW: RD = static_cast<int64_t>(static_cast<int32_t>(RS1) >> i->imm); NEXT;
  op_ADDW: RD = sext32(RS1 + RS2); NEXT;
  op_SUBW: RD = sext32(RS1 - RS2); NEXT;
  op_SLLW: RD = sext32(RS1 << (RS2 & 31)); NEXT;
  op_SRLW: RD = sext32(static_cast<uint32_t>(RS1) >> (RS2 & 31)); NEXT;
  op_SRAW: RD = static_cast<int64_t>(static_cast<int32_t>(RS1) >> (RS2 & 31)); NEXT;

  // M extension (unprivileged spec 7.2: division by zero and overflow
  // give defined results, never traps).
  op_MUL: RD = RS1 * RS2; NEXT;
  op_MULH:
    RD = static_cast<uint64_t>((static_cast<__int128>(static_cast<int64_t>(RS1)) *
                                static_cast<__int128>(static_cast<int64_t>(RS2))) >> 64);
    NEXT;
  op_MULHSU:
    RD = static_cast<uint64_t>((static_cast<__int128>(static_cast<int64_t>(RS1)) *
                                static_cast<__int128>(RS2)) >> 64);
    NEXT;
  op_MULHU:
    RD = static_cast<uint64_t>((static_cast<unsigned __int128>(RS1) * RS2) >> 64);
    NEXT;
  op_DIV: {
    int64_t a = static_cast<int64_t>(RS1), d = static_cast<int64_t>(RS2);
    RD = d == 0 ? ~uint64_t{0} : (a == INT64_MIN && d == -1) ? static_cast<uint64_t>(a) : static_cast<uint64_t>(a / d);
    NEXT;
  }
  op_DIVU: RD = RS2 == 0 ? ~uint64_t{0} : RS1 / RS2; NEXT;
  op_REM: {
    int64_t a = static_cast<int64_t>(RS1), d = static_cast<int64_t>(RS2);
    RD = d == 0 ? static_cast<uint64_t>(a) : (a == INT64_MIN && d == -1) ? 0 : static_cast<uint64_t>(a % d);
    NEXT;
  }
  op_REMU: RD = RS2 == 0 ? RS1 : RS1 % RS2; NEXT;
  op_MULW: RD = sext32(RS1 * RS2); NEXT;
  op_DIVW: {
    int32_t a = static_cast<int32_t>(RS1), d = static_cast<int32_t>(RS2);
    RD = d == 0 ? ~uint64_t{0} : (a == INT32_MIN && d == -1) ? static_cast<int64_t>(a) : static_cast<int64_t>(a / d);
    NEXT;
  }
  op_DIVUW: {
    uint32_t a = static_cast<uint32_t>(RS1), d = static_cast<uint32_t>(RS2);
    RD = d == 0 ? ~uint64_t{0} : sext32(a / d);
    NEXT;
  }
  op_REMW: {
    int32_t a = static_cast<int32_t>(RS1), d = static_cast<int32_t>(RS2);
    RD = d == 0 ? static_cast<int64_t>(a) : (a == INT32_MIN && d == -1) ? 0 : static_cast<int64_t>(a % d);
    NEXT;
  }
  op_REMUW: {
    uint32_t a = static_cast<uint32_t>(RS1), d = static_cast<uint32_t>(RS2);
    RD = sext32(d == 0 ? a : a % d);
    NEXT;
  }

  op_LR:
  op_SC:
  op_AMO:
    if (!exec_amo(*i)) goto trap;
    if (__builtin_expect(cur_block_dead_, 0)) goto smc_exit;
    NEXT;

  op_FENCE_I:
    // Decoded blocks are already coherent with memory: every store that
    // overlaps decoded instructions (ours, checked against the page's
    // decoded halfwords; a device's through GuestMemory::write; a
    // page-table A/D update) invalidates the blocks it overlaps
    // (invalidate_code), which the spec allows (Zifencei: fetches may
    // observe stores earlier than fence.i requires). Dropping every block
    // here cost a Linux boot ~10 % in re-decoding.
    pc_ = NEXT_PC;
    goto block_done;
  op_ECALL:
    fault(kEcallU + priv_, 0);
    goto trap;
  op_EBREAK:
    fault(kBreakpoint, PC);
    goto trap;
  op_MRET:
    if (priv_ != kPrivM) ILLEGAL_INSN();
    exec_mret();
    goto block_done;
  op_SRET:
    if (priv_ == kPrivU || (priv_ == kPrivS && (mstatus_ & kMstatusTsr))) ILLEGAL_INSN();
    exec_sret();
    goto block_done;
  op_WFI:
    // Privileged spec 3.1.6.5: WFI traps in U, and in S when TW=1.
    if (priv_ == kPrivU || (priv_ == kPrivS && (mstatus_ & kMstatusTw))) ILLEGAL_INSN();
    pc_ = NEXT_PC;
    instret_ += b->count;
    update_sstc();
    if (!wfi_should_wake()) return StopReason::kWfi;
    continue;
  op_PAUSE:
    // A spin-wait loop's hint (Linux's cpu_relax). After a few, the run
    // ends so that a thread holding what this one waits for can run: a
    // count per run(), so where it ends depends only on the guest.
    pc_ = NEXT_PC;
    instret_ += b->count;
    if (++pauses == kPausesPerRun) {
      update_sstc();
      return StopReason::kPause;
    }
    continue;
  op_SFENCE_VMA:
    if (priv_ == kPrivU || (priv_ == kPrivS && (mstatus_ & kMstatusTvm))) ILLEGAL_INSN();
    // ASIDs are not cached separately, so only rs1 narrows the flush.
    if (i->rs1 != 0)
      flush_tlb_page(RS1);
    else
      flush_tlb();
    pc_ = NEXT_PC;
    goto block_done;
  op_CSR:
    cur_index_ = static_cast<uint64_t>(i - b->insns);
    if (!exec_csr(*i)) goto trap;
    pc_ = NEXT_PC;
    goto block_done;

  op_FLW: {
    if (!fs_enabled()) ILLEGAL_INSN();
    uint32_t v;
    if (!load<uint32_t>(RS1 + i->imm, &v)) goto trap;
    f_[i->rd] = 0xffffffff00000000ull | v;
    set_fs_dirty();
    NEXT;
  }
  op_FLD: {
    if (!fs_enabled()) ILLEGAL_INSN();
    uint64_t v;
    if (!load<uint64_t>(RS1 + i->imm, &v)) goto trap;
    f_[i->rd] = v;
    set_fs_dirty();
    NEXT;
  }
  op_FSW:
    if (!fs_enabled()) ILLEGAL_INSN();
    STORE(uint32_t, f_[i->rs2]);
  op_FSD:
    if (!fs_enabled()) ILLEGAL_INSN();
    STORE(uint64_t, f_[i->rs2]);
  op_FP:
    if (!exec_fp(*i)) goto trap;
    NEXT;

  // Zba
  op_SH1ADD: RD = (RS1 << 1) + RS2; NEXT;
  op_SH2ADD: RD = (RS1 << 2) + RS2; NEXT;
  op_SH3ADD: RD = (RS1 << 3) + RS2; NEXT;
  op_ADD_UW: RD = static_cast<uint32_t>(RS1) + RS2; NEXT;
  op_SH1ADD_UW: RD = (static_cast<uint64_t>(static_cast<uint32_t>(RS1)) << 1) + RS2; NEXT;
  op_SH2ADD_UW: RD = (static_cast<uint64_t>(static_cast<uint32_t>(RS1)) << 2) + RS2; NEXT;
  op_SH3ADD_UW: RD = (static_cast<uint64_t>(static_cast<uint32_t>(RS1)) << 3) + RS2; NEXT;
  op_SLLI_UW: RD = static_cast<uint64_t>(static_cast<uint32_t>(RS1)) << i->imm; NEXT;
  // Zbb
  op_ANDN: RD = RS1 & ~RS2; NEXT;
  op_ORN: RD = RS1 | ~RS2; NEXT;
  op_XNOR: RD = ~(RS1 ^ RS2); NEXT;
  op_CLZ: RD = std::countl_zero(RS1); NEXT;
  op_CLZW: RD = std::countl_zero(static_cast<uint32_t>(RS1)); NEXT;
  op_CTZ: RD = std::countr_zero(RS1); NEXT;
  op_CTZW: RD = std::countr_zero(static_cast<uint32_t>(RS1)); NEXT;
  op_CPOP: RD = std::popcount(RS1); NEXT;
  op_CPOPW: RD = std::popcount(static_cast<uint32_t>(RS1)); NEXT;
  op_MAX: RD = static_cast<int64_t>(RS1) > static_cast<int64_t>(RS2) ? RS1 : RS2; NEXT;
  op_MAXU: RD = RS1 > RS2 ? RS1 : RS2; NEXT;
  op_MIN: RD = static_cast<int64_t>(RS1) < static_cast<int64_t>(RS2) ? RS1 : RS2; NEXT;
  op_MINU: RD = RS1 < RS2 ? RS1 : RS2; NEXT;
  op_SEXT_B: RD = static_cast<int64_t>(static_cast<int8_t>(RS1)); NEXT;
  op_SEXT_H: RD = static_cast<int64_t>(static_cast<int16_t>(RS1)); NEXT;
  op_ZEXT_H: RD = static_cast<uint16_t>(RS1); NEXT;
  op_ROL: RD = std::rotl(RS1, static_cast<int>(RS2 & 63)); NEXT;
  op_ROLW: RD = sext32(std::rotl(static_cast<uint32_t>(RS1), static_cast<int>(RS2 & 31))); NEXT;
  op_ROR: RD = std::rotr(RS1, static_cast<int>(RS2 & 63)); NEXT;
  op_RORI: RD = std::rotr(RS1, static_cast<int>(i->imm)); NEXT;
  op_RORIW: RD = sext32(std::rotr(static_cast<uint32_t>(RS1), static_cast<int>(i->imm))); NEXT;
  op_RORW: RD = sext32(std::rotr(static_cast<uint32_t>(RS1), static_cast<int>(RS2 & 31))); NEXT;
  op_ORC_B: RD = orc_b(RS1); NEXT;
  op_REV8: RD = __builtin_bswap64(RS1); NEXT;
  // Zbs
  op_BCLR: RD = RS1 & ~(uint64_t{1} << (RS2 & 63)); NEXT;
  op_BCLRI: RD = RS1 & ~(uint64_t{1} << i->imm); NEXT;
  op_BEXT: RD = (RS1 >> (RS2 & 63)) & 1; NEXT;
  op_BEXTI: RD = (RS1 >> i->imm) & 1; NEXT;
  op_BINV: RD = RS1 ^ (uint64_t{1} << (RS2 & 63)); NEXT;
  op_BINVI: RD = RS1 ^ (uint64_t{1} << i->imm); NEXT;
  op_BSET: RD = RS1 | (uint64_t{1} << (RS2 & 63)); NEXT;
  op_BSETI: RD = RS1 | (uint64_t{1} << i->imm); NEXT;

  block_done:
    instret_ += b->count;
    continue;
  smc_exit:
    // A store rewrote this block's code (or a device did, during MMIO):
    // end the block after the store so the next instruction is decoded
    // afresh.
    pc_ = NEXT_PC;
    instret_ += static_cast<uint64_t>(i - b->insns) + 1;
    continue;
  trap:
    instret_ += static_cast<uint64_t>(i - b->insns);
    take_trap(exc_cause_, exc_tval_, PC);
    continue;
  }
#undef NEXT
#undef CHAIN
#undef PC
#undef NEXT_PC
#undef RS1
#undef RS2
#undef RD
#undef LOAD
#undef STORE
#undef BRANCH
#undef ILLEGAL_INSN
#undef ENTER_BLOCK
}

}  // namespace tandem::cpu
