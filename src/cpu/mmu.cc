// Address translation (privileged spec 4.3-4.5: Sv39, Sv48), the TLB fill
// rules of the memory tracking contract (mem/guest_memory.h), slow-path
// loads and stores (MMIO, misaligned across pages) and the A extension.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "base/bytes.h"
#include "cpu/hart.h"
#include "cpu/smp_sync.h"

namespace tandem::cpu {

namespace {
constexpr uint64_t kPteV = 1 << 0, kPteR = 1 << 1, kPteW = 1 << 2, kPteX = 1 << 3, kPteU = 1 << 4,
                   kPteA = 1 << 6, kPteD = 1 << 7;
constexpr uint64_t kPpnMask = (uint64_t{1} << 44) - 1;

uint64_t page_fault_cause(int acc) { return acc == 0 ? kInsnPageFault : acc == 1 ? kLoadPageFault : kStorePageFault; }
uint64_t access_fault_cause(int acc) {
  return acc == 0 ? kInsnAccessFault : acc == 1 ? kLoadAccessFault : kStoreAccessFault;
}
}  // namespace

class Hart::CodeWriteScope {
 public:
  // `gpa2`: the second page of a write crossing pages, else gpa again.
  CodeWriteScope(const Hart& h, uint64_t gpa, uint64_t gpa2)
      : sync_(h.sync_ && (code_bit(h, gpa) || code_bit(h, gpa2)) ? h.sync_ : nullptr) {
    if (sync_) sync_->begin();
  }
  ~CodeWriteScope() {
    if (sync_) sync_->end();
  }
  CodeWriteScope(const CodeWriteScope&) = delete;
  CodeWriteScope& operator=(const CodeWriteScope&) = delete;

 private:
  // A page can become code only in an exclusive section, which cannot
  // begin while this hart executes, so the bit read here holds until the
  // write has landed.
  static bool code_bit(const Hart& h, uint64_t gpa) {
    return h.ram_.contains(gpa) && h.ram_.has_code(h.ram_.page_of(gpa));
  }
  SmpSync* sync_;
};

bool Hart::translate(uint64_t va, Access acc, uint64_t* gpa) {
  unsigned ep = priv_;
  if (acc != Access::kFetch && (mstatus_ & kMstatusMprv)) ep = (mstatus_ >> 11) & 3;
  if (ep == kPrivM || (satp_ >> 60) == 0) {
    *gpa = va;
    return true;
  }
  return walk(va, acc, ep, gpa);
}

// Privileged spec 4.3.2, "Virtual Address Translation Process".
bool Hart::walk(uint64_t va, Access acc, unsigned ep, uint64_t* gpa) {
  const int a_kind = static_cast<int>(acc);
  const unsigned levels = (satp_ >> 60) == 8 ? 3 : 4;
  const unsigned va_bits = 12 + 9 * levels;
  if (static_cast<uint64_t>(static_cast<int64_t>(va << (64 - va_bits)) >> (64 - va_bits)) != va) {
    fault(page_fault_cause(a_kind), va);
    return false;
  }
restart:
  uint64_t a = (satp_ & kPpnMask) << 12;
  for (int lvl = static_cast<int>(levels) - 1; lvl >= 0; --lvl) {
    const uint64_t pte_addr = a + ((va >> (12 + 9 * lvl)) & 0x1ff) * 8;
    if (!ram_.contains(pte_addr, 8)) {
      fault(access_fault_cause(a_kind), va);
      return false;
    }
    uint64_t pte = load_le<uint64_t>(ram_.prepare_read(pte_addr));
    // Bits 63:54 are reserved (no Svpbmt/Svnapot) and must be zero.
    if (!(pte & kPteV) || (!(pte & kPteR) && (pte & kPteW)) || (pte >> 54) != 0) break;
    if (!(pte & (kPteR | kPteX))) {  // pointer to the next level
      if (lvl == 0) break;
      a = ((pte >> 10) & kPpnMask) << 12;
      continue;
    }
    const uint64_t ppn = (pte >> 10) & kPpnMask;
    if (lvl > 0 && (ppn & ((uint64_t{1} << (9 * lvl)) - 1)) != 0) break;  // misaligned superpage
    if (pte & kPteU) {
      if (ep == kPrivS && (acc == Access::kFetch || !(mstatus_ & kMstatusSum))) break;
    } else if (ep == kPrivU) {
      break;
    }
    bool ok = acc == Access::kFetch  ? (pte & kPteX) != 0
              : acc == Access::kLoad ? ((pte & kPteR) || ((mstatus_ & kMstatusMxr) && (pte & kPteX)))
                                     : (pte & kPteW) != 0;
    if (!ok) break;
    // Hardware A/D update, written back atomically like QEMU does (a
    // changed PTE restarts the walk).
    const uint64_t want = kPteA | (acc == Access::kStore ? kPteD : 0);
    if ((pte & want) != want) {
      bool changed;
      {
        CodeWriteScope scope(*this, pte_addr, pte_addr);
        auto* p = reinterpret_cast<uint64_t*>(ram_.prepare_write(pte_addr, 8));
        uint64_t expected = pte;
        changed = !__atomic_compare_exchange_n(p, &expected, pte | want, false, __ATOMIC_SEQ_CST,
                                               __ATOMIC_SEQ_CST);
      }
      if (changed) goto restart;
    }
    const uint64_t off_mask = (uint64_t{1} << (12 + 9 * lvl)) - 1;
    if (lvl > 0) {
      super_lo_ = std::min(super_lo_, va & ~off_mask);
      super_hi_ = std::max(super_hi_, va | off_mask);
    }
    *gpa = ((ppn << 12) & ~off_mask) | (va & off_mask);
    return true;
  }
  fault(page_fault_cause(a_kind), va);
  return false;
}

bool Hart::phys_load(uint64_t gpa, unsigned size, uint64_t* out) {
  if (ram_.contains(gpa, size)) {
    *out = load_sized(ram_.prepare_read(gpa), size);
    return true;
  }
  return bus_load(gpa, size, out);
}

bool Hart::phys_store(uint64_t gpa, unsigned size, uint64_t v) {
  if (ram_.contains(gpa, size)) {
    CodeWriteScope scope(*this, gpa, gpa);
    store_sized(ram_.prepare_write(gpa, size), size, v);
    return true;
  }
  return bus_store(gpa, size, v);
}

bool Hart::load_slow(uint64_t va, unsigned size, uint64_t* out) {
  uint64_t gpa;
  if ((va & 0xfff) + size > 0x1000) {
    // Misaligned across a page: both pages are translated first; a fault
    // on the second reports its first byte (as QEMU 7.2 does).
    const uint64_t va2 = (va | 0xfff) + 1;
    uint64_t gpa2;
    if (!translate(va, Access::kLoad, &gpa) || !translate(va2, Access::kLoad, &gpa2)) return false;
    const unsigned n1 = static_cast<unsigned>(va2 - va);
    uint64_t v = 0;
    for (unsigned k = 0; k < size; ++k) {
      uint64_t byte;
      if (!phys_load(k < n1 ? gpa + k : gpa2 + (k - n1), 1, &byte)) {
        fault(kLoadAccessFault, k < n1 ? va : va2);
        return false;
      }
      v |= byte << (8 * k);
    }
    *out = v;
    return true;
  }
  if (!translate(va, Access::kLoad, &gpa)) return false;
  if (ram_.contains(gpa)) {
    uint8_t* h = ram_.prepare_read(gpa);
    TlbEntry& e = tlb_r_[(va >> 12) & (kTlbSize - 1)];
    e.vpn = va >> 12;
    e.addend = reinterpret_cast<uintptr_t>(h) - va;
    *out = load_sized(h, size);
    return true;
  }
  if (!bus_load(gpa, size, out)) {  // MMIO is never cached in the TLB
    fault(kLoadAccessFault, va);
    return false;
  }
  return true;
}

bool Hart::store_slow(uint64_t va, unsigned size, uint64_t v) {
  uint64_t gpa;
  if ((va & 0xfff) + size > 0x1000) {
    // Both translations (and their D bits) happen before any byte lands.
    const uint64_t va2 = (va | 0xfff) + 1;
    uint64_t gpa2;
    if (!translate(va, Access::kStore, &gpa) || !translate(va2, Access::kStore, &gpa2)) return false;
    const unsigned n1 = static_cast<unsigned>(va2 - va);
    const bool ram1 = ram_.contains(gpa), ram2 = ram_.contains(gpa2);
    if (!ram1 || !ram2) {
      // MMIO on either side: byte by byte, faulting on the first refusal.
      for (unsigned k = 0; k < size; ++k) {
        if (!phys_store(k < n1 ? gpa + k : gpa2 + (k - n1), 1, (v >> (8 * k)) & 0xff)) {
          fault(kStoreAccessFault, k < n1 ? va : va2);
          return false;
        }
      }
      return true;
    }
    uint8_t bytes[8];
    store_le<uint64_t>(bytes, v);
    CodeWriteScope scope(*this, gpa, gpa2);
    uint8_t* h1 = ram_.prepare_write(gpa, n1);
    uint8_t* h2 = ram_.prepare_write(gpa2, size - n1);
    std::memcpy(h1, bytes, n1);
    std::memcpy(h2, bytes + n1, size - n1);
    return true;
  }
  if (!translate(va, Access::kStore, &gpa)) return false;
  if (ram_.contains(gpa)) {
    // prepare_write dirties the page, runs the copy-on-write hook, loads an
    // absent page and invalidates the decoded code the store overlaps;
    // only then may the TLB hold a store pointer (mem/guest_memory.h).
    uint8_t* h;
    {
      CodeWriteScope scope(*this, gpa, gpa);
      h = ram_.prepare_write(gpa, size);
      store_sized(h, size, v);
    }
    install_write_entry(va, gpa, h);
    return true;
  }
  if (!bus_store(gpa, size, v)) {
    fault(kStoreAccessFault, va);
    return false;
  }
  return true;
}

// After prepare_write on gpa's page: a plain write entry for a page
// without code, a code write entry for a page with our blocks, none for a
// page marked as code that we hold no blocks of (the mark is cleared by the
// next write, GuestMemory::prepare_write) and none for a page where a peer
// holds code (set_peers: only the slow path checks their blocks).
void Hart::install_write_entry(uint64_t va, uint64_t gpa, uint8_t* host) {
  const uintptr_t addend = reinterpret_cast<uintptr_t>(host) - va;
  const unsigned idx = (va >> 12) & (kTlbSize - 1);
  if (!peers_.empty() && peer_holds_code(gpa & ~uint64_t{0xfff})) return;
  if (auto it = code_pages_.find(gpa & ~uint64_t{0xfff}); it != code_pages_.end()) {
    tlb_cw_[idx] = {va >> 12, addend, it->second.halfwords};
  } else if (!ram_.has_code(ram_.page_of(gpa))) {
    tlb_w_[idx] = {va >> 12, addend};
  } else {
    return;
  }
  tlb_r_[idx] = {va >> 12, addend};  // a writable page is readable (W implies R)
}

int Hart::store_slow_status(uint64_t va, unsigned size, uint64_t v) {
  // A page holding decoded code, prepared for writing in this epoch: a
  // store that overlaps no decoded instruction lands directly.
  const CodeTlbEntry& c = tlb_cw_[(va >> 12) & (kTlbSize - 1)];
  if (c.vpn == (va >> 12) && (va & 0xfff) <= 0x1000 - size && !overlaps_code(c.halfwords, va & 0xfff, size)) {
    store_sized(reinterpret_cast<void*>(c.addend + va), size, v);
    return 0;
  }
  if (!store_slow(va, size, v)) return 1;
  return cur_block_dead_ ? 2 : 0;
}

// --- A extension (unprivileged spec chapter 8) ---

bool Hart::exec_amo(const Insn& in) {
  const uint64_t va = x_[in.rs1];
  const unsigned size = in.sub;
  const bool is_lr = in.op == Op::LR;
  if (va & (size - 1)) {  // AMOs and LR/SC never perform misaligned
    fault(is_lr ? kLoadMisaligned : kStoreMisaligned, va);
    return false;
  }
  auto sx = [size](uint64_t v) {
    return size == 4 ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v))) : v;
  };
  uint64_t gpa;
  if (is_lr) {
    uint64_t v;
    if (!translate(va, Access::kLoad, &gpa)) return false;
    if (!phys_load(gpa, size, &v)) {
      fault(kLoadAccessFault, va);
      return false;
    }
    v = sx(v);
    x_[in.rd] = v;
    res_addr_ = va;
    res_value_ = v;
    res_valid_ = true;
    return true;
  }
  if (in.op == Op::SC) {
    // Like QEMU: the SC succeeds when the reservation is for this address
    // and memory still holds the value LR read, compared and replaced in
    // one host compare-and-swap (harts on other threads store meanwhile).
    if (!res_valid_ || res_addr_ != va) {
      res_valid_ = false;
      x_[in.rd] = 1;
      return true;
    }
    res_valid_ = false;
    if (!translate(va, Access::kStore, &gpa)) return false;
    const uint64_t expect = res_value_, v = x_[in.rs2];
    bool ok;
    if (!amo_ram(gpa, size, [&](uint64_t cur, uint64_t* next) {
          *next = v;
          return sx(cur) == expect;
        }, &ok)) {
      uint64_t cur;  // MMIO: under the I/O lock, as any device access
      if (!phys_load(gpa, size, &cur)) {
        fault(kStoreAccessFault, va);
        return false;
      }
      ok = sx(cur) == expect;
      if (ok && !phys_store(gpa, size, v)) {
        fault(kStoreAccessFault, va);
        return false;
      }
    }
    x_[in.rd] = ok ? 0 : 1;
    return true;
  }
  if (!translate(va, Access::kStore, &gpa)) return false;
  const uint64_t b = sx(x_[in.rs2]);
  auto op = [&](uint64_t old) {
    const uint64_t a = sx(old);
    switch (in.rs3) {
      case 0x01: return b;                                                                  // swap
      case 0x00: return a + b;                                                              // add
      case 0x04: return a ^ b;                                                              // xor
      case 0x0c: return a & b;                                                              // and
      case 0x08: return a | b;                                                              // or
      case 0x10: return static_cast<int64_t>(a) < static_cast<int64_t>(b) ? a : b;          // min
      case 0x14: return static_cast<int64_t>(a) > static_cast<int64_t>(b) ? a : b;          // max
      case 0x18: return (size == 4 ? (a & 0xffffffff) < (b & 0xffffffff) : a < b) ? a : b;  // minu
      default: return (size == 4 ? (a & 0xffffffff) > (b & 0xffffffff) : a > b) ? a : b;    // maxu
    }
  };
  uint64_t old = 0;
  bool unused;
  if (!amo_ram(gpa, size, [&](uint64_t cur, uint64_t* next) {
        old = cur;
        *next = op(cur);
        return true;
      }, &unused)) {
    if (!phys_load(gpa, size, &old)) {
      fault(kStoreAccessFault, va);
      return false;
    }
    if (!phys_store(gpa, size, op(old))) {
      fault(kStoreAccessFault, va);
      return false;
    }
  }
  x_[in.rd] = sx(old);
  return true;
}

// A read-modify-write of aligned RAM as one host compare-and-swap loop:
// `f(current, &next)` says whether to write `next`; *written tells whether
// it did. False when gpa is not RAM (the caller goes through the bus).
template <typename F>
bool Hart::amo_ram(uint64_t gpa, unsigned size, F f, bool* written) {
  if (!ram_.contains(gpa, size)) return false;
  CodeWriteScope scope(*this, gpa, gpa);
  uint8_t* h = ram_.prepare_write(gpa, size);
  auto loop = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    T cur = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    for (;;) {
      uint64_t next;
      if (!f(cur, &next)) {
        *written = false;
        return;
      }
      if (__atomic_compare_exchange_n(p, &cur, static_cast<T>(next), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        *written = true;
        return;
      }
    }
  };
  if (size == 4)
    loop(reinterpret_cast<uint32_t*>(h));
  else
    loop(reinterpret_cast<uint64_t*>(h));
  return true;
}

}  // namespace tandem::cpu
