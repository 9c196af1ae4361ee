// A whole virtual machine on the virt board: RAM, one hart, the devices of
// memory_map.h, host backends, and the run loop that drives them on the
// vCPU thread (docs/architecture.md, "Threads").
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "base/result.h"
#include "board/clocks.h"
#include "board/console.h"
#include "board/machine_config.h"
#include "cpu/hart.h"
#include "dev/clint.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/test_finisher.h"
#include "dev/uart16550.h"
#include "mem/guest_memory.h"
#include "mem/phys_bus.h"

namespace tandem::board {

class Machine {
 public:
  static Result<std::unique_ptr<Machine>> create(const MachineConfig& config);
  ~Machine();

  // Runs until the guest powers off, the finisher reports, or the user
  // quits; returns the process exit status.
  Result<int> run();

  cpu::Hart& hart() { return *hart_; }
  mem::GuestMemory& ram() { return *ram_; }
  const MachineConfig& config() const { return config_; }

 private:
  explicit Machine(const MachineConfig& config);
  Status build();
  Status attach_devices();
  Status load_images();
  void poll_io(int timeout_ns);
  void feed_console();
  void idle();
  uint64_t next_deadline() const;
  void print_stats(double seconds) const;

  struct ConsoleSink : dev::CharSink {
    HostConsole* console = nullptr;
    void write(const uint8_t* data, size_t len) override { console->write(data, len); }
  };

  MachineConfig config_;
  std::unique_ptr<mem::GuestMemory> ram_;
  std::unique_ptr<mem::PhysBus> bus_;
  std::unique_ptr<Clock> clock_;
  HostClock* host_clock_ = nullptr;       // one of these two is clock_
  InstructionClock* icount_clock_ = nullptr;
  std::unique_ptr<cpu::Hart> hart_;

  HostConsole console_;
  ConsoleSink console_sink_;
  std::unique_ptr<dev::Clint> clint_;
  std::unique_ptr<dev::Plic> plic_;
  std::unique_ptr<dev::Uart16550> uart_;
  std::unique_ptr<dev::TestFinisher> finisher_;
  std::unique_ptr<dev::GoldfishRtc> rtc_;

  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace tandem::board
