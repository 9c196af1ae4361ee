// A minimal machine for CPU unit tests: RAM at 0x80000000, a fake MMIO
// device, a settable clock and one hart.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "cpu/hart.h"
#include "mem/guest_memory.h"
#include "mem/phys_bus.h"
#include "rv_asm.h"

namespace tandem::cpu::test {

inline constexpr uint64_t kRamBase = 0x80000000;
inline constexpr uint64_t kRamSize = 4 << 20;
inline constexpr uint64_t kMmioBase = 0x10000000;
inline constexpr uint64_t kMmioSize = 0x1000;

struct FakeClock : Clock {
  uint64_t t = 0;
  const Hart* instret_of = nullptr;  // when set, time is that hart's instret (as --icount does)
  uint64_t now() const override { return instret_of ? instret_of->instret() : t; }
};

// Records every access; loads return `value`; accesses at offsets >= 0x800
// are refused (access fault). With `irq_to` set, a store of v raises
// that hart's interrupt line v & 63, as a device would.
struct FakeDevice : mem::MmioDevice {
  struct Access {
    bool store;
    uint64_t offset;
    unsigned size;
    uint64_t value;
  };
  std::vector<Access> log;
  uint64_t value = 0x1122334455667788ull;
  IrqSink* irq_to = nullptr;
  bool load(uint64_t offset, unsigned size, uint64_t* v) override {
    if (offset >= 0x800) return false;
    log.push_back({false, offset, size, 0});
    *v = size == 8 ? value : value & ((uint64_t{1} << (8 * size)) - 1);
    return true;
  }
  bool store(uint64_t offset, unsigned size, uint64_t v) override {
    if (offset >= 0x800) return false;
    log.push_back({true, offset, size, v});
    if (irq_to) irq_to->set_irq(static_cast<unsigned>(v & 63), true);
    return true;
  }
};

class Machine {
 public:
  Machine() {
    auto m = mem::GuestMemory::create(kRamBase, kRamSize);
    EXPECT_TRUE(m.ok());
    ram = std::move(m).value();
    bus = std::make_unique<mem::PhysBus>(*ram);
    EXPECT_TRUE(bus->map(kMmioBase, kMmioSize, &dev, "fake").ok());
    hart = std::make_unique<Hart>(*bus, clock, 0);
    hart->reset(kRamBase);
  }
  void load(const Asm& a) { std::memcpy(host(a.base()), a.bytes().data(), a.bytes().size()); }
  uint8_t* host(uint64_t gpa) { return ram->host() + (gpa - kRamBase); }
  uint64_t read64(uint64_t gpa) {
    uint64_t v;
    std::memcpy(&v, host(gpa), 8);
    return v;
  }
  void write64(uint64_t gpa, uint64_t v) { std::memcpy(host(gpa), &v, 8); }
  uint32_t read32(uint64_t gpa) {
    uint32_t v;
    std::memcpy(&v, host(gpa), 4);
    return v;
  }
  // Runs until WFI (the tests' "halt") or the budget runs out.
  StopReason run(uint64_t budget = 1'000'000) { return hart->run(budget); }
  uint64_t x(unsigned i) const { return hart->reg(i); }
  uint64_t csr(unsigned c) {
    uint64_t v = 0;
    EXPECT_TRUE(hart->read_csr(c, &v)) << "csr 0x" << std::hex << c;
    return v;
  }

  // Puts emit_m_handler() code at kHandler and points mtvec at it.
  static constexpr uint64_t kHandler = kRamBase + 0x1000;
  void install_m_handler();

  FakeClock clock;
  FakeDevice dev;
  std::unique_ptr<mem::GuestMemory> ram;
  std::unique_ptr<mem::PhysBus> bus;
  std::unique_ptr<Hart> hart;
};

// Emits an M-mode trap handler that copies mcause/mepc/mtval into
// x28/x29/x30 and halts with WFI (MIE stays 0 inside the handler).
inline void emit_m_handler(Asm& a) {
  a.csrr(28, kCsrMcause);
  a.csrr(29, kCsrMepc);
  a.csrr(30, kCsrMtval);
  a.wfi();
}
inline void emit_s_handler(Asm& a) {
  a.csrr(28, kCsrScause);
  a.csrr(29, kCsrSepc);
  a.csrr(30, kCsrStval);
  a.wfi();
}

inline void Machine::install_m_handler() {
  Asm h(kHandler);
  emit_m_handler(h);
  load(h);
  EXPECT_TRUE(hart->write_csr(kCsrMtvec, kHandler));
}

}  // namespace tandem::cpu::test
