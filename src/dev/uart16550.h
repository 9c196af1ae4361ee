// NS16550A UART (register shift 0), as OpenSBI's uart8250 driver and
// Linux's 8250_of driver use it. Transmission is instantaneous: a byte
// written to THR reaches the CharSink at once, so THR/TSR are always empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/irq.h"
#include "base/result.h"
#include "mem/mmio.h"

namespace tandem::dev {

// Where transmitted bytes go (the board's console, a log, a test).
class CharSink {
 public:
  virtual ~CharSink() = default;
  virtual void write(const uint8_t* data, size_t len) = 0;
};

// Register map (NS16550A datasheet, table "Register Summary"):
//   0 RBR (read) / THR (write) / DLL (LCR.DLAB=1)
//   1 IER / DLM (LCR.DLAB=1)
//   2 IIR (read) / FCR (write)
//   3 LCR   4 MCR   5 LSR   6 MSR   7 SCR
inline constexpr unsigned kUartRbr = 0, kUartThr = 0, kUartDll = 0;
inline constexpr unsigned kUartIer = 1, kUartDlm = 1;
inline constexpr unsigned kUartIir = 2, kUartFcr = 2;
inline constexpr unsigned kUartLcr = 3, kUartMcr = 4, kUartLsr = 5, kUartMsr = 6, kUartScr = 7;
inline constexpr uint64_t kUartSize = 0x100;

// IER bits.
inline constexpr uint8_t kIerRdi = 0x01;   // received data available
inline constexpr uint8_t kIerThri = 0x02;  // THR empty
inline constexpr uint8_t kIerRlsi = 0x04;  // receiver line status
inline constexpr uint8_t kIerMsi = 0x08;   // modem status
// IIR values, highest priority first (bit 0 set = no interrupt pending).
inline constexpr uint8_t kIirNoInt = 0x01;
inline constexpr uint8_t kIirRls = 0x06;
inline constexpr uint8_t kIirRdi = 0x04;
inline constexpr uint8_t kIirTimeout = 0x0c;
inline constexpr uint8_t kIirThri = 0x02;
inline constexpr uint8_t kIirMsi = 0x00;
inline constexpr uint8_t kIirFifoEnabled = 0xc0;
// FCR bits.
inline constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrClearTx = 0x04;
// LCR bits.
inline constexpr uint8_t kLcrDlab = 0x80;
// MCR bits.
inline constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08,
                         kMcrLoop = 0x10;
// LSR bits.
inline constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrPe = 0x04, kLsrFe = 0x08,
                         kLsrBi = 0x10, kLsrThre = 0x20, kLsrTemt = 0x40, kLsrFifoErr = 0x80;
inline constexpr uint8_t kLsrErrors = kLsrOe | kLsrPe | kLsrFe | kLsrBi;
// MSR bits.
inline constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

inline constexpr size_t kUartFifoSize = 16;

class Uart16550 : public mem::MmioDevice {
 public:
  struct State {
    uint8_t ier = 0;
    uint8_t fcr = 0;  // as last written, without the self-clearing bits 1-2
    uint8_t lcr = 0;
    uint8_t mcr = 0;
    uint8_t lsr_errors = 0;  // LSR bits 1-4, cleared by reading LSR
    uint8_t msr_delta = 0;   // MSR bits 0-3, cleared by reading MSR
    uint8_t scr = 0;
    uint8_t dll = 0;
    uint8_t dlm = 0;
    bool thr_interrupt = false;  // THRE interrupt pending (cleared by IIR read / THR write)
    std::vector<uint8_t> rx_fifo;
    bool operator==(const State&) const = default;
  };

  Uart16550(CharSink* sink, IrqLine irq);

  bool load(uint64_t offset, unsigned size, uint64_t* value) override;
  bool store(uint64_t offset, unsigned size, uint64_t value) override;

  // Host input. False when the receive FIFO (one byte without FIFO mode) is
  // full: the caller keeps the byte queued and retries later.
  bool push_input(uint8_t byte);
  bool can_accept_input() const;
  // The driver asked for received-data interrupts (IER.ERBFI): the board
  // holds host input until then, so bytes typed or piped before the
  // guest's driver is up are not lost to its FIFO resets.
  bool rx_interrupt_enabled() const { return ier_ & kIerRdi; }
  // Host input that a FIFO reset (FCR) emptied out of the receiver before
  // the guest read it, oldest first, taken once: the board delivers it
  // again, so that nothing typed ahead is lost to a driver that enables
  // the receive interrupt before it sets the FIFO up. Host bookkeeping,
  // not device state (a restored FIFO's bytes count as the guest's).
  std::vector<uint8_t> take_unread_input();

  void set_sink(CharSink* sink) { sink_ = sink; }

  State save() const;
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

 private:
  bool fifo_enabled() const { return fcr_ & kFcrEnable; }
  size_t rx_capacity() const { return fifo_enabled() ? kUartFifoSize : 1; }
  size_t rx_trigger() const;
  uint8_t lsr() const;
  uint8_t msr() const;
  uint8_t iir() const;
  void transmit(uint8_t byte);
  void update_irq(bool force = false);
  void reset_rx_fifo();

  CharSink* sink_;
  IrqLine irq_;

  uint8_t ier_ = 0, fcr_ = 0, lcr_ = 0, mcr_ = 0, lsr_errors_ = 0, msr_delta_ = 0, scr_ = 0;
  uint8_t dll_ = 0, dlm_ = 0;
  bool thr_interrupt_ = false;
  std::vector<uint8_t> rx_;  // front = oldest byte
  std::vector<bool> rx_is_input_;  // per rx_ byte: from push_input, not loopback
  std::vector<uint8_t> unread_input_;

  bool irq_level_ = false;  // derived
};

}  // namespace tandem::dev
