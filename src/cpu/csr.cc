// Control and status registers (privileged spec chapter 2 table 2.2-2.5,
// chapters 3 and 4; Sstc; unprivileged spec chapter 9, Zicsr).
#include "cpu/hart.h"

namespace tandem::cpu {

namespace {
// CSR numbers.
enum : unsigned {
  kFflags = 0x001, kFrm = 0x002, kFcsr = 0x003,
  kCycle = 0xc00, kTime = 0xc01, kInstret = 0xc02, kHpmcounter3 = 0xc03, kHpmcounter31 = 0xc1f,
  kSstatus = 0x100, kSie = 0x104, kStvec = 0x105, kScounteren = 0x106, kSenvcfg = 0x10a,
  kSscratch = 0x140, kSepc = 0x141, kScause = 0x142, kStval = 0x143, kSip = 0x144,
  kStimecmp = 0x14d, kSatp = 0x180,
  kMvendorid = 0xf11, kMarchid = 0xf12, kMimpid = 0xf13, kMhartid = 0xf14, kMconfigptr = 0xf15,
  kMstatus = 0x300, kMisa = 0x301, kMedeleg = 0x302, kMideleg = 0x303, kMie = 0x304, kMtvec = 0x305,
  kMcounteren = 0x306, kMenvcfg = 0x30a, kMcountinhibit = 0x320, kMhpmevent3 = 0x323,
  kMhpmevent31 = 0x33f, kMscratch = 0x340, kMepc = 0x341, kMcause = 0x342, kMtval = 0x343, kMip = 0x344,
  kPmpcfg0 = 0x3a0, kPmpcfg15 = 0x3af, kPmpaddr0 = 0x3b0, kPmpaddr63 = 0x3ef,
  kMcycle = 0xb00, kMinstret = 0xb02, kMhpmcounter3 = 0xb03, kMhpmcounter31 = 0xb1f,
};

// misa: MXL=2 (RV64), extensions A C D F I M S U.
constexpr uint64_t kMisaValue = (uint64_t{2} << 62) | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) |
                           (1 << 12) | (1 << 18) | (1 << 20);
constexpr uint64_t kSsipBit = 1 << 1, kStip = 1 << 5, kSeip = 1 << 9;
constexpr uint64_t kSInts = kSsipBit | kStip | kSeip;
constexpr uint64_t kAllInts = 0xaaa;  // SSI, MSI, STI, MTI, SEI, MEI
// Exceptions medeleg can delegate (QEMU 7.2's DELEGABLE_EXCPS).
constexpr uint64_t kDelegableExcps = 0xf0bfff;
constexpr uint64_t kPmpaddrMask = (uint64_t{1} << 54) - 1;
}  // namespace

// Privileged spec 2.1: bits 9:8 give the lowest privilege, bits 11:10 = 3
// mark read-only CSRs.
bool Hart::csr_allowed(unsigned csr, bool write) const {
  if (priv_ < ((csr >> 8) & 3)) return false;
  if (write && (csr >> 10) == 3) return false;
  if (csr <= kFcsr) return fs_enabled();
  if (csr >= kCycle && csr <= kHpmcounter31) {
    // Counter-enable registers (3.1.11, 4.1.5).
    const unsigned n = csr & 31;
    if (priv_ < kPrivM && !((mcounteren_ >> n) & 1)) return false;
    if (priv_ == kPrivU && !((scounteren_ >> n) & 1)) return false;
    return true;
  }
  if (csr == kSatp && priv_ == kPrivS && (mstatus_ & kMstatusTvm)) return false;
  if (csr == kStimecmp && priv_ < kPrivM) {
    // Sstc: S-mode access needs menvcfg.STCE and mcounteren.TM.
    return (menvcfg_ & kMenvcfgStce) && (mcounteren_ & 2);
  }
  return true;
}

bool Hart::csr_read(unsigned csr, uint64_t* v) {
  const uint64_t retired = instret_ + cur_index_;
  switch (csr) {
    case kFflags: *v = fcsr_ & 0x1f; return true;
    case kFrm: *v = (fcsr_ >> 5) & 7; return true;
    case kFcsr: *v = fcsr_; return true;
    case kCycle: case kInstret: case kMcycle: case kMinstret: *v = retired; return true;
    case kTime: *v = clock_.now(); return true;
    case kSstatus: {
      uint64_t s = mstatus_ & (kMstatusSie | kMstatusSpie | kMstatusSpp | kMstatusFs | kMstatusSum |
                               kMstatusMxr | (uint64_t{3} << 32));
      if ((mstatus_ & kMstatusFs) == kMstatusFs) s |= uint64_t{1} << 63;
      *v = s;
      return true;
    }
    case kSie: *v = mie_ & mideleg_; return true;
    case kStvec: *v = stvec_; return true;
    case kScounteren: *v = scounteren_; return true;
    case kSenvcfg: *v = senvcfg_; return true;
    case kSscratch: *v = sscratch_; return true;
    case kSepc: *v = sepc_; return true;
    case kScause: *v = scause_; return true;
    case kStval: *v = stval_; return true;
    case kSip: update_sstc(); *v = effective_mip() & mideleg_; return true;
    case kStimecmp: *v = stimecmp_; return true;
    case kSatp: *v = satp_; return true;
    case kMvendorid: case kMarchid: case kMimpid: case kMconfigptr: *v = 0; return true;
    case kMhartid: *v = hartid_; return true;
    case kMstatus: {
      uint64_t s = mstatus_;
      if ((s & kMstatusFs) == kMstatusFs) s |= uint64_t{1} << 63;
      *v = s;
      return true;
    }
    case kMisa: *v = kMisaValue; return true;
    case kMedeleg: *v = medeleg_; return true;
    case kMideleg: *v = mideleg_; return true;
    case kMie: *v = mie_; return true;
    case kMtvec: *v = mtvec_; return true;
    case kMcounteren: *v = mcounteren_; return true;
    case kMenvcfg: *v = menvcfg_; return true;
    case kMcountinhibit: *v = mcountinhibit_; return true;
    case kMscratch: *v = mscratch_; return true;
    case kMepc: *v = mepc_; return true;
    case kMcause: *v = mcause_; return true;
    case kMtval: *v = mtval_; return true;
    case kMip: update_sstc(); *v = effective_mip(); return true;
  }
  if ((csr >= kHpmcounter3 && csr <= kHpmcounter31) || (csr >= kMhpmcounter3 && csr <= kMhpmcounter31) ||
      (csr >= kMhpmevent3 && csr <= kMhpmevent31)) {
    *v = 0;
    return true;
  }
  if (csr >= kPmpcfg0 && csr <= kPmpcfg15) {
    if (csr & 1) return false;  // RV64 has only the even pmpcfg registers
    *v = pmpcfg_[(csr - kPmpcfg0) / 2];
    return true;
  }
  if (csr >= kPmpaddr0 && csr <= kPmpaddr63) {
    *v = pmpaddr_[csr - kPmpaddr0];
    return true;
  }
  return false;
}

void Hart::write_mstatus(uint64_t v) {
  constexpr uint64_t kMask = kMstatusSie | kMstatusMie | kMstatusSpie | kMstatusMpie | kMstatusSpp |
                             kMstatusMpp | kMstatusFs | kMstatusMprv | kMstatusSum | kMstatusMxr |
                             kMstatusTvm | kMstatusTw | kMstatusTsr;
  if (((v >> 11) & 3) == 2) v = (v & ~kMstatusMpp) | (mstatus_ & kMstatusMpp);  // WARL: H mode absent
  const uint64_t old = mstatus_;
  mstatus_ = (old & ~kMask) | (v & kMask) | kMstatusUxlSxl;
  if ((old ^ mstatus_) & kMstatusMxr) flush_data_tlbs();
  update_mode();
  update_irq_mask();
}

bool Hart::csr_write(unsigned csr, uint64_t v) {
  switch (csr) {
    case kFflags: fcsr_ = (fcsr_ & ~uint64_t{0x1f}) | (v & 0x1f); set_fs_dirty(); return true;
    case kFrm: fcsr_ = (fcsr_ & 0x1f) | ((v & 7) << 5); set_fs_dirty(); return true;
    case kFcsr: fcsr_ = v & 0xff; set_fs_dirty(); return true;
    case kMcycle: case kMinstret:
      // The write replaces this instruction's own increment (Zicsr 9.1).
      instret_ = v - cur_index_ - (in_insn_ ? 1 : 0);
      return true;
    case kSstatus: {
      constexpr uint64_t kMask = kMstatusSie | kMstatusSpie | kMstatusSpp | kMstatusFs | kMstatusSum | kMstatusMxr;
      write_mstatus((mstatus_ & ~kMask) | (v & kMask));
      return true;
    }
    case kSie: {
      const uint64_t m = mideleg_ & kSInts;
      mie_ = (mie_ & ~m) | (v & m);
      update_irq_mask();
      return true;
    }
    case kStvec: if ((v & 3) < 2) stvec_ = v; return true;
    case kScounteren: scounteren_ = v & 0xffffffff; return true;
    case kSenvcfg: senvcfg_ = v & 1; return true;
    case kSscratch: sscratch_ = v; return true;
    case kSepc: sepc_ = v & ~uint64_t{1}; return true;
    case kScause: scause_ = v; return true;
    case kStval: stval_ = v; return true;
    case kSip: {
      const uint64_t m = mideleg_ & kSsipBit;
      mip_ = (mip_ & ~m) | (v & m);
      return true;
    }
    case kStimecmp: stimecmp_ = v; update_sstc(); return true;
    case kSatp: {
      const uint64_t mode = v >> 60;
      if (mode != 0 && mode != 8 && mode != 9) return true;  // unsupported mode: no change (like QEMU)
      satp_ = v;
      flush_tlb();
      return true;
    }
    case kMstatus: write_mstatus(v); return true;
    case kMisa: return true;  // WARL, fixed
    case kMedeleg: medeleg_ = v & kDelegableExcps; return true;
    case kMideleg: mideleg_ = v & kSInts; update_irq_mask(); return true;
    case kMie: mie_ = v & kAllInts; update_irq_mask(); return true;
    case kMtvec: if ((v & 3) < 2) mtvec_ = v; return true;
    case kMcounteren: mcounteren_ = v & 0xffffffff; return true;
    case kMenvcfg: {
      // FIOM and STCE (Sstc) are the implemented fields.
      const bool stce_on = !(menvcfg_ & kMenvcfgStce) && (v & kMenvcfgStce);
      menvcfg_ = v & (kMenvcfgStce | 1);
      if (stce_on) mip_ &= ~kStip;  // STIP now follows stimecmp
      update_sstc();
      return true;
    }
    case kMcountinhibit: mcountinhibit_ = v & 0xfffffffd; return true;
    case kMscratch: mscratch_ = v; return true;
    case kMepc: mepc_ = v & ~uint64_t{1}; return true;
    case kMcause: mcause_ = v; return true;
    case kMtval: mtval_ = v; return true;
    case kMip: {
      uint64_t m = kSInts;
      if (menvcfg_ & kMenvcfgStce) m &= ~kStip;
      mip_ = (mip_ & ~m) | (v & m);
      return true;
    }
  }
  if ((csr >= kMhpmcounter3 && csr <= kMhpmcounter31) || (csr >= kMhpmevent3 && csr <= kMhpmevent31))
    return true;  // hardwired to zero
  if (csr >= kPmpcfg0 && csr <= kPmpcfg15) {
    if (csr & 1) return false;
    pmpcfg_[(csr - kPmpcfg0) / 2] = v;
    return true;
  }
  if (csr >= kPmpaddr0 && csr <= kPmpaddr63) {
    pmpaddr_[csr - kPmpaddr0] = v & kPmpaddrMask;
    return true;
  }
  return false;
}

// Zicsr: CSRRW reads only when rd != x0; CSRRS/CSRRC write only when
// rs1 (or the immediate) is nonzero. Unknown or forbidden CSRs are illegal
// instructions (OpenSBI probes CSRs that way).
bool Hart::exec_csr(const Insn& in) {
  const unsigned csr = static_cast<unsigned>(in.imm);
  const unsigned f3 = in.sub;
  const unsigned rs1 = in.rs1;
  const uint64_t src = f3 >= 5 ? rs1 : x_[rs1];
  const bool is_rw = (f3 & 3) == 1;
  const bool write = is_rw || rs1 != 0;
  uint64_t old = 0;
  in_insn_ = true;
  bool ok = csr_allowed(csr, write) && csr_read(csr, &old);
  if (ok && write) {
    // Privileged spec 3.1.9: a read-modify-write of mip sees only the
    // software-writable SEIP bit, not the PLIC's level a read ORs in;
    // else OpenSBI's `csrs mip, SSIP` (an IPI) latched a pending external
    // interrupt for good, and the hart took it again and again.
    const uint64_t base = csr == kMip ? mip_ : old;
    const uint64_t nv = is_rw ? src : (f3 & 3) == 2 ? (base | src) : (base & ~src);
    ok = csr_write(csr, nv);
  }
  in_insn_ = false;
  if (!ok) {
    fault(kIllegalInsn, in.raw);
    return false;
  }
  x_[in.rd] = old;
  return true;
}

bool Hart::read_csr(unsigned csr, uint64_t* value) {
  cur_index_ = 0;
  return csr_allowed(csr, false) && csr_read(csr, value);
}

bool Hart::write_csr(unsigned csr, uint64_t value) {
  cur_index_ = 0;
  uint64_t old;
  return csr_allowed(csr, true) && csr_read(csr, &old) && csr_write(csr, value);
}

}  // namespace tandem::cpu
