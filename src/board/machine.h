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
#include "dev/virtio_blk.h"
#include "dev/virtio_mmio.h"
#include "dev/virtio_net.h"
#include "dev/virtio_rng.h"
#include "net/backend.h"
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
  void poll_io(int64_t timeout_ns);
  void feed_console();
  void idle();
  uint64_t next_deadline() const;
  void print_stats(double seconds) const;

  // One guest NIC: the virtio device, its host backend, and frames from
  // the backend waiting for the guest to post receive buffers.
  struct Nic : dev::PacketSink {
    std::unique_ptr<net::Backend> backend;
    dev::VirtioNet* device = nullptr;  // owned by virtio_devices_
    std::deque<std::vector<uint8_t>> rx_queue;
    void send(const uint8_t* frame, size_t len) override { backend->send(frame, len); }
  };
  Status attach_virtio(std::unique_ptr<dev::VirtioDevice> device);
  void deliver_network_frames();

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
  std::unique_ptr<dev::EntropySource> entropy_;
  // Virtio devices in transport-slot order, and their transports.
  std::vector<std::unique_ptr<dev::VirtioDevice>> virtio_devices_;
  std::vector<std::unique_ptr<dev::VirtioMmio>> virtio_transports_;
  std::vector<std::unique_ptr<Nic>> nics_;

  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace tandem::board
