// Interrupt wiring between layers that must not know each other: a device
// raises an IrqLine; the line's sink (the PLIC for device lines, the hart
// for mip bits) decides what that means.
#pragma once

namespace tandem {

class IrqSink {
 public:
  virtual ~IrqSink() = default;
  // May be called from any thread.
  virtual void set_irq(unsigned line, bool level) = 0;
};

class IrqLine {
 public:
  IrqLine() = default;
  IrqLine(IrqSink* sink, unsigned line) : sink_(sink), line_(line) {}
  void set(bool level) const {
    if (sink_) sink_->set_irq(line_, level);
  }
  void raise() const { set(true); }
  void lower() const { set(false); }
  bool connected() const { return sink_ != nullptr; }

 private:
  IrqSink* sink_ = nullptr;
  unsigned line_ = 0;
};

}  // namespace tandem
