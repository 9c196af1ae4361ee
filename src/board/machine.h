// A whole virtual machine on the virt board: RAM, 1 to kMaxHarts harts, the
// devices of memory_map.h, host backends, and the run loop that drives them
// on the vCPU thread, with a host thread for each further hart, or under
// --icount the harts taking turns on it (docs/architecture.md, "Threads"
// and "SMP").
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"
#include "board/clocks.h"
#include "board/console.h"
#include "board/hart_threads.h"
#include "board/machine_config.h"
#include "cpu/hart.h"
#include "cpu/smp_sync.h"
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
#include "net/output_gate.h"
#include "mem/guest_memory.h"
#include "mem/phys_bus.h"

namespace tandem::board {

class Machine {
 public:
  // `keep`: drives to attach as they are instead of opening their spec
  // (kept_drives() of the machine before a guest reboot), by drive index;
  // a null entry opens the spec.
  static Result<std::unique_ptr<Machine>> create(const MachineConfig& config,
                                                 std::vector<std::shared_ptr<dev::BlockBackend>> keep = {});
  ~Machine();

  // Runs until the guest powers off, the finisher reports, or the user
  // quits; returns the process exit status.
  Result<int> run();

  // Hart i (its mhartid), 0 <= i < hart_count().
  cpu::Hart& hart(size_t i) { return *harts_[i]; }
  const cpu::Hart& hart(size_t i) const { return *harts_[i]; }
  size_t hart_count() const { return harts_.size(); }
  // Instructions retired by all harts together.
  uint64_t instret() const;
  // Every hart's block log (cpu::Hart, "decoding ahead"): the code hints of
  // a working set. Taken as hart 0's log followed by each next hart's (a
  // block two harts ran is listed twice: a hint taken twice costs little).
  void start_block_logs();
  std::vector<uint64_t> block_logs() const;
  std::vector<uint64_t> take_block_logs();
  // The blocks the harts ran most recently but not since their logs
  // started (Hart::recent_blocks), at most `max`: each hart's most recent
  // first, taken in turn, each block once.
  std::vector<uint64_t> recent_blocks(size_t max) const;
  // Blocks the harts took from those decoded ahead for them, summed.
  uint64_t blocks_adopted() const;
  mem::GuestMemory& ram() { return *ram_; }
  const MachineConfig& config() const { return config_; }
  dev::Clint& clint() { return *clint_; }
  dev::Plic& plic() { return *plic_; }
  dev::Uart16550& uart() { return *uart_; }
  dev::GoldfishRtc& rtc() { return *rtc_; }
  dev::TestFinisher& finisher() { return *finisher_; }
  size_t virtio_count() const { return virtio_devices_.size(); }
  dev::VirtioDevice& virtio_device(size_t slot) { return *virtio_devices_[slot]; }
  dev::VirtioMmio& virtio_transport(size_t slot) { return *virtio_transports_[slot]; }
  size_t nic_count() const { return nics_.size(); }
  net::NicState save_nic(size_t i) const;
  // Whether restore_nic(i, state, backend) would take `state`, changing
  // nothing (libslirp's own loader may still refuse its part).
  Status check_nic(size_t i, const net::NicState& state, bool backend = true) const;
  // After set_clock_ticks(): the backend re-arms its timers from guest time.
  // `backend` false leaves the backend as it is (a fault-tolerance
  // secondary runs another backend than its primary's snapshot names).
  Status restore_nic(size_t i, const net::NicState& state, bool backend = true);

  // --- components: everything with guest-visible state ---
  // The board side of NIC `index`: save_nic(), check_nic(), restore_nic().
  struct NicPort {
    size_t index;
  };
  using ComponentRef =
      std::variant<cpu::Hart*, dev::Plic*, dev::Clint*, dev::Uart16550*, dev::GoldfishRtc*, dev::TestFinisher*,
                   dev::VirtioBlk*, dev::VirtioNet*, dev::VirtioRng*, dev::VirtioMmio*, NicPort>;
  struct Component {
    uint32_t instance;  // hart id, virtio slot or NIC index; 0 for the others
    ComponentRef ref;
  };
  // In the order a restore applies them: the harts by id (guest time
  // derives from their instret), the PLIC (devices re-raising their lines then land in a
  // restored PLIC), CLINT, UART, RTC, finisher, each virtio slot's device
  // then its transport, the NICs. state/components.h serializes them.
  std::vector<Component> components();

  // Guest time in clock ticks, and setting it (restore). Under --icount
  // only the idle-skip part is settable; instret comes with the harts.
  uint64_t clock_ticks() const { return clock_->now(); }
  // The deterministic entropy stream's position (--icount only; else 0).
  uint64_t entropy_state() const;
  void set_entropy_state(uint64_t state);
  void set_clock_ticks(uint64_t ticks);

  // --- control, on the vCPU thread (from hooks and I/O callbacks);
  // request_exit() from any thread ---
  // Stops running guest instructions (time stops too); I/O is still served.
  // Under --icount the stop waits for the slice's end (at most 65,536
  // instructions), where timers and input are looked at anyway: a paused
  // and resumed run then stays identical to one never paused.
  void pause();
  void resume();
  bool paused() const { return paused_; }
  // Ends run() with this exit status after the current slice.
  void request_exit(int status);
  // The guest asked for a reset (sifive_test 0x7777, e.g. `reboot`): run()
  // returned and the caller builds a fresh machine from the same config.
  bool reset_requested() const { return reset_requested_; }
  // Ends run() as a guest reset would (the monitor's system_reset).
  void request_reset();
  // The drives a reboot must not lose, by drive index (null for the
  // others): private copies (snapshot=on), whose content lives only in
  // this process. A reboot keeps them, as QEMU's reset keeps -snapshot's.
  std::vector<std::shared_ptr<dev::BlockBackend>> kept_drives() const;
  // Console input read from the host but not yet taken by the guest:
  // carried over a reset so piped commands are not lost.
  std::deque<uint8_t>& pending_console_input() { return console_.pending_input(); }
  // Hooks called between slices (and while paused, after each poll), in
  // the order added; a hook must not add or remove hooks. Every hart is
  // stopped while hooks run. With harts on threads of their own, the
  // harts only stop for hooks that are due: `due` (absent: always) is
  // asked between hart 0's slices while the other harts run, so it may
  // look only at its owner's state and at output_holds(), never at the
  // guest's. Any stop of the harts runs every hook, due or not.
  int add_slice_hook(std::function<void()> hook, std::function<bool()> due = {});
  void remove_slice_hook(int id);
  // The guest profile (--guest-profile, monitor guest-profile): sampled
  // once started; start() and writes only with every hart stopped (a
  // slice hook, a monitor command). Made when run() starts.
  GuestProfile* guest_profile() { return profile_.get(); }
  // To `path`, kernel PCs named from --guest-symbols, else the System.map
  // beside the kernel (the default guest keeps one), else not named.
  Status write_guest_profile(const std::string& path) const;
  // Host fds served by the run loop's poll (the monitor socket, ...).
  // `can_wake_guest` false: the fd can only end the VM (a signalfd), so
  // under --icount it does not keep a hopeless WFI waiting.
  void add_io_source(int fd, std::function<void()> on_readable, bool can_wake_guest = true);
  void remove_io_source(int fd);
  // --- output commit (replication), on the vCPU thread ---
  // While held, every frame a NIC sends and every console byte is kept,
  // tagged with the output epoch current when the guest produced it, until
  // release_output() reaches that epoch (the backup holds the checkpoint
  // that produced it). hold_output(false) releases everything.
  void hold_output(bool on);
  void set_output_epoch(uint64_t epoch) {
    output_epoch_ = epoch;
    output_in_epoch_ = false;
  }
  uint64_t output_epoch() const { return output_epoch_; }
  void release_output(uint64_t through);
  // Everything held, whatever its epoch; the gates go on holding.
  void release_all_output();
  // Whether the guest produced output (held) since the last
  // set_output_epoch(): an epoch worth ending early.
  bool output_in_epoch() const { return output_in_epoch_; }
  // Every hart waits for an interrupt (WFI): slice hooks run once as the
  // machine starts to idle, and then between polls, seeing true.
  bool idle_now() const { return in_idle_; }
  // Every hart stopped at a WFI and none has woken yet (idle_now(), or
  // slice hooks run just before the machine idles). A state captured then
  // is restored with set_waiting_for_interrupt(): run() waits for the
  // interrupt before the first instruction, as the captured VM would have
  // (a hart stands past its WFI, and would otherwise go on at once).
  bool waiting_for_interrupt() const { return waiting_ == all_harts(); }
  // Also from a slice hook while idle: false ends the wait (a live
  // restore of a state captured while running). For every hart.
  void set_waiting_for_interrupt(bool waiting = true) { waiting_ = waiting ? all_harts() : 0; }
  // The same per hart: bit i set while hart i stands past a WFI it has not
  // woken from (it sits out its turns). What a snapshot records.
  uint32_t harts_waiting() const { return waiting_; }
  void set_harts_waiting(uint32_t mask) { waiting_ = mask & all_harts(); }
  // Failover: held output of epochs that were never acknowledged.
  void discard_held_output();
  size_t held_output_bytes() const;
  // How many frames and console writes the gates have held so far; any
  // thread, so a slice hook's `due` can tell that output waits for it.
  uint64_t output_holds() const { return output_holds_.load(std::memory_order_relaxed); }
  // The guest's MAC of NIC i, and a frame sent from that NIC's host side
  // past the gates (a backup announcing the guest after it took over).
  dev::MacAddress nic_mac(size_t i) const { return nics_[i]->device->mac(); }
  void send_host_frame(size_t i, const uint8_t* frame, size_t len) { nics_[i]->backend->send(frame, len); }
  // --- fault tolerance's taps, on the vCPU thread (src/ft/) ---
  // Every frame a NIC's backend hands the guest, as it is queued for it
  // (the primary mirrors it to its secondary). Return false to drop it (a
  // secondary's guest gets only the frames its primary mirrors).
  using FrameTap = std::function<bool(size_t nic, const uint8_t* frame, size_t len)>;
  void set_input_tap(FrameTap tap) { input_tap_ = std::move(tap); }
  // Every frame the guest sends, before the output gate; return false to
  // keep it from the gate and the backend (compared output, held by the
  // tap's owner, which sends it with send_host_frame()).
  void set_output_tap(FrameTap tap) { output_tap_ = std::move(tap); }
  // Console input read from the host (mirrored by a primary; false drops
  // it: a secondary's guest types only what the primary's does).
  using BytesTap = std::function<bool(const uint8_t* data, size_t len)>;
  void set_console_input_tap(BytesTap tap) { console_tap_ = std::move(tap); }
  void inject_console_input(const uint8_t* data, size_t len) {
    console_.pending_input().insert(console_.pending_input().end(), data, data + len);
  }
  // Queues a frame for the guest of NIC i as if its backend had sent it.
  void inject_frame(size_t i, const uint8_t* frame, size_t len);
  // Where virtio-rng's bytes come from from now on (null: the machine's
  // own source again); the caller keeps `source` alive while set.
  void set_entropy_source(dev::EntropySource* source);
  dev::EntropySource* own_entropy_source() { return entropy_.get(); }
  // Sets up everything but memory contents and CPU state: for restore.
  static Result<std::unique_ptr<Machine>> create_empty(const MachineConfig& config);

 private:
  explicit Machine(const MachineConfig& config);
  Status build(bool load);
  Status attach_devices();
  Status load_images();
  void poll_io(int64_t timeout_ns);
  // Host fds the run loop polls: the console's, each io source's, each
  // network backend's.
  struct PollSet {
    std::vector<pollfd> fds;
    bool console = false;
    size_t first_source = 0;
    int backend_ms = -1;  // the backends' timer
  };
  PollSet poll_set();
  int wait_io(PollSet& set, int64_t timeout_ns);
  // Console input or a ready io source: for the vCPU thread alone.
  bool host_input_ready(const PollSet& set) const;
  void dispatch_host_input(PollSet& set);
  void dispatch_network(PollSet& set);
  void feed_console();
  // Renews every virtio queue's work budget and resumes the work a budget
  // deferred (dev::VirtioMmio::new_slice()); whether any was deferred.
  bool serve_deferred_io();
  void idle();
  // Taking turns: each hart that does not wait runs to the end of its
  // quantum, in hart order. On threads: run_threads() (docs/architecture.md,
  // "SMP"), which returns with every hart held.
  void run_round();
  void run_threads();
  // Between hart 0's slices with the other harts running: whether every
  // hart must stop (a slice hook due, host input for a callback); else
  // serves the network.
  bool world_needed();
  // Taking turns: whether hart i runs this round (it may wake from a WFI).
  bool hart_runs(size_t i);
  uint32_t all_harts() const { return (uint32_t{1} << harts_.size()) - 1; }
  bool any_hart_should_wake() const;
  // Clears the waiting bit of every hart an interrupt wakes.
  void wake_harts();
  void stop_harts();  // request_stop() on each
  uint64_t next_deadline() const;
  // Under --icount, whether anything but a timer could end a WFI: console
  // input, a network backend, another input source (the monitor).
  bool has_input_sources() const;
  void print_stats(double seconds) const;

  // One guest NIC: the virtio device, its host backend, and frames from
  // the backend waiting for the guest to post receive buffers.
  struct Nic : dev::PacketSink {
    std::unique_ptr<net::Backend> backend;
    dev::VirtioNet* device = nullptr;  // owned by virtio_devices_
    std::deque<std::vector<uint8_t>> rx_queue;
    net::OutputGate gate{[this](const uint8_t* f, size_t n) { backend->send(f, n); }};
    const uint64_t* epoch = nullptr;  // Machine::output_epoch_
    bool* held = nullptr;             // Machine::output_in_epoch_
    std::atomic<uint64_t>* holds = nullptr;  // Machine::output_holds_
    const FrameTap* tap = nullptr;    // Machine::output_tap_
    size_t index = 0;
    // A frame the gate refuses (older than one released) is dropped, as
    // a full queue would drop it.
    void send(const uint8_t* frame, size_t len) override {
      if (*tap && !(*tap)(index, frame, len)) return;
      if (!gate.pass_through()) {
        *held = true;
        holds->fetch_add(1, std::memory_order_relaxed);
      }
      (void)gate.hold(*epoch, frame, len);
    }
  };
  Status attach_virtio(std::unique_ptr<dev::VirtioDevice> device);
  void deliver_network_frames();
  void queue_for_guest(Nic& n, const uint8_t* frame, size_t len);

  struct ConsoleSink : dev::CharSink {
    HostConsole* console = nullptr;
    net::OutputGate gate{[this](const uint8_t* d, size_t n) { console->write(d, n); }};
    const uint64_t* epoch = nullptr;  // Machine::output_epoch_
    bool* held = nullptr;             // Machine::output_in_epoch_
    std::atomic<uint64_t>* holds = nullptr;  // Machine::output_holds_
    void write(const uint8_t* data, size_t len) override {
      if (!gate.pass_through()) {
        *held = true;
        holds->fetch_add(1, std::memory_order_relaxed);
      }
      (void)gate.hold(*epoch, data, len);
    }
  };

  MachineConfig config_;
  std::vector<std::shared_ptr<dev::BlockBackend>> keep_drives_;  // create()'s `keep`, until attached
  std::unique_ptr<mem::GuestMemory> ram_;
  std::unique_ptr<mem::PhysBus> bus_;
  std::unique_ptr<Clock> clock_;
  HostClock* host_clock_ = nullptr;       // one of these two is clock_
  InstructionClock* icount_clock_ = nullptr;
  std::vector<std::unique_ptr<cpu::Hart>> harts_;
  // With 2 or more harts and no --icount: what their threads share, and
  // the threads (made when run() starts, gone when it returns).
  std::unique_ptr<cpu::SmpSync> smp_sync_;
  std::unique_ptr<HartThreads> hart_threads_;
  std::unique_ptr<GuestProfile> profile_;  // --guest-profile
  // Why run_threads() held the harts (--stats): a slice hook due, host
  // input for the vCPU thread, every hart waiting.
  struct Holds {
    uint64_t hooks = 0, input = 0, idle = 0;
  } holds_;

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
  FrameTap input_tap_, output_tap_;
  BytesTap console_tap_;

  // request_exit() may come from a helper thread (a restore's streamer).
  std::atomic<bool> finished_{false};
  std::atomic<int> exit_code_{0};
  bool paused_ = false;
  bool reset_requested_ = false;
  uint64_t output_epoch_ = 0;
  bool output_in_epoch_ = false;
  std::atomic<uint64_t> output_holds_{0};
  bool in_idle_ = false;
  uint32_t waiting_ = 0;  // harts_waiting()
  void run_slice_hooks();
  struct SliceHook {
    int id;
    std::function<void()> run;
    std::function<bool()> due;
  };
  std::vector<SliceHook> slice_hooks_;
  int next_hook_id_ = 0;
  struct IoSource {
    int fd;
    std::function<void()> on_readable;
    bool can_wake_guest;
  };
  std::vector<IoSource> io_sources_;
};

}  // namespace tandem::board
