// SiFive test finisher ("sifive,test0", used through syscon by Linux's
// poweroff/reboot drivers): a 32-bit write ends or resets the machine.
#pragma once

#include <cstdint>
#include <functional>

#include "base/result.h"
#include "mem/mmio.h"

namespace tandem::dev {

// Register map: one write-only register at offset 0 (QEMU
// hw/misc/sifive_test.c), written 32 or 16 bits wide (OpenSBI uses 16):
// the low 16 bits select the action, the high 16 bits carry the exit code
// of a failure.
inline constexpr uint64_t kFinisherSize = 0x1000;
inline constexpr uint32_t kFinisherFail = 0x3333;
inline constexpr uint32_t kFinisherPass = 0x5555;
inline constexpr uint32_t kFinisherReset = 0x7777;

class TestFinisher : public mem::MmioDevice {
 public:
  enum class Action { kPass, kFail, kReset };
  struct Event {
    Action action;
    uint32_t code;  // exit code for kFail; 0 otherwise
  };
  // No guest-visible state; kept for a uniform save/restore interface.
  struct State {
    bool operator==(const State&) const = default;
  };

  TestFinisher() = default;
  // The board decides what passing, failing and resetting mean.
  void set_handler(std::function<void(const Event&)> handler) { handler_ = std::move(handler); }

  bool load(uint64_t offset, unsigned size, uint64_t* value) override;
  bool store(uint64_t offset, unsigned size, uint64_t value) override;

  State save() const { return {}; }
  Status check(const State&) const { return Ok(); }
  Status restore(const State&) { return Ok(); }

 private:
  std::function<void(const Event&)> handler_;
};

}  // namespace tandem::dev
