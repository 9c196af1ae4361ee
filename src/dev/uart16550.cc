#include "dev/uart16550.h"

#include <string>

namespace tandem::dev {

namespace {
// FCR bits kept: enable, DMA mode select, RX trigger level (bits 1-2
// self-clear, bits 4-5 are reserved on the 16550A).
constexpr uint8_t kFcrKept = 0xc9;
}  // namespace

Uart16550::Uart16550(CharSink* sink, IrqLine irq) : sink_(sink), irq_(irq) {}

size_t Uart16550::rx_trigger() const {
  static constexpr size_t kLevels[4] = {1, 4, 8, 14};
  return kLevels[fcr_ >> 6];
}

uint8_t Uart16550::lsr() const {
  uint8_t v = kLsrThre | kLsrTemt | lsr_errors_;  // transmission is instantaneous
  if (!rx_.empty()) v |= kLsrDr;
  return v;
}

uint8_t Uart16550::msr() const {
  uint8_t status;
  if (mcr_ & kMcrLoop) {
    // Loopback: the modem outputs feed the modem inputs (datasheet 8.6).
    status = static_cast<uint8_t>(((mcr_ & kMcrRts) ? kMsrCts : 0) | ((mcr_ & kMcrDtr) ? kMsrDsr : 0) |
                                  ((mcr_ & kMcrOut1) ? kMsrRi : 0) | ((mcr_ & kMcrOut2) ? kMsrDcd : 0));
  } else {
    status = kMsrCts | kMsrDsr | kMsrDcd;  // a connected, ready peer
  }
  return status | msr_delta_;
}

// Interrupt identification in priority order (datasheet table "Interrupt
// Control Functions"). With the FIFO enabled, data below the trigger level
// reports the character timeout at once: tandem has no character times,
// and Linux treats both identically.
uint8_t Uart16550::iir() const {
  uint8_t id = kIirNoInt;
  if ((ier_ & kIerRlsi) && lsr_errors_)
    id = kIirRls;
  else if ((ier_ & kIerRdi) && !rx_.empty())
    id = (!fifo_enabled() || rx_.size() >= rx_trigger()) ? kIirRdi : kIirTimeout;
  else if ((ier_ & kIerThri) && thr_interrupt_)
    id = kIirThri;
  else if ((ier_ & kIerMsi) && msr_delta_)
    id = kIirMsi;
  return fifo_enabled() ? id | kIirFifoEnabled : id;
}

void Uart16550::update_irq(bool force) {
  bool level = !(iir() & kIirNoInt);
  if (!force && level == irq_level_) return;
  irq_level_ = level;
  irq_.set(level);
}

void Uart16550::transmit(uint8_t byte) {
  if (mcr_ & kMcrLoop) {
    if (rx_.size() < rx_capacity()) {
      rx_.push_back(byte);
      rx_is_input_.push_back(false);
    }
    else
      lsr_errors_ |= kLsrOe;
  } else if (sink_) {
    sink_->write(&byte, 1);
  }
  // The holding register empties at once, so THRE interrupts again.
  thr_interrupt_ = true;
}

bool Uart16550::load(uint64_t offset, unsigned, uint64_t* value) {
  uint8_t v = 0;
  switch (offset) {
    case kUartRbr:
      if (lcr_ & kLcrDlab) {
        v = dll_;
      } else if (!rx_.empty()) {
        v = rx_.front();
        rx_.erase(rx_.begin());
        rx_is_input_.erase(rx_is_input_.begin());
      }
      break;
    case kUartIer:
      v = (lcr_ & kLcrDlab) ? dlm_ : ier_;
      break;
    case kUartIir:
      v = iir();
      // Reading IIR while it reports THRE clears that interrupt.
      if ((v & 0x0f) == kIirThri) thr_interrupt_ = false;
      break;
    case kUartLcr: v = lcr_; break;
    case kUartMcr: v = mcr_; break;
    case kUartLsr:
      v = lsr();
      lsr_errors_ = 0;
      break;
    case kUartMsr:
      v = msr();
      msr_delta_ = 0;
      break;
    case kUartScr: v = scr_; break;
    default: break;
  }
  *value = v;
  update_irq();
  return true;
}

bool Uart16550::store(uint64_t offset, unsigned, uint64_t value) {
  uint8_t v = static_cast<uint8_t>(value);
  switch (offset) {
    case kUartThr:
      if (lcr_ & kLcrDlab)
        dll_ = v;
      else
        transmit(v);
      break;
    case kUartIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
      } else {
        uint8_t changed = (ier_ ^ v) & kIerThri;
        ier_ = v & 0x0f;
        // Enabling the THRE interrupt with THR empty raises it even if an
        // IIR read had cleared it; Linux's 8250 startup tests exactly this.
        if (changed) thr_interrupt_ = (ier_ & kIerThri) != 0;
      }
      break;
    case kUartFcr: {
      uint8_t next = (v & kFcrEnable) ? v & kFcrKept : 0;
      // Toggling FIFO mode empties the FIFOs; so does bit 1 with the FIFO on.
      if (((next ^ fcr_) & kFcrEnable) || ((v & kFcrEnable) && (v & kFcrClearRx))) reset_rx_fifo();
      fcr_ = next;
      break;
    }
    case kUartLcr: lcr_ = v; break;
    case kUartMcr: {
      uint8_t before = msr();
      mcr_ = v & 0x1f;
      uint8_t after = msr();
      // Delta bits (MSR 0-3) for CTS, DSR, DCD changes and RI's trailing edge.
      uint8_t d = static_cast<uint8_t>(before ^ after);
      if (d & kMsrCts) msr_delta_ |= 0x01;
      if (d & kMsrDsr) msr_delta_ |= 0x02;
      if ((before & kMsrRi) && !(after & kMsrRi)) msr_delta_ |= 0x04;
      if (d & kMsrDcd) msr_delta_ |= 0x08;
      break;
    }
    case kUartLsr:
    case kUartMsr: break;  // read-only
    case kUartScr: scr_ = v; break;
    default: break;
  }
  update_irq();
  return true;
}

bool Uart16550::can_accept_input() const {
  return !(mcr_ & kMcrLoop) && rx_.size() < rx_capacity();
}

bool Uart16550::push_input(uint8_t byte) {
  if (!can_accept_input()) return false;
  rx_.push_back(byte);
  rx_is_input_.push_back(true);
  update_irq();
  return true;
}

// The guest sees an empty receiver, as the 16550 says; the host input it
// never read is kept for take_unread_input(). Linux's 8250 startup enables
// the receive interrupt about a hundred instructions before it turns the
// FIFO on (a reset): a byte the board delivered in between was lost.
void Uart16550::reset_rx_fifo() {
  for (size_t i = 0; i < rx_.size(); i++)
    if (rx_is_input_[i]) unread_input_.push_back(rx_[i]);
  rx_.clear();
  rx_is_input_.clear();
}

std::vector<uint8_t> Uart16550::take_unread_input() {
  std::vector<uint8_t> bytes;
  bytes.swap(unread_input_);
  return bytes;
}

Uart16550::State Uart16550::save() const {
  State s;
  s.ier = ier_;
  s.fcr = fcr_;
  s.lcr = lcr_;
  s.mcr = mcr_;
  s.lsr_errors = lsr_errors_;
  s.msr_delta = msr_delta_;
  s.scr = scr_;
  s.dll = dll_;
  s.dlm = dlm_;
  s.thr_interrupt = thr_interrupt_;
  s.rx_fifo = rx_;
  return s;
}

Status Uart16550::check(const State& s) const {
  if (s.ier & ~0x0f) return Error("uart state: ier has reserved bits set");
  if (s.fcr & ~kFcrKept || (s.fcr && !(s.fcr & kFcrEnable)))
    return Error("uart state: fcr " + std::to_string(s.fcr) + " is not a value FCR can hold");
  if (s.mcr & ~0x1f) return Error("uart state: mcr has reserved bits set");
  if (s.lsr_errors & ~kLsrErrors) return Error("uart state: lsr_errors has non-error bits");
  if (s.msr_delta & ~0x0f) return Error("uart state: msr_delta has non-delta bits");
  size_t cap = (s.fcr & kFcrEnable) ? kUartFifoSize : 1;
  if (s.rx_fifo.size() > cap)
    return Error("uart state: rx_fifo holds " + std::to_string(s.rx_fifo.size()) +
                 " bytes, more than " + std::to_string(cap));
  return Ok();
}

Status Uart16550::restore(const State& s) {
  TANDEM_TRY(check(s));
  ier_ = s.ier;
  fcr_ = s.fcr;
  lcr_ = s.lcr;
  mcr_ = s.mcr;
  lsr_errors_ = s.lsr_errors;
  msr_delta_ = s.msr_delta;
  scr_ = s.scr;
  dll_ = s.dll;
  dlm_ = s.dlm;
  thr_interrupt_ = s.thr_interrupt;
  rx_ = s.rx_fifo;
  rx_is_input_.assign(rx_.size(), false);
  unread_input_.clear();
  update_irq(true);
  return Ok();
}

}  // namespace tandem::dev
