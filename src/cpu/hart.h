// One RV64GC hart (M, S and U modes; Sv39/Sv48): an interpreter over
// blocks of predecoded instructions, with a software TLB holding host
// pointers. Privileged spec v1.12, unprivileged spec 20191213.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/irq.h"
#include "base/result.h"
#include "cpu/decode.h"
#include "mem/guest_memory.h"
#include "mem/phys_bus.h"

namespace tandem::cpu {

// kPause: the hart ran kPausesPerRun PAUSE hints in this run (it spins
// on a lock, say): its thread may give the host CPU to another.
enum class StopReason { kBudget, kWfi, kStopRequested, kPause };
inline constexpr unsigned kPausesPerRun = 64;

// How a hart executes: the interpreter (the reference), or the
// interpreter plus a translator of hot blocks to x86-64 (jit.cc).
enum class Engine : uint8_t { kInterp, kJit };

class JitCode;
class SmpSync;

enum Priv : uint8_t { kPrivU = 0, kPrivS = 1, kPrivM = 3 };

// Guest-visible state of the hart, nothing derived (no TLB, no decoded
// blocks, no interrupt levels driven by devices).
struct HartState {
  uint64_t x[32];
  uint64_t f[32];
  uint64_t pc;
  uint64_t priv;
  uint64_t hartid;
  uint64_t instret;  // also mcycle/cycle
  uint64_t mstatus;  // without SD (computed on read)
  uint64_t medeleg, mideleg, mie;
  uint64_t mip;  // software-writable bits only (SSIP, STIP, SEIP)
  uint64_t mtvec, mscratch, mepc, mcause, mtval;
  uint64_t mcounteren, mcountinhibit, menvcfg;
  uint64_t stvec, sscratch, sepc, scause, stval, scounteren, senvcfg, satp;
  uint64_t stimecmp;
  uint64_t fcsr;  // frm << 5 | fflags
  uint64_t pmpcfg[8];  // pmpcfg0, 2, ..., 14
  uint64_t pmpaddr[64];
  uint64_t reservation_addr;
  uint64_t reservation_value;
  uint64_t reservation_valid;
  bool operator==(const HartState&) const = default;
};

// Exception causes (privileged spec table 3.6).
enum Cause : uint64_t {
  kInsnMisaligned = 0, kInsnAccessFault = 1, kIllegalInsn = 2, kBreakpoint = 3,
  kLoadMisaligned = 4, kLoadAccessFault = 5, kStoreMisaligned = 6, kStoreAccessFault = 7,
  kEcallU = 8, kEcallS = 9, kEcallM = 11,
  kInsnPageFault = 12, kLoadPageFault = 13, kStorePageFault = 15,
};
inline constexpr uint64_t kInterruptBit = uint64_t{1} << 63;

// Threads: everything runs on the hart's thread (the vCPU thread, or with
// an SmpSync one thread per hart) except set_irq(), request_stop() and
// request_pause(), which any thread may call. MemoryListener callbacks
// come from GuestMemory on the hart's thread (CPU stores, device DMA
// during MMIO, re-arming while the hart is stopped) or, with an SmpSync,
// from another hart's thread within an exclusive section;
// invalidate_code() may arrive while a block it drops executes, so dropped
// blocks are freed only between blocks.
class Hart : public IrqSink, public mem::MemoryListener {
 public:
  Hart(mem::PhysBus& bus, const Clock& clock, uint64_t hartid);
  ~Hart() override;
  Hart(const Hart&) = delete;
  Hart& operator=(const Hart&) = delete;

  void reset(uint64_t pc);
  uint64_t reg(unsigned i) const { return i < 32 ? x_[i] : 0; }
  void set_reg(unsigned i, uint64_t v) {
    if (i > 0 && i < 32) x_[i] = v;
  }
  uint64_t freg(unsigned i) const { return f_[i & 31]; }
  void set_freg(unsigned i, uint64_t v) { f_[i & 31] = v; }
  uint64_t pc() const { return pc_; }
  void set_pc(uint64_t pc) { pc_ = pc; }
  unsigned priv() const { return priv_; }
  uint64_t instret() const { return instret_; }
  uint64_t hartid() const { return hartid_; }

  StopReason run(uint64_t budget);
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  // Waits at the next block boundary until an exclusive section ends
  // (cpu/smp_sync.h); a hart not running now pauses needlessly once.
  void request_pause() { attention_.fetch_or(kAttnPause, std::memory_order_relaxed); }

  // --- SMP (docs/architecture.md, "SMP") ---
  // The machine's other harts, which share its memory. Code one hart
  // decoded must see the others' stores: a hart that starts holding code
  // in a page drops the peers' store shortcuts (write TLB entries) to it,
  // and no hart installs one to a page where a peer holds code, so such
  // stores take the slow path, where GuestMemory::prepare_write has every
  // hart drop the blocks they overlap. vCPU thread, with no hart running.
  void set_peers(std::vector<Hart*> peers) { peers_ = std::move(peers); }
  // Harts on host threads of their own share `sync` (null: one thread
  // runs every hart). Before the first run().
  void set_smp_sync(SmpSync* sync) { sync_ = sync; }
  // Whether the hart holds decoded blocks from the page at `page_gpa`.
  bool holds_code(uint64_t page_gpa) const { return code_pages_.count(page_gpa) != 0; }
  // The hart is switched out for another: its LR reservation is lost, as
  // the others may store to the reserved address before it runs again
  // (unprivileged spec 8.2 lets an SC fail for any reason).
  void drop_reservation() { res_valid_ = false; }

  void set_irq(unsigned line, bool level) override;
  // Bumped and notified (std::atomic wait/notify) at every set_irq, so a
  // thread waiting for a hart in WFI to wake can sleep on it (null: none).
  void set_irq_event(std::atomic<uint32_t>* event) { irq_event_ = event; }
  bool wfi_should_wake() const;
  uint64_t stimecmp_deadline() const;

  // CSR access as an instruction at the current privilege would do it
  // (for tests and debugging): false if it would trap.
  bool read_csr(unsigned csr, uint64_t* value);
  bool write_csr(unsigned csr, uint64_t value);

  HartState save() const;
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const HartState& s) const;
  // Also drops every cache (TLB, decoded blocks, the jump cache), so a
  // hart that ran since it was built ends up as a fresh one restored.
  Status restore(const HartState& s);

  void flush_tlb() override;
  bool invalidate_code(uint64_t gpa, uint64_t len) override;
  void drop_code() override { drop_all_blocks(); }

  // The translator (jit.cc) is used only where it can run: an x86-64
  // host with its code memory mapped. Any thread while the hart is
  // stopped.
  // Asking for the translator on a hart whose layout it cannot use
  // (jit_layout_ok) ends the program rather than quietly interpreting.
  void set_engine(Engine e);
  // attention_ right after stop_ (a runtime test: Hart is not
  // standard-layout); HartJit.LayoutIsTheTranslators asserts it.
  bool jit_layout_ok() const;
  Engine engine() const { return jit_on_ ? Engine::kJit : Engine::kInterp; }
  // Entries of a block before it is translated (tests: 1 translates every
  // block at its first entry).
  void set_jit_threshold(uint32_t entries) { jit_threshold_ = std::max<uint32_t>(entries, 1); }
  // The size of the translations' memory (default JitCode::kSize; tests:
  // a small one, emptied again and again).
  void set_jit_code_size(size_t bytes);

  // Statistics for tests and benchmarks.
  uint64_t blocks_decoded() const { return blocks_decoded_; }
  uint64_t blocks_translated() const { return blocks_translated_; }
  uint64_t jit_code_flushes() const { return jit_code_flushes_; }  // code memory emptied when full
  // Bytes of translated code in the code memory now (issue 16: a
  // kernel-heavy guest's translations average some 900 bytes a block).
  size_t jit_code_bytes() const;
  // Direct jumps between translations patched in, and undone since
  // (their target died, or all were undone), by the current code memory.
  uint64_t jit_links_made() const;
  uint64_t jit_links_undone() const;
  // Translations entered from the run loop (each chain of translated
  // blocks begins with one), and how many of those chains ended in a
  // trap or a store to code rather than at a block end.
  uint64_t jit_entries() const { return jit_entries_; }
  uint64_t jit_exits_trap() const { return jit_exits_trap_; }
  uint64_t jit_exits_smc() const { return jit_exits_smc_; }
  // Run-loop block look-ups the jump cache did not answer (find_block).
  uint64_t jump_cache_misses() const { return jump_cache_misses_; }
  uint64_t blocks_adopted() const { return blocks_adopted_; }

  // Decoding ahead (predecode.cc). A working-set restore warms the block
  // cache from another thread while the hart runs: the snapshot lists the
  // blocks the guest ran while it was being saved (the block log),
  // offer_blocks() decodes them, and the hart takes them in at its next
  // block-cache miss, each one only if memory still holds the bytes it was
  // decoded from, so a stale or wrong list costs time, never correctness.
  //
  // The block log: from start_block_log(), the guest-physical address of
  // each block the hart enters, once, in order of first entry (at most
  // kMaxBlockLog). vCPU thread, or while the hart is stopped.
  static constexpr size_t kMaxBlockLog = 1u << 16;
  void start_block_log();
  const std::vector<uint64_t>& block_log() const { return block_log_; }
  std::vector<uint64_t> take_block_log();
  // Up to `max` cached blocks not in the running block log, most recently
  // run first: what the guest ran before the log started (a request
  // served before the snapshot) and will likely run again. Recency is that
  // of the last jump-cache miss that found each block.
  std::vector<uint64_t> recent_blocks(size_t max) const;
  // Sizes the block cache for `blocks` blocks, so that filling it does not
  // rehash it step by step (a restore knows how many the guest will run).
  // In two steps, so that the costly one can run beside other work:
  // make_block_table on any thread (for a restored guest's 20,000 blocks
  // that is 1 MiB written, 0.5 ms of fresh-memory faults here), then
  // use_block_table on the vCPU thread, or while the hart is stopped.
  class BlockTable;
  static BlockTable make_block_table(size_t blocks);
  void use_block_table(BlockTable&& table);
  // Any thread. Decodes the blocks starting at `gpas` from a copy of their
  // bytes and queues them for the hart; addresses outside RAM, in pages
  // not loaded yet, or of an instruction crossing a page are skipped.
  // Returns how many were queued.
  size_t offer_blocks(std::span<const uint64_t> gpas);

 private:
  static constexpr unsigned kTlbBits = 8;
  static constexpr unsigned kTlbSize = 1u << kTlbBits;
  static constexpr unsigned kJcBits = 14;
  static constexpr unsigned kJcSize = 1u << kJcBits;
  static constexpr unsigned kMaxBlockInsns = 64;
  static constexpr uint64_t kNoVpn = ~uint64_t{0};
  // A translated block: runs the block from its first instruction at
  // virtual pc `bpc`, and the translated blocks it chains to while
  // instret_ stays below `target`, and returns a JitExit | index << 2
  // about cur_block_, the block it ended in (jit.cc).
  using JitFn = uint64_t (*)(Hart* h, uint64_t bpc, uint64_t target);
  enum JitExit : uint64_t {
    kJitEnd = 0,   // pc_ set by the block's end; the block not yet retired
    kJitTrap = 1,  // instruction `index` trapped (exc_cause_/exc_tval_); pc_ = the block's pc
    kJitSmc = 2,   // instruction `index`, a store, invalidated the block; pc_ as for kJitTrap
  };
  // Block entries before a block is translated: cold code (a boot, a
  // restored guest's first request) stays interpreted.
  static constexpr uint32_t kJitThreshold = 64;
  uint32_t jit_threshold_ = kJitThreshold;

  // Host address = addend + virtual address, valid while vpn matches.
  struct TlbEntry {
    uint64_t vpn;
    uintptr_t addend;
  };
  struct Block {
    uint64_t gpa;           // physical address of the first instruction
    const uint8_t* host;    // its host address
    uint32_t count;         // guest instructions (the END marker excluded)
    uint32_t bytes;
    uint32_t log_epoch;     // log_epoch_ when last put in the block log
    uint64_t last_found;    // instret_ when find_block() last returned it
    bool pooled;            // in an offered batch's pool, freed with it
    uint32_t heat;          // entries counted towards jit_threshold_
    JitFn jit;              // its translation, or null
    Insn* insns;            // right behind the header (init_block)
  };
  static size_t block_size(size_t insns) { return sizeof(Block) + insns * sizeof(Insn); }
  struct JcEntry {
    uint64_t vpc;
    Block* block;
  };
  enum class Access { kFetch, kLoad, kStore };
  // Data TLB sets: the effective privilege, with S split by SUM so that
  // the kernel toggling SUM around user copies does not flush anything.
  enum DataKey { kKeyU = 0, kKeyS = 1, kKeySSum = 2, kKeyM = 3 };

  // --- run loop pieces (exec.cc) ---
  Block* find_block(uint64_t pc);
  Block* decode_block(uint64_t gpa, const uint8_t* host);
  static size_t decode_insns(uint64_t gpa, const uint8_t* bytes, Insn* out, uint32_t* count,
                             uint32_t* len);
  static Block* init_block(void* mem, uint64_t gpa, const Insn* insns, size_t n, uint32_t count,
                           uint32_t bytes, bool pooled);
  static void free_block(Block* b);
  void register_block(Block* b);                        // code_pages.cc
  // Makes the hart hold code in these pages (gpa of each page), before it
  // reads their bytes to decode: marks them as code and drops every store
  // shortcut to them, its own and its peers', in one exclusive section.
  void claim_code_pages(std::span<const uint64_t> page_gpas);  // code_pages.cc
  // What request_pause() and dropped blocks ask of the run loop.
  void attend();
  void unregister_blocks(uint64_t gpa, uint64_t len);  // code_pages.cc
  void adopt_offered();
  Block* decode_crossing(uint64_t pc);
  void drop_all_blocks();
  void free_dead_blocks();

  // --- the translator (jit.cc) ---
  bool jit_translate(Block* b);
  void jit_forget_all();  // clears every Block::jit before the code memory is reused
  static bool jit_load_slow(Hart* h, uint64_t va, uint64_t size, uint64_t* out);
  static int jit_store_slow(Hart* h, uint64_t va, uint64_t size, uint64_t v);
  static int jit_amo(Hart* h, const Insn* in);

  // --- traps and interrupts (hart.cc) ---
  void take_trap(uint64_t cause, uint64_t tval, uint64_t epc);
  bool take_pending_interrupt();
  void update_irq_mask();
  void update_sstc();
  uint64_t effective_mip() const;
  void set_priv(unsigned p);
  void update_mode();
  void exec_mret();
  void exec_sret();

  // --- CSRs (csr.cc) ---
  // Returns false (illegal instruction) when access is not allowed.
  bool csr_read(unsigned csr, uint64_t* v);
  bool csr_write(unsigned csr, uint64_t v);
  bool csr_allowed(unsigned csr, bool write) const;
  void write_mstatus(uint64_t v);
  bool fs_enabled() const { return (mstatus_ & kMstatusFs) != 0; }
  void set_fs_dirty() { mstatus_ |= kMstatusFs; }

  // --- memory (mmu.cc) ---
  // Translates va for `acc`; on a fault sets exc_cause_/exc_tval_.
  bool translate(uint64_t va, Access acc, uint64_t* gpa);
  bool walk(uint64_t va, Access acc, unsigned eff_priv, uint64_t* gpa);
  // Slow paths; false means a trap is pending in exc_cause_/exc_tval_.
  bool load_slow(uint64_t va, unsigned size, uint64_t* out);
  bool store_slow(uint64_t va, unsigned size, uint64_t v);
  bool phys_load(uint64_t gpa, unsigned size, uint64_t* out);
  bool phys_store(uint64_t gpa, unsigned size, uint64_t v);
  // For AMOs/LR/SC: translated, aligned access with store permission.
  bool amo_translate(uint64_t va, unsigned size, Access acc, uint64_t* gpa);
  void fault(uint64_t cause, uint64_t tval) {
    exc_cause_ = cause;
    exc_tval_ = tval;
  }
  void flush_data_tlbs();
  // sfence.vma with an address: drops that page's entries, or everything
  // when the address may lie in a superpage the TLB holds pieces of.
  void flush_tlb_page(uint64_t va);
  void drop_write_entries_for(const uint8_t* host_page);
  void drop_write_entries_for(std::vector<const uint8_t*>& host_pages);  // sorts them
  void drop_code_write_entries(const uint64_t* halfwords);
  // Plain and code write entries whose host page is one of `host_pages`
  // (a peer started holding code there).
  void drop_store_entries_for(std::vector<const uint8_t*>& host_pages);  // sorts them
  // Device access (MMIO), under the I/O lock when harts have threads.
  bool bus_load(uint64_t gpa, unsigned size, uint64_t* out);
  bool bus_store(uint64_t gpa, unsigned size, uint64_t v);
  // Around a RAM write that may land in a page holding decoded code: with
  // harts on threads, the invalidation and the write happen in one
  // exclusive section (mem/guest_memory.h, set_code_write_exclusive).
  class CodeWriteScope;
  bool peer_holds_code(uint64_t page_gpa) const {
    return std::any_of(peers_.begin(), peers_.end(), [page_gpa](const Hart* p) { return p->holds_code(page_gpa); });
  }
  void install_write_entry(uint64_t va, uint64_t gpa, uint8_t* host);

  template <typename T>
  bool load(uint64_t va, T* out) {
    const TlbEntry& e = tlb_r_[(va >> 12) & (kTlbSize - 1)];
    if (__builtin_expect(e.vpn == (va >> 12) && (va & 0xfff) <= 0x1000 - sizeof(T), 1)) {
      __builtin_memcpy(out, reinterpret_cast<const void*>(e.addend + va), sizeof(T));
      return true;
    }
    uint64_t v;
    if (!load_slow(va, sizeof(T), &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  // Returns 0 on success, 1 on a trap, 2 when the store succeeded but
  // invalidated the executing block (self-modifying code). A miss tries
  // the code write TLB first (store_slow_status): checking it here, inline,
  // saved 4 % of host instructions with code and data in one page but
  // cost 1 % with them apart and 0.5 % on bench/cpu (callgrind).
  template <typename T>
  int store(uint64_t va, T v) {
    const TlbEntry& e = tlb_w_[(va >> 12) & (kTlbSize - 1)];
    if (__builtin_expect(e.vpn == (va >> 12) && (va & 0xfff) <= 0x1000 - sizeof(T), 1)) {
      __builtin_memcpy(reinterpret_cast<void*>(e.addend + va), &v, sizeof(T));
      return 0;
    }
    return store_slow_status(va, sizeof(T), v);
  }
  int store_slow_status(uint64_t va, unsigned size, uint64_t v);

  // --- decoded code per page (code_pages.cc) ---
  // For each page holding decoded blocks: the halfwords their instructions
  // cover (instructions are halfword aligned, IALIGN=16) and the blocks.
  // A store that overlaps no decoded halfword invalidates nothing, so code
  // and data may share a page at little cost (issue 16).
  static constexpr unsigned kHalfwordWords = mem::kPageSize / 2 / 64;
  struct CodePage {
    uint64_t halfwords[kHalfwordWords] = {};
    std::vector<Block*> blocks;
  };
  // A write TLB entry for a page holding code: after the page was
  // prepared for writing (as for any write entry), a store through it
  // lands directly only if it overlaps no decoded halfword; otherwise it
  // takes the slow path, which invalidates what it overlaps.
  struct CodeTlbEntry {
    uint64_t vpn;
    uintptr_t addend;
    const uint64_t* halfwords;  // its CodePage's, stable while the entry is valid
  };
  // The bits of word w that halfwords first..last (inclusive) cover.
  static uint64_t halfword_mask(uint64_t w, uint64_t first, uint64_t last) {
    const uint64_t lo = w == first >> 6 ? first & 63 : 0, hi = w == last >> 6 ? last & 63 : 63;
    return (~uint64_t{0} >> (63 - hi)) & (~uint64_t{0} << lo);
  }
  // Whether bytes [offset, offset + len) of a page overlap a set halfword.
  static bool overlaps_code(const uint64_t* halfwords, uint64_t offset, uint64_t len) {
    const uint64_t first = offset >> 1, last = (offset + len - 1) >> 1;
    for (uint64_t w = first >> 6; w <= last >> 6; ++w)
      if (halfwords[w] & halfword_mask(w, first, last)) return true;
    return false;
  }
  static void mark_halfwords(uint64_t* halfwords, uint64_t offset, uint64_t len);

  // --- instruction groups out of the fast path ---
  bool exec_amo(const Insn& in);         // LR, SC, AMO*
  template <typename F>
  bool amo_ram(uint64_t gpa, unsigned size, F f, bool* written);
  bool exec_csr(const Insn& in);
  bool exec_fp(const Insn& in);          // fp.cc
  bool fp_rm(unsigned rm_field, unsigned* rm);

  static constexpr uint64_t kMstatusSie = 1 << 1, kMstatusMie = 1 << 3, kMstatusSpie = 1 << 5,
                            kMstatusMpie = 1 << 7, kMstatusSpp = 1 << 8, kMstatusMpp = 3 << 11,
                            kMstatusFs = 3 << 13, kMstatusMprv = 1 << 17, kMstatusSum = 1 << 18,
                            kMstatusMxr = 1 << 19, kMstatusTvm = 1 << 20, kMstatusTw = 1 << 21,
                            kMstatusTsr = 1 << 22;
  static constexpr uint64_t kMstatusUxlSxl = (uint64_t{2} << 32) | (uint64_t{2} << 34);
  static constexpr uint64_t kMenvcfgStce = uint64_t{1} << 63;

  mem::PhysBus& bus_;
  mem::GuestMemory& ram_;
  const Clock& clock_;
  const uint64_t hartid_;

  // Architectural state (hot parts first).
  uint64_t x_[33];  // x_[32] is the write sink for x0
  uint64_t pc_ = 0;
  uint64_t instret_ = 0;
  TlbEntry* tlb_r_;
  TlbEntry* tlb_w_;
  TlbEntry* tlb_x_;
  CodeTlbEntry* tlb_cw_;  // write entries for pages holding code
  uint64_t irq_mask_ = 0;  // mie bits that would trap now (priv + global enables)
  uint64_t sstc_stip_ = 0;  // STIP as driven by stimecmp (menvcfg.STCE=1)
  uint64_t mip_ = 0;        // software-writable bits
  std::atomic<uint64_t> mip_ext_{0};  // MSIP, MTIP, MEIP, SEIP from devices
  std::atomic<bool> stop_{false};
  // Non-zero when the run loop must look between blocks: dead blocks to
  // free, a pause request, or an interrupt line raised (kAttnIrq, so that
  // translated code need not test mip_ext_ itself). The translator tests
  // it and stop_ as one 16-bit word, so it must follow stop_.
  static constexpr uint8_t kAttnDead = 1, kAttnPause = 2, kAttnIrq = 4;
  std::atomic<uint8_t> attention_{0};
  unsigned priv_ = kPrivM;
  uint64_t f_[32];
  uint64_t mstatus_ = 0;
  uint64_t medeleg_ = 0, mideleg_ = 0, mie_ = 0;
  uint64_t mtvec_ = 0, mscratch_ = 0, mepc_ = 0, mcause_ = 0, mtval_ = 0;
  uint64_t mcounteren_ = 0, mcountinhibit_ = 0, menvcfg_ = 0;
  uint64_t stvec_ = 0, sscratch_ = 0, sepc_ = 0, scause_ = 0, stval_ = 0;
  uint64_t scounteren_ = 0, senvcfg_ = 0, satp_ = 0, stimecmp_ = 0;
  uint64_t fcsr_ = 0;
  uint64_t pmpcfg_[8] = {};
  uint64_t pmpaddr_[64] = {};
  uint64_t res_addr_ = 0, res_value_ = 0;
  bool res_valid_ = false;

  // Pending synchronous exception of a slow path.
  uint64_t exc_cause_ = 0, exc_tval_ = 0;
  // The executing block was invalidated by a store (see store()).
  bool cur_block_dead_ = false;
  Block* cur_block_ = nullptr;
  // Instructions retired in the current block before the current one
  // (CSR reads of instret/cycle and writes of them).
  uint64_t cur_index_ = 0;
  bool in_insn_ = false;  // a CSR instruction is executing
  // VA range covered by superpages found since the last full flush (a TLB
  // entry holds one 4 KiB piece of a superpage).
  uint64_t super_lo_ = UINT64_MAX, super_hi_ = 0;
  int sstc_countdown_ = 0;  // blocks until stimecmp is compared with the clock again
  static constexpr size_t kDeadBatch = 256;  // dropped blocks freed together

  // Derived caches.
  TlbEntry tlb_data_[4][2][kTlbSize];  // [DataKey][0 read, 1 write]
  CodeTlbEntry tlb_code_w_[4][kTlbSize] = {};  // [DataKey]
  TlbEntry tlb_fetch_[4][kTlbSize];    // [priv]
  JcEntry jc_[kJcSize];
  // Decoded blocks by guest-physical address: open addressing with linear
  // probing (one cache line per lookup, unlike std::unordered_map).
  struct BlockSlot {
    uint64_t gpa;  // kNoVpn: empty
    Block* block;
  };
  static constexpr size_t kFirstTableSize = size_t{1} << 10;
  Block* table_find(uint64_t gpa) const;
  void table_insert(uint64_t gpa, Block* b);
  void table_reserve(size_t blocks);  // room for that many without growing
  void table_erase(uint64_t gpa);
  size_t table_slot(uint64_t gpa) const { return ((gpa >> 1) * 0x9e3779b97f4a7c15ull) >> table_shift_; }
  std::vector<BlockSlot> table_ = std::vector<BlockSlot>(kFirstTableSize, BlockSlot{kNoVpn, nullptr});
  unsigned table_shift_ = 64 - std::countr_zero(kFirstTableSize);
  size_t table_used_ = 0;
  // By gpa page. Node-based: a CodePage does not move while it exists,
  // so code TLB entries may point into it.
  std::unordered_map<uint64_t, CodePage> code_pages_;
  std::vector<Hart*> peers_;  // set_peers()
  SmpSync* sync_ = nullptr;   // set_smp_sync()
  std::atomic<uint32_t>* irq_event_ = nullptr;  // set_irq_event()
  std::vector<Block*> dead_;
  void* crossing_ = nullptr;  // the one uncached page-crossing instruction (a Block)
  uint64_t blocks_decoded_ = 0;
  uint64_t blocks_adopted_ = 0;
  bool logging_ = false;
  uint32_t log_epoch_ = 0;
  std::vector<uint64_t> block_log_;
  bool jit_on_ = false;
  std::unique_ptr<JitCode> jit_code_;  // mapped at the first translation
  uint64_t blocks_translated_ = 0;
  uint64_t jit_code_flushes_ = 0;
  uint64_t jit_entries_ = 0, jit_exits_trap_ = 0, jit_exits_smc_ = 0, jump_cache_misses_ = 0;

  // Blocks decoded by offer_blocks(), a batch at a time, waiting for the
  // hart: `bytes` holds each one's guest bytes as decoded, checked_bytes()
  // of them per block, in block order. The blocks live in `pool`, one
  // allocation the offering thread made; the hart keeps it (pools_) until
  // it is destroyed, so the hart never frees into the other thread's
  // malloc arena while it decodes.
  static constexpr size_t kOfferBytes = kMaxBlockInsns * 4 + 2;
  // The bytes a block was decoded from: its own, and the upper half a
  // final compressed instruction was fetched with, within the page.
  static size_t checked_bytes(uint64_t gpa, uint32_t bytes) {
    return std::min<size_t>(bytes + 2, mem::kPageSize - (gpa & 0xfff));
  }
  struct OfferBatch {
    std::vector<Block*> blocks;
    std::vector<uint8_t> bytes;
    std::unique_ptr<uint8_t[]> pool;
  };
  std::mutex offer_mu_;
  std::vector<OfferBatch> offered_;
  std::atomic<bool> has_offered_{false};
  std::vector<std::unique_ptr<uint8_t[]>> pools_;
};

class Hart::BlockTable {
  friend class Hart;
  std::vector<BlockSlot> slots_;
};

}  // namespace tandem::cpu
