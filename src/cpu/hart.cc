// Hart construction, reset, traps, interrupts and state save/restore.
#include "cpu/hart.h"
#include "cpu/jit_code.h"
#include "cpu/smp_sync.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace tandem::cpu {

namespace {
// The mip bits software may set (the M-mode ones and the external
// level come from the CLINT and the PLIC).
constexpr uint64_t kMipSsip = 1 << 1, kMipStip = 1 << 5, kMipSeip = 1 << 9;
}  // namespace

Hart::Hart(mem::PhysBus& bus, const Clock& clock, uint64_t hartid)
    : bus_(bus), ram_(bus.ram()), clock_(clock), hartid_(hartid) {
  ram_.add_listener(this);
  reset(0);
}

Hart::~Hart() {
  ram_.remove_listener(this);
  drop_all_blocks();
  free_dead_blocks();
  ::operator delete(crossing_);
}

void Hart::reset(uint64_t pc) {
  std::memset(x_, 0, sizeof x_);
  std::memset(f_, 0, sizeof f_);
  pc_ = pc;
  instret_ = 0;
  priv_ = kPrivM;
  // Privileged spec 3.4: MIE and MPRV reset to 0; UXL/SXL are fixed at 64.
  mstatus_ = kMstatusUxlSxl;
  medeleg_ = mideleg_ = mie_ = mip_ = 0;
  mtvec_ = mscratch_ = mepc_ = mcause_ = mtval_ = 0;
  mcounteren_ = mcountinhibit_ = menvcfg_ = 0;
  stvec_ = sscratch_ = sepc_ = scause_ = stval_ = 0;
  scounteren_ = senvcfg_ = satp_ = stimecmp_ = 0;
  fcsr_ = 0;
  std::memset(pmpcfg_, 0, sizeof pmpcfg_);
  std::memset(pmpaddr_, 0, sizeof pmpaddr_);
  res_addr_ = res_value_ = 0;
  res_valid_ = false;
  sstc_stip_ = 0;
  stop_.store(false, std::memory_order_relaxed);
  flush_tlb();
  drop_all_blocks();
  update_mode();
  update_irq_mask();
}

// --- privilege and mode-dependent caches ---

void Hart::set_priv(unsigned p) {
  priv_ = p;
  update_mode();
  update_irq_mask();
}

void Hart::update_mode() {
  tlb_x_ = tlb_fetch_[priv_];
  unsigned ep = priv_;
  if (mstatus_ & kMstatusMprv) ep = (mstatus_ >> 11) & 3;
  DataKey key = ep == kPrivM ? kKeyM : ep == kPrivU ? kKeyU : (mstatus_ & kMstatusSum) ? kKeySSum : kKeyS;
  tlb_r_ = tlb_data_[key][0];
  tlb_w_ = tlb_data_[key][1];
  tlb_cw_ = tlb_code_w_[key];
}

void Hart::flush_data_tlbs() {
  for (auto& set : tlb_data_)
    for (auto& rw : set)
      for (auto& e : rw) e.vpn = kNoVpn;
  for (auto& set : tlb_code_w_)
    for (auto& e : set) e.vpn = kNoVpn;
}

void Hart::flush_tlb() {
  flush_data_tlbs();
  for (auto& set : tlb_fetch_)
    for (auto& e : set) e.vpn = kNoVpn;
  super_lo_ = UINT64_MAX;
  super_hi_ = 0;
}

void Hart::flush_tlb_page(uint64_t va) {
  if (va >= super_lo_ && va <= super_hi_) {
    flush_tlb();
    return;
  }
  const uint64_t vpn = va >> 12;
  const unsigned idx = vpn & (kTlbSize - 1);
  for (auto& set : tlb_data_)
    for (auto& rw : set)
      if (rw[idx].vpn == vpn) rw[idx].vpn = kNoVpn;
  for (auto& set : tlb_code_w_)
    if (set[idx].vpn == vpn) set[idx].vpn = kNoVpn;
  for (auto& set : tlb_fetch_)
    if (set[idx].vpn == vpn) set[idx].vpn = kNoVpn;
}

void Hart::drop_write_entries_for(const uint8_t* host_page) {
  for (auto& set : tlb_data_)
    for (auto& e : set[1])
      if (e.vpn != kNoVpn && reinterpret_cast<const uint8_t*>(e.addend + (e.vpn << 12)) == host_page)
        e.vpn = kNoVpn;
}

void Hart::drop_write_entries_for(std::vector<const uint8_t*>& host_pages) {
  if (host_pages.empty()) return;
  std::sort(host_pages.begin(), host_pages.end());
  for (auto& set : tlb_data_)
    for (auto& e : set[1])
      if (e.vpn != kNoVpn &&
          std::binary_search(host_pages.begin(), host_pages.end(),
                             reinterpret_cast<const uint8_t*>(e.addend + (e.vpn << 12))))
        e.vpn = kNoVpn;
}

void Hart::drop_store_entries_for(std::vector<const uint8_t*>& host_pages) {
  drop_write_entries_for(host_pages);  // sorts them
  for (auto& set : tlb_code_w_)
    for (auto& e : set)
      if (e.vpn != kNoVpn && std::binary_search(host_pages.begin(), host_pages.end(),
                                                reinterpret_cast<const uint8_t*>(e.addend + (e.vpn << 12))))
        e.vpn = kNoVpn;
}

namespace {
// A device access under the I/O lock when harts have threads. Not
// executing while it waits for the lock: a hart holding it may begin an
// exclusive section (DMA to a page holding code).
template <typename Access>
bool device_access(SmpSync* sync, Access access) {
  if (!sync) return access();
  sync->exec_end();
  std::lock_guard<std::mutex> lock(sync->io_mutex());
  sync->exec_start();
  return access();
}
}  // namespace

bool Hart::bus_load(uint64_t gpa, unsigned size, uint64_t* out) {
  return device_access(sync_, [&] { return bus_.load(gpa, size, out); });
}

bool Hart::bus_store(uint64_t gpa, unsigned size, uint64_t v) {
  return device_access(sync_, [&] { return bus_.store(gpa, size, v); });
}

void Hart::attend() {
  // The run loop tests the interrupt lines next.
  attention_.fetch_and(static_cast<uint8_t>(~kAttnIrq), std::memory_order_relaxed);
  if (attention_.load(std::memory_order_relaxed) & kAttnPause) {
    attention_.fetch_and(static_cast<uint8_t>(~kAttnPause), std::memory_order_relaxed);
    if (sync_) sync_->pause_point();
  }
  // After the pause: the exclusive section may have dropped blocks.
  if (attention_.load(std::memory_order_relaxed) & kAttnDead) free_dead_blocks();
}

// A CodePage is going away: no entry may keep pointing into it.
void Hart::drop_code_write_entries(const uint64_t* halfwords) {
  for (auto& set : tlb_code_w_)
    for (auto& e : set)
      if (e.halfwords == halfwords) e.vpn = kNoVpn;
}

// --- interrupts (privileged spec 3.1.9) ---

void Hart::set_irq(unsigned line, bool level) {
  if (line >= 64) return;
  uint64_t bit = uint64_t{1} << line;
  if (level) {
    if (!(mip_ext_.fetch_or(bit, std::memory_order_relaxed) & bit))
      attention_.fetch_or(kAttnIrq, std::memory_order_release);  // after the line, for the translator
  } else
    mip_ext_.fetch_and(~bit, std::memory_order_relaxed);
  if (irq_event_) {
    irq_event_->fetch_add(1, std::memory_order_seq_cst);
    irq_event_->notify_all();
  }
}

void Hart::update_sstc() {
  sstc_stip_ = ((menvcfg_ & kMenvcfgStce) && clock_.now() >= stimecmp_) ? kMipStip : 0;
}

uint64_t Hart::effective_mip() const {
  uint64_t soft = mip_;
  if (menvcfg_ & kMenvcfgStce) soft &= ~kMipStip;
  return soft | mip_ext_.load(std::memory_order_relaxed) | sstc_stip_;
}

void Hart::update_irq_mask() {
  // An interrupt for M traps unless running in M with MIE=0; one delegated
  // to S traps below S, or in S with SIE=1, never in M.
  uint64_t m_en = (priv_ < kPrivM || (mstatus_ & kMstatusMie)) ? ~mideleg_ : 0;
  uint64_t s_en = (priv_ < kPrivS || (priv_ == kPrivS && (mstatus_ & kMstatusSie))) ? mideleg_ : 0;
  irq_mask_ = mie_ & (m_en | s_en);
}

bool Hart::take_pending_interrupt() {
  uint64_t pending = effective_mip() & irq_mask_;
  if (!pending) return false;
  // Interrupts for M are serviced before those delegated to S; within a
  // level the order is MEI, MSI, MTI, SEI, SSI, STI.
  uint64_t m = pending & ~mideleg_;
  uint64_t sel = m ? m : pending;
  static constexpr unsigned kOrder[] = {11, 3, 7, 9, 1, 5};
  for (unsigned b : kOrder) {
    if (sel & (uint64_t{1} << b)) {
      take_trap(kInterruptBit | b, 0, pc_);
      return true;
    }
  }
  return false;
}

bool Hart::wfi_should_wake() const {
  uint64_t mip = effective_mip();
  if ((menvcfg_ & kMenvcfgStce) && clock_.now() >= stimecmp_) mip |= kMipStip;
  return (mip & mie_) != 0;
}

uint64_t Hart::stimecmp_deadline() const {
  return (menvcfg_ & kMenvcfgStce) ? stimecmp_ : UINT64_MAX;
}

// --- traps (privileged spec 3.1.6.1, 3.3.1, 4.1.1) ---

void Hart::take_trap(uint64_t cause, uint64_t tval, uint64_t epc) {
  const bool irq = cause & kInterruptBit;
  const uint64_t code = cause & ~kInterruptBit;
  const bool to_s = priv_ <= kPrivS && code < 64 && (((irq ? mideleg_ : medeleg_) >> code) & 1);
  uint64_t s = mstatus_;
  if (to_s) {
    sepc_ = epc;
    scause_ = cause;
    stval_ = tval;
    s = (s & ~kMstatusSpie) | ((s & kMstatusSie) ? kMstatusSpie : 0);
    s &= ~kMstatusSie;
    s = (s & ~kMstatusSpp) | (priv_ == kPrivS ? kMstatusSpp : 0);
    pc_ = (stvec_ & ~uint64_t{3}) + ((irq && (stvec_ & 1)) ? 4 * code : 0);
    mstatus_ = s;
    set_priv(kPrivS);
  } else {
    mepc_ = epc;
    mcause_ = cause;
    mtval_ = tval;
    s = (s & ~kMstatusMpie) | ((s & kMstatusMie) ? kMstatusMpie : 0);
    s &= ~kMstatusMie;
    s = (s & ~kMstatusMpp) | (uint64_t{priv_} << 11);
    pc_ = (mtvec_ & ~uint64_t{3}) + ((irq && (mtvec_ & 1)) ? 4 * code : 0);
    mstatus_ = s;
    set_priv(kPrivM);
  }
}

void Hart::exec_mret() {
  uint64_t s = mstatus_;
  unsigned mpp = (s >> 11) & 3;
  s = (s & ~kMstatusMie) | ((s & kMstatusMpie) ? kMstatusMie : 0);
  s |= kMstatusMpie;
  s &= ~kMstatusMpp;  // the least-privileged mode, U
  if (mpp != kPrivM) s &= ~kMstatusMprv;
  mstatus_ = s;
  pc_ = mepc_;
  set_priv(mpp);
}

void Hart::exec_sret() {
  uint64_t s = mstatus_;
  unsigned spp = (s & kMstatusSpp) ? kPrivS : kPrivU;
  s = (s & ~kMstatusSie) | ((s & kMstatusSpie) ? kMstatusSie : 0);
  s |= kMstatusSpie;
  s &= ~kMstatusSpp;
  s &= ~kMstatusMprv;  // v1.12: xRET to a mode below M clears MPRV
  mstatus_ = s;
  pc_ = sepc_;
  set_priv(spp);
}

// --- state ---

HartState Hart::save() const {
  HartState s{};
  std::memcpy(s.x, x_, sizeof s.x);
  std::memcpy(s.f, f_, sizeof s.f);
  s.pc = pc_;
  s.priv = priv_;
  s.hartid = hartid_;
  s.instret = instret_;
  s.mstatus = mstatus_;
  s.medeleg = medeleg_;
  s.mideleg = mideleg_;
  s.mie = mie_;
  s.mip = mip_;
  s.mtvec = mtvec_;
  s.mscratch = mscratch_;
  s.mepc = mepc_;
  s.mcause = mcause_;
  s.mtval = mtval_;
  s.mcounteren = mcounteren_;
  s.mcountinhibit = mcountinhibit_;
  s.menvcfg = menvcfg_;
  s.stvec = stvec_;
  s.sscratch = sscratch_;
  s.sepc = sepc_;
  s.scause = scause_;
  s.stval = stval_;
  s.scounteren = scounteren_;
  s.senvcfg = senvcfg_;
  s.satp = satp_;
  s.stimecmp = stimecmp_;
  s.fcsr = fcsr_;
  std::memcpy(s.pmpcfg, pmpcfg_, sizeof s.pmpcfg);
  std::memcpy(s.pmpaddr, pmpaddr_, sizeof s.pmpaddr);
  s.reservation_addr = res_addr_;
  s.reservation_value = res_value_;
  s.reservation_valid = res_valid_;
  return s;
}

Status Hart::check(const HartState& s) const {
  auto bad = [](const std::string& what) { return Error("restore hart state: " + what); };
  if (s.priv != kPrivU && s.priv != kPrivS && s.priv != kPrivM)
    return bad("invalid privilege level " + std::to_string(s.priv));
  if (s.hartid != hartid_)
    return bad("hart id " + std::to_string(s.hartid) + " does not match " + std::to_string(hartid_));
  if (s.x[0] != 0) return bad("x0 is not zero");
  uint64_t mode = s.satp >> 60;
  if (mode != 0 && mode != 8 && mode != 9) return bad("unsupported satp mode " + std::to_string(mode));
  if (((s.mstatus >> 11) & 3) == 2) return bad("mstatus.MPP holds the reserved value 2");
  if ((s.mstatus & kMstatusUxlSxl) != kMstatusUxlSxl) return bad("mstatus.UXL/SXL are not 64-bit");
  if ((s.mtvec & 3) >= 2 || (s.stvec & 3) >= 2) return bad("reserved trap vector mode");
  if (s.fcsr > 0xff) return bad("fcsr has bits above frm");
  if (s.reservation_valid > 1) return bad("reservation_valid is not a boolean");
  if ((s.mip & ~uint64_t{kMipSsip | kMipStip | kMipSeip}) != 0)
    return bad("mip has bits that are not software-writable");
  return Ok();
}

Status Hart::restore(const HartState& s) {
  TANDEM_TRY(check(s));

  std::memcpy(x_, s.x, sizeof s.x);
  x_[kSinkReg] = 0;
  std::memcpy(f_, s.f, sizeof s.f);
  pc_ = s.pc;
  priv_ = static_cast<unsigned>(s.priv);
  instret_ = s.instret;
  mstatus_ = s.mstatus;
  medeleg_ = s.medeleg;
  mideleg_ = s.mideleg;
  mie_ = s.mie;
  mip_ = s.mip;
  mtvec_ = s.mtvec;
  mscratch_ = s.mscratch;
  mepc_ = s.mepc;
  mcause_ = s.mcause;
  mtval_ = s.mtval;
  mcounteren_ = s.mcounteren;
  mcountinhibit_ = s.mcountinhibit;
  menvcfg_ = s.menvcfg;
  stvec_ = s.stvec;
  sscratch_ = s.sscratch;
  sepc_ = s.sepc;
  scause_ = s.scause;
  stval_ = s.stval;
  scounteren_ = s.scounteren;
  senvcfg_ = s.senvcfg;
  satp_ = s.satp;
  stimecmp_ = s.stimecmp;
  fcsr_ = s.fcsr;
  std::memcpy(pmpcfg_, s.pmpcfg, sizeof pmpcfg_);
  std::memcpy(pmpaddr_, s.pmpaddr, sizeof pmpaddr_);
  res_addr_ = s.reservation_addr;
  res_value_ = s.reservation_value;
  res_valid_ = s.reservation_valid != 0;
  flush_tlb();
  drop_all_blocks();
  update_mode();
  update_irq_mask();
  update_sstc();
  return Ok();
}

}  // namespace tandem::cpu
