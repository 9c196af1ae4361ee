#include "board/machine.h"

#include <poll.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unordered_set>

#include "board/elf_loader.h"
#include "board/entropy.h"
#include "board/fdt.h"
#include "board/memory_map.h"

namespace tandem::board {

namespace {

// Instructions per run-loop slice: between slices the CLINT is updated and
// host input is polled. ~0.3 ms at 200 MIPS keeps timer and console latency
// low while the poll() costs nothing measurable. With N harts a slice is a
// round: taking turns, each hart runs a quantum of kSliceInstructions / N;
// on threads of their own, each runs slice after slice.
constexpr uint64_t kSliceInstructions = 1 << 16;

std::vector<cpu::Hart*> hart_pointers(const std::vector<std::unique_ptr<cpu::Hart>>& harts) {
  std::vector<cpu::Hart*> out;
  for (const auto& h : harts) out.push_back(h.get());
  return out;
}
// Frames from a network backend held for a guest that posts no receive
// buffers: like a NIC ring, the oldest go first beyond this.
constexpr size_t kNicRxFrames = 512;

// mip bit numbers (privileged spec 3.1.9).
constexpr unsigned kMipMsip = 3, kMipMtip = 7, kMipSeip = 9, kMipMeip = 11;

uint64_t wall_clock_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

// Under --icount the RTC starts at a fixed instant so runs are identical.
constexpr uint64_t kIcountEpochNs = 1'767'225'600ull * 1'000'000'000;  // 2026-01-01

}  // namespace

Machine::Machine(const MachineConfig& config) : config_(config) {}

Machine::~Machine() = default;

Result<std::unique_ptr<Machine>> Machine::create(const MachineConfig& config,
                                                 std::vector<std::shared_ptr<dev::BlockBackend>> keep) {
  std::unique_ptr<Machine> m(new Machine(config));
  m->keep_drives_ = std::move(keep);
  TANDEM_TRY(m->build(/*load=*/true));
  return m;
}

std::vector<std::shared_ptr<dev::BlockBackend>> Machine::kept_drives() const {
  std::vector<std::shared_ptr<dev::BlockBackend>> out;
  for (const auto& d : virtio_devices_)
    if (auto* blk = dynamic_cast<const dev::VirtioBlk*>(d.get()))
      out.push_back(blk->shared_backend()->is_private() ? blk->shared_backend() : nullptr);
  return out;
}

Result<std::unique_ptr<Machine>> Machine::create_empty(const MachineConfig& config) {
  std::unique_ptr<Machine> m(new Machine(config));
  TANDEM_TRY(m->build(/*load=*/false));
  return m;
}

void Machine::set_clock_ticks(uint64_t ticks) {
  if (host_clock_) host_clock_->set(ticks);
  if (icount_clock_) {
    uint64_t from_instret = instret() / InstructionClock::kInstructionsPerTick;
    icount_clock_->set_skipped(ticks > from_instret ? ticks - from_instret : 0);
  }
}

uint64_t Machine::instret() const {
  uint64_t n = 0;
  for (const auto& h : harts_) n += h->instret();
  return n;
}

void Machine::start_block_logs() {
  for (auto& h : harts_) h->start_block_log();
}

std::vector<uint64_t> Machine::block_logs() const {
  std::vector<uint64_t> out;
  for (const auto& h : harts_) out.insert(out.end(), h->block_log().begin(), h->block_log().end());
  return out;
}

std::vector<uint64_t> Machine::take_block_logs() {
  std::vector<uint64_t> out = harts_[0]->take_block_log();
  for (size_t i = 1; i < harts_.size(); i++) {
    std::vector<uint64_t> more = harts_[i]->take_block_log();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

std::vector<uint64_t> Machine::recent_blocks(size_t max) const {
  std::vector<std::vector<uint64_t>> each;
  for (const auto& h : harts_) each.push_back(h->recent_blocks(max));
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; out.size() < max; i++) {
    bool any = false;
    for (const auto& list : each) {
      if (i >= list.size() || out.size() == max) continue;
      any = true;
      if (seen.insert(list[i]).second) out.push_back(list[i]);
    }
    if (!any) break;
  }
  return out;
}

uint64_t Machine::blocks_adopted() const {
  uint64_t n = 0;
  for (const auto& h : harts_) n += h->blocks_adopted();
  return n;
}

void Machine::stop_harts() {
  for (auto& h : harts_) h->request_stop();
}

uint64_t Machine::entropy_state() const {
  auto* seeded = dynamic_cast<SeededEntropy*>(entropy_.get());
  return seeded ? seeded->state() : 0;
}

void Machine::set_entropy_state(uint64_t state) {
  if (auto* seeded = dynamic_cast<SeededEntropy*>(entropy_.get())) seeded->set_state(state);
}

void Machine::pause() {
  if (paused_) return;
  paused_ = true;
  if (host_clock_) host_clock_->pause();
  if (!icount_clock_) stop_harts();
}

void Machine::resume() {
  if (!paused_) return;
  paused_ = false;
  if (host_clock_) host_clock_->resume();
}

void Machine::request_exit(int status) {
  exit_code_ = status;
  finished_ = true;
  stop_harts();
}

void Machine::request_reset() {
  reset_requested_ = true;
  exit_code_ = 0;
  finished_ = true;
  stop_harts();
}

int Machine::add_slice_hook(std::function<void()> hook, std::function<bool()> due) {
  slice_hooks_.push_back({++next_hook_id_, std::move(hook), std::move(due)});
  return next_hook_id_;
}

void Machine::remove_slice_hook(int id) {
  std::erase_if(slice_hooks_, [id](const SliceHook& h) { return h.id == id; });
}

void Machine::hold_output(bool on) {
  console_sink_.gate.set_pass_through(!on);
  for (auto& nic : nics_) nic->gate.set_pass_through(!on);
}

void Machine::release_output(uint64_t through) {
  console_sink_.gate.release_through(through);
  for (auto& nic : nics_) nic->gate.release_through(through);
}

void Machine::release_all_output() {
  console_sink_.gate.release_all();
  for (auto& nic : nics_) nic->gate.release_all();
}

void Machine::discard_held_output() {
  console_sink_.gate.discard_all();
  for (auto& nic : nics_) nic->gate.discard_all();
}

size_t Machine::held_output_bytes() const {
  size_t n = console_sink_.gate.held_bytes();
  for (const auto& nic : nics_) n += nic->gate.held_bytes();
  return n;
}

void Machine::run_slice_hooks() {
  for (auto& h : slice_hooks_) h.run();
}

void Machine::add_io_source(int fd, std::function<void()> on_readable, bool can_wake_guest) {
  io_sources_.push_back({fd, std::move(on_readable), can_wake_guest});
}

void Machine::remove_io_source(int fd) {
  for (auto it = io_sources_.begin(); it != io_sources_.end(); ++it)
    if (it->fd == fd) {
      io_sources_.erase(it);
      return;
    }
}

Status Machine::build(bool load) {
  auto ram = mem::GuestMemory::create(kRamBase, config_.ram_size);
  if (!ram.ok()) return ram.error();
  ram_ = std::move(ram).value();
  bus_ = std::make_unique<mem::PhysBus>(*ram_);

  if (config_.harts < 1 || config_.harts > kMaxHarts)
    return Error("-smp " + std::to_string(config_.harts) + ": the board has 1 to " + std::to_string(kMaxHarts) +
                 " harts");
  if (config_.icount) {
    // Guest time follows the instructions of all harts together: a pure
    // function of the run, as the round-robin order is fixed.
    auto c = std::make_unique<InstructionClock>([this] { return instret(); });
    icount_clock_ = c.get();
    clock_ = std::move(c);
  } else {
    auto c = std::make_unique<HostClock>();
    host_clock_ = c.get();
    clock_ = std::move(c);
  }
  // The translator is the default: faster, and the whole suite passes
  // with it (docs/performance.md, "The translator").
  std::string engine = config_.engine;
  if (const char* env = std::getenv("TANDEM_ENGINE"); engine.empty() && env && *env) engine = env;
  if (!engine.empty() && engine != "interp" && engine != "jit")
    return Error("CPU engine '" + engine + "' (--engine or TANDEM_ENGINE): expected interp or jit");
  for (unsigned i = 0; i < config_.harts; i++) {
    harts_.push_back(std::make_unique<cpu::Hart>(*bus_, *clock_, i));
    if (engine != "interp") harts_.back()->set_engine(cpu::Engine::kJit);
  }
  for (auto& h : harts_) {
    std::vector<cpu::Hart*> peers;
    for (auto& p : harts_)
      if (p != h) peers.push_back(p.get());
    h->set_peers(std::move(peers));
  }
  if (harts_.size() > 1 && config_.hart_threads && !config_.icount) {
    smp_sync_ = std::make_unique<cpu::SmpSync>();
    for (auto& h : harts_) h->set_smp_sync(smp_sync_.get());
    smp_sync_->set_harts(hart_pointers(harts_));
    ram_->set_code_write_exclusive(smp_sync_.get());
  }
  TANDEM_TRY(attach_devices());
  if (!load) {
    for (auto& h : harts_) h->reset(kRamBase);
    return Ok();
  }
  return load_images();
}

Status Machine::attach_devices() {
  const auto n = static_cast<unsigned>(harts_.size());
  clint_ = std::make_unique<dev::Clint>(*clock_, n);
  plic_ = std::make_unique<dev::Plic>(n);
  for (unsigned i = 0; i < n; i++) {
    cpu::Hart* h = harts_[i].get();
    clint_->connect(i, IrqLine(h, kMipMsip), IrqLine(h, kMipMtip));
    // As on QEMU's virt board: context 2i is hart i's M mode, 2i+1 its S mode.
    plic_->connect(2 * i, IrqLine(h, kMipMeip));
    plic_->connect(2 * i + 1, IrqLine(h, kMipSeip));
  }
  console_sink_.console = &console_;
  console_sink_.epoch = &output_epoch_;
  console_sink_.held = &output_in_epoch_;
  console_sink_.holds = &output_holds_;
  uart_ = std::make_unique<dev::Uart16550>(&console_sink_, IrqLine(plic_.get(), kUartIrq));
  finisher_ = std::make_unique<dev::TestFinisher>();
  finisher_->set_handler([this](const dev::TestFinisher::Event& e) {
    finished_ = true;
    exit_code_ = e.action == dev::TestFinisher::Action::kFail ? static_cast<int>(e.code) : 0;
    reset_requested_ = e.action == dev::TestFinisher::Action::kReset;
    stop_harts();
  });
  std::function<uint64_t()> rtc_time = wall_clock_ns;
  if (config_.icount) rtc_time = [this] { return kIcountEpochNs + clock_->now() * 100; };
  rtc_ = std::make_unique<dev::GoldfishRtc>(rtc_time, IrqLine(plic_.get(), kRtcIrq));

  TANDEM_TRY(bus_->map(kTestBase, kTestSize, finisher_.get(), "test finisher"));
  TANDEM_TRY(bus_->map(kRtcBase, kRtcSize, rtc_.get(), "goldfish rtc"));
  TANDEM_TRY(bus_->map(kClintBase, kClintSize, clint_.get(), "clint"));
  TANDEM_TRY(bus_->map(kPlicBase, kPlicSize, plic_.get(), "plic"));
  TANDEM_TRY(bus_->map(kUartBase, kUartSize, uart_.get(), "uart"));

  for (size_t i = 0; i < config_.drives.size(); i++) {
    const std::string& spec = config_.drives[i];
    auto options = dev::VirtioBlk::parse_spec(spec);
    if (!options.ok()) return options.error().context("drive '" + spec + "'");
    if (i < keep_drives_.size() && keep_drives_[i]) {
      TANDEM_TRY(attach_virtio(dev::VirtioBlk::open(*options, std::move(keep_drives_[i]))));
      continue;
    }
    auto blk = dev::VirtioBlk::open(*options);
    if (!blk.ok()) return blk.error();  // it names the drive's file
    TANDEM_TRY(attach_virtio(std::move(blk).value()));
  }
  keep_drives_.clear();
  for (const auto& spec : config_.nets) {
    // Guest time in ns (ticks are 100 ns): the backend's timers stop with
    // the VM and are exact under --icount.
    auto backend = net::make_backend(spec, [this] { return static_cast<int64_t>(clock_->now() * 100); });
    if (!backend.ok()) return backend.error().context("network '" + spec + "'");
    auto nic = std::make_unique<Nic>();
    nic->backend = std::move(backend).value();
    auto device = std::make_unique<dev::VirtioNet>(nic.get());
    nic->device = device.get();
    nic->epoch = &output_epoch_;
    nic->held = &output_in_epoch_;
    nic->holds = &output_holds_;
    nic->tap = &output_tap_;
    nic->index = nics_.size();
    Nic* n = nic.get();
    n->backend->set_receive([this, n](const uint8_t* frame, size_t len) {
      if (input_tap_ && !input_tap_(n->index, frame, len)) return;
      queue_for_guest(*n, frame, len);
    });
    TANDEM_TRY(attach_virtio(std::move(device)));
    nics_.push_back(std::move(nic));
  }
  if (config_.rng) {
    if (config_.icount)
      entropy_ = std::make_unique<SeededEntropy>(0x74616e64656dULL);  // "tandem"
    else
      entropy_ = std::make_unique<HostEntropy>();
    TANDEM_TRY(attach_virtio(std::make_unique<dev::VirtioRng>(entropy_.get())));
  }
  return Ok();
}

Status Machine::attach_virtio(std::unique_ptr<dev::VirtioDevice> device) {
  unsigned slot = static_cast<unsigned>(virtio_devices_.size());
  if (slot >= kVirtioCount)
    return Error("too many virtio devices (the board has " + std::to_string(kVirtioCount) + " transports)");
  auto transport = std::make_unique<dev::VirtioMmio>(*ram_, *device, IrqLine(plic_.get(), kVirtioIrqBase + slot));
  TANDEM_TRY(bus_->map(kVirtioBase + slot * kVirtioStride, kVirtioStride, transport.get(),
                       std::string(device->name()) + " (virtio-mmio slot " + std::to_string(slot) + ")"));
  virtio_devices_.push_back(std::move(device));
  virtio_transports_.push_back(std::move(transport));
  return Ok();
}

net::NicState Machine::save_nic(size_t i) const {
  net::NicState s;
  s.rx_frames.assign(nics_[i]->rx_queue.begin(), nics_[i]->rx_queue.end());
  s.backend = nics_[i]->backend->save();
  return s;
}

Status Machine::check_nic(size_t i, const net::NicState& state, bool backend) const {
  if (i >= nics_.size()) return Error("network card " + std::to_string(i) + " does not exist");
  if (state.rx_frames.size() > kNicRxFrames)
    return Error(std::to_string(state.rx_frames.size()) + " frames waiting for the guest; at most " +
                 std::to_string(kNicRxFrames) + " can");
  if (backend) TANDEM_TRY(nics_[i]->backend->check(state.backend));
  return Ok();
}

Status Machine::restore_nic(size_t i, const net::NicState& state, bool backend) {
  TANDEM_TRY(check_nic(i, state, backend));
  if (backend) TANDEM_TRY(nics_[i]->backend->restore(state.backend));
  nics_[i]->rx_queue.assign(state.rx_frames.begin(), state.rx_frames.end());
  return Ok();
}

std::vector<Machine::Component> Machine::components() {
  std::vector<Component> out;
  for (size_t i = 0; i < harts_.size(); i++) out.push_back({static_cast<uint32_t>(i), harts_[i].get()});
  out.insert(out.end(), {{0, plic_.get()}, {0, clint_.get()}, {0, uart_.get()}, {0, rtc_.get()}, {0, finisher_.get()}});
  for (size_t slot = 0; slot < virtio_devices_.size(); slot++) {
    const auto n = static_cast<uint32_t>(slot);
    dev::VirtioDevice* d = virtio_devices_[slot].get();
    if (auto* blk = dynamic_cast<dev::VirtioBlk*>(d)) out.push_back({n, blk});
    else if (auto* net = dynamic_cast<dev::VirtioNet*>(d)) out.push_back({n, net});
    else if (auto* rng = dynamic_cast<dev::VirtioRng*>(d)) out.push_back({n, rng});
    out.push_back({n, virtio_transports_[slot].get()});
  }
  for (size_t i = 0; i < nics_.size(); i++) out.push_back({static_cast<uint32_t>(i), NicPort{i}});
  return out;
}

void Machine::queue_for_guest(Nic& n, const uint8_t* frame, size_t len) {
  // Like a NIC's ring: when the guest does not keep up, drop the oldest.
  if (n.rx_queue.size() >= kNicRxFrames) n.rx_queue.pop_front();
  n.rx_queue.emplace_back(frame, frame + len);
}

void Machine::inject_frame(size_t i, const uint8_t* frame, size_t len) {
  if (i < nics_.size()) queue_for_guest(*nics_[i], frame, len);
}

void Machine::set_entropy_source(dev::EntropySource* source) {
  for (auto& d : virtio_devices_)
    if (auto* rng = dynamic_cast<dev::VirtioRng*>(d.get())) rng->set_source(source ? source : entropy_.get());
}

void Machine::deliver_network_frames() {
  for (auto& nic : nics_) {
    while (!nic->rx_queue.empty() && nic->device->can_receive()) {
      const auto& f = nic->rx_queue.front();
      if (!nic->device->deliver(f.data(), f.size())) break;
      nic->rx_queue.pop_front();
    }
  }
}

Status Machine::load_images() {
  FdtConfig fdt;
  fdt.ram_base = kRamBase;
  fdt.ram_size = config_.ram_size;
  fdt.bootargs = config_.append;
  fdt.harts = static_cast<unsigned>(harts_.size());
  for (unsigned i = 0; i < virtio_devices_.size(); i++) fdt.virtio_slots.push_back(i);
  uint64_t entry;

  if (config_.bios == "none") {
    // Like QEMU's -bios none: the kernel must be an ELF; it runs in M-mode.
    if (!is_elf(config_.kernel)) {
      if (!std::ifstream(config_.kernel)) return sys_error("open kernel '" + config_.kernel + "'");
      return Error("--bios none needs an ELF kernel; '" + config_.kernel + "' is not an ELF file");
    }
    auto img = load_elf(config_.kernel, *ram_);
    if (!img.ok()) return img.error();
    entry = img->entry;
  } else {
    std::string bios = config_.bios == "default" ? kDefaultBios : config_.bios;
    auto fw = load_raw(bios, kFirmwareBase, *ram_);
    if (!fw.ok()) return fw.error().context("load firmware");
    entry = kFirmwareBase;
    uint64_t kernel_end;
    TANDEM_TRY(check_kernel_image(config_.kernel));
    if (is_elf(config_.kernel)) {
      auto k = load_elf(config_.kernel, *ram_);
      if (!k.ok()) return k.error();
      kernel_end = k->highest;
    } else {
      auto k = load_raw(config_.kernel, kKernelBase, *ram_);
      if (!k.ok()) return k.error().context("load kernel");
      kernel_end = k->highest;
    }
    if (!config_.initrd.empty()) {
      TANDEM_TRY(check_initrd(config_.initrd));
      // Where QEMU 7.2 puts it: half of RAM (at most 128 MiB) past the kernel.
      uint64_t start = kKernelBase + std::min<uint64_t>(config_.ram_size / 2, 128ull << 20);
      start = std::max(start, (kernel_end + 0xfffff) & ~uint64_t{0xfffff});
      auto i = load_raw(config_.initrd, start, *ram_);
      if (!i.ok()) return i.error().context("load initrd");
      fdt.initrd_start = i->lowest;
      fdt.initrd_end = i->highest;
    }
  }
  auto blob = build_fdt(fdt);
  if (!blob.ok()) return blob.error();
  // At the end of RAM (below 3 GiB), 2 MiB aligned, as QEMU does.
  uint64_t top = std::min<uint64_t>(kRamBase + config_.ram_size, 0xc0000000);
  uint64_t fdt_addr = (top - blob->size()) & ~uint64_t{0x1fffff};
  if (fdt.initrd_end > fdt_addr || fdt_addr < kRamBase)
    return Error("the device tree does not fit above the initrd; use a larger -m");
  TANDEM_TRY(ram_->write(fdt_addr, blob->data(), blob->size()));

  // Every hart starts at the entry, as on QEMU: the firmware picks the
  // boot hart and parks the others until the kernel starts them (SBI HSM).
  for (size_t i = 0; i < harts_.size(); i++) {
    harts_[i]->reset(entry);
    harts_[i]->set_reg(10, i);         // a0: hart id
    harts_[i]->set_reg(11, fdt_addr);  // a1: device tree
  }
  return Ok();
}

void Machine::feed_console() {
  auto& in = console_.pending_input();
  // Input a FIFO reset took back goes first again.
  std::vector<uint8_t> unread = uart_->take_unread_input();
  in.insert(in.begin(), unread.begin(), unread.end());
  if (!uart_->rx_interrupt_enabled()) return;
  while (!in.empty() && uart_->can_accept_input()) {
    uart_->push_input(in.front());
    in.pop_front();
  }
}

Machine::PollSet Machine::poll_set() {
  PollSet set;
  set.console = console_.input_fd() >= 0 && console_.pending_input().size() < 4096;
  if (set.console) set.fds.push_back({console_.input_fd(), POLLIN, 0});
  set.first_source = set.fds.size();
  for (const auto& src : io_sources_) set.fds.push_back({src.fd, POLLIN, 0});
  for (auto& nic : nics_) nic->backend->add_poll_fds(set.fds, set.backend_ms);
  return set;
}

int Machine::wait_io(PollSet& set, int64_t timeout_ns) {
  if (set.backend_ms >= 0 && (timeout_ns < 0 || int64_t{set.backend_ms} * 1'000'000 < timeout_ns))
    timeout_ns = int64_t{set.backend_ms} * 1'000'000;
  // Nothing to wait for and no time to wait: skip the system call, but
  // still dispatch (a backend may hold frames it made during the slice).
  if (set.fds.empty() && timeout_ns == 0) return 0;
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
  return ppoll(set.fds.data(), set.fds.size(), timeout_ns < 0 ? nullptr : &ts, nullptr);
}

bool Machine::host_input_ready(const PollSet& set) const {
  for (size_t i = 0; i < set.first_source + io_sources_.size(); i++)
    if (set.fds[i].revents) return true;
  return false;
}

void Machine::dispatch_host_input(PollSet& set) {
  if (set.console && set.fds[0].revents) {
    auto& in = console_.pending_input();
    const size_t before = in.size();
    console_.read_available();
    if (console_tap_ && in.size() > before) {
      std::vector<uint8_t> got(in.begin() + static_cast<std::ptrdiff_t>(before), in.end());
      if (!console_tap_(got.data(), got.size())) in.resize(before);
    }
  }
  // Callbacks may add or remove sources: collect the ready ones first.
  std::vector<int> ready;
  for (size_t i = 0; i < io_sources_.size(); i++)
    if (set.fds[set.first_source + i].revents) ready.push_back(io_sources_[i].fd);
  for (int fd : ready)
    for (const auto& src : io_sources_)
      if (src.fd == fd) {
        auto cb = src.on_readable;
        cb();
        break;
      }
}

void Machine::dispatch_network(PollSet& set) {
  for (auto& nic : nics_) nic->backend->dispatch(set.fds);
  deliver_network_frames();
}

// Waits up to timeout_ns (-1: until something happens) for host input:
// the console and every network backend, then hands it over.
void Machine::poll_io(int64_t timeout_ns) {
  PollSet set = poll_set();
  if (wait_io(set, timeout_ns) > 0) dispatch_host_input(set);
  dispatch_network(set);
}

bool Machine::serve_deferred_io() {
  bool any = false;
  for (auto& t : virtio_transports_) any |= t->new_slice();
  return any;
}

uint64_t Machine::next_deadline() const {
  uint64_t t = clint_->next_deadline();
  for (const auto& h : harts_) t = std::min(t, h->stimecmp_deadline());
  return t;
}

bool Machine::any_hart_should_wake() const {
  return std::any_of(harts_.begin(), harts_.end(), [](const auto& h) { return h->wfi_should_wake(); });
}

void Machine::wake_harts() {
  for (size_t i = 0; i < harts_.size(); i++)
    if (harts_[i]->wfi_should_wake()) waiting_ &= ~(uint32_t{1} << i);
}

bool Machine::has_input_sources() const {
  return console_.input_fd() >= 0 || !nics_.empty() ||
         std::any_of(io_sources_.begin(), io_sources_.end(), [](const IoSource& s) { return s.can_wake_guest; });
}

// Every hart is in WFI with nothing pending: wait for a timer or host input.
void Machine::idle() {
  console_.flush();
  in_idle_ = true;
  run_slice_hooks();  // before any sleep: a hook may act on the guest's waiting
  int hopeless = 0;
  while (waiting_for_interrupt() && !finished_ && !paused_ && !any_hart_should_wake() &&
         !console_.quit_requested()) {
    if (serve_deferred_io()) {
      // Device work left from a spent budget: no sleeping (or skipping
      // time) until it is done; its interrupt may end the WFI.
      poll_io(0);
      clint_->update();
      rtc_->update();
      feed_console();
      run_slice_hooks();
      continue;
    }
    uint64_t deadline = next_deadline();
    uint64_t now = clock_->now();
    if (icount_clock_) {
      // A WFI that no timer can end (none armed, or one due whose
      // interrupt the guest masks) and no input to wait for would block
      // or spin forever: stop with an error instead. A due timer gets a
      // second look, after its update below.
      const bool no_timer = deadline == UINT64_MAX;
      if ((!no_timer && deadline > now) || has_input_sources()) {
        hopeless = 0;
      } else if (no_timer || ++hopeless >= 2) {
        std::fprintf(stderr,
                     "tandem: the guest waits for an interrupt (WFI at pc 0x%llx of hart 0) that nothing can "
                     "raise: no timer is armed or its interrupt is masked, and there is no input (--icount, "
                     "no console input, network or monitor); stopping\n",
                     static_cast<unsigned long long>(harts_[0]->pc()));
        request_exit(1);
        break;
      }
      // Virtual time jumps to the deadline; input is polled without waiting.
      poll_io(no_timer ? -1 : 0);
      if (!no_timer) icount_clock_->skip_to(deadline);
    } else {
      int64_t wait_ns = deadline == UINT64_MAX ? -1
                        : deadline <= now      ? 0
                                               : static_cast<int64_t>((deadline - now) * 100);
      if (wait_ns < 0 || wait_ns > 1'000'000'000) wait_ns = 1'000'000'000;
      poll_io(wait_ns);
    }
    clint_->update();
    rtc_->update();
    feed_console();
    run_slice_hooks();
  }
  in_idle_ = false;
}

Result<int> Machine::run() {
  TANDEM_TRY(console_.open(true));
  // Off until started; its period is run_round's quantum or the threads' slice.
  profile_ = std::make_unique<GuestProfile>(harts_.size(),
                                            smp_sync_ ? kSliceInstructions : kSliceInstructions / harts_.size());
  if (!config_.guest_symbols.empty() && config_.guest_profile.empty())
    return Error("--guest-symbols names the symbols of --guest-profile, which is not given");
  if (!config_.guest_profile.empty()) {
    // Fail now rather than after a long run.
    if (!std::ofstream(config_.guest_profile, std::ios::app))
      return Error("--guest-profile: cannot write " + config_.guest_profile);
    profile_->start();
  }
  if (smp_sync_) {
    hart_threads_ = std::make_unique<HartThreads>(hart_pointers(harts_), kSliceInstructions, profile_.get());
    for (auto& h : harts_) h->set_irq_event(&hart_threads_->events());
  }
  auto start = std::chrono::steady_clock::now();
  while (!finished_ && !console_.quit_requested()) {
    if (paused_) {
      console_.flush();
      poll_io(100'000'000);
      run_slice_hooks();
      continue;
    }
    if (waiting_for_interrupt()) {
      idle();
      if (!paused_) wake_harts();  // paused in the wait: wait again after
      continue;
    }
    // Before the slice, not after it: a snapshot taken by a slice hook
    // then holds the deferred work, and a restored VM resumes it before
    // its first slice, as the uninterrupted one does.
    serve_deferred_io();
    run_round();
    clint_->update();
    rtc_->update();
    poll_io(0);
    feed_console();
    console_.flush();
    run_slice_hooks();
  }
  console_.flush();
  for (auto& h : harts_) h->set_irq_event(nullptr);
  hart_threads_.reset();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (config_.stats) print_stats(seconds);
  if (!config_.guest_profile.empty()) {
    Status st = write_guest_profile(config_.guest_profile);
    if (!st.ok()) {
      std::fprintf(stderr, "tandem: %s\n", st.error().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "tandem: guest profile written to %s\n", config_.guest_profile.c_str());
  }
  return exit_code_.load();
}

// Quanta end at multiples of the quantum of each hart's instret, so where
// harts switch and where timers and input are looked at depends only on
// the instruction counts: a restored VM runs exactly like the uninterrupted
// one. A hart in WFI sits out until an interrupt would wake it (raised by a
// device, a timer, or an IPI from a hart earlier in this round).
void Machine::run_round() {
  if (hart_threads_) return run_threads();
  const size_t n = harts_.size();
  const uint64_t quantum = kSliceInstructions / n;
  for (size_t i = 0; i < n; i++) {
    if (!hart_runs(i)) continue;
    cpu::Hart& h = *harts_[i];
    const uint64_t before = h.instret();
    if (h.run(quantum - before % quantum) == cpu::StopReason::kWfi) waiting_ |= uint32_t{1} << i;
    profile_->sample(i, h.pc(), h.priv(), h.reg(1), before, h.instret());
    if (n > 1) h.drop_reservation();
  }
}

bool Machine::hart_runs(size_t i) {
  if (finished_ || paused_) return false;
  const uint32_t bit = uint32_t{1} << i;
  if (waiting_ & bit) {
    if (!harts_[i]->wfi_should_wake()) return false;
    waiting_ &= ~bit;
  }
  return true;
}

// The harts run on their threads and hart 0 on this one; between hart 0's
// slices (or, while it waits in a WFI, whenever another hart ends a slice
// or an interrupt is raised) this thread serves the devices under the I/O
// lock, as a hart's MMIO would. No hart waits for another at a slice's
// end. Everything else needs every hart stopped: a slice hook due, host
// input for the console or a callback, a stop, every hart waiting for an
// interrupt (idle). Then it holds the harts and returns, and the run loop
// does it with the machine to itself.
void Machine::run_threads() {
  const size_t n = harts_.size();
  if (finished_ || paused_) return;
  for (size_t i = 1; i < n; i++) hart_threads_->release(i, waiting_ >> i & 1);
  std::atomic<uint32_t>& events = hart_threads_->events();
  auto all_others_wait = [&] {
    for (size_t i = 1; i < n; i++)
      if (!hart_threads_->in_wfi(i)) return false;
    return true;
  };
  cpu::Hart& h0 = *harts_[0];
  for (;;) {
    const uint32_t seen = events.load(std::memory_order_seq_cst);
    if ((waiting_ & 1) && h0.wfi_should_wake()) waiting_ &= ~uint32_t{1};
    if (!(waiting_ & 1)) {
      const uint64_t before = h0.instret();
      const cpu::StopReason why = h0.run(kSliceInstructions - before % kSliceInstructions);
      if (why == cpu::StopReason::kWfi) waiting_ |= 1;
      profile_->sample(0, h0.pc(), h0.priv(), h0.reg(1), before, h0.instret());
      if (why == cpu::StopReason::kPause) sched_yield();  // as HartThreads does
    } else if (all_others_wait()) {
      holds_.idle++;
      break;
    } else {
      events.wait(seen, std::memory_order_seq_cst);
    }
    if (finished_ || paused_ || console_.quit_requested()) break;
    if (world_needed()) break;
    {
      std::lock_guard lock(smp_sync_->io_mutex());
      serve_deferred_io();
      clint_->update();
      rtc_->update();
      feed_console();
      console_.flush();
    }
    hart_threads_->bump();  // a hart in a WFI looks at its timer again
  }
  for (size_t i = 1; i < n; i++) hart_threads_->hold(i);
  for (size_t i = 1; i < n; i++) {
    const uint32_t bit = uint32_t{1} << i;
    waiting_ = hart_threads_->parked(i) ? waiting_ | bit : waiting_ & ~bit;
  }
}

bool Machine::world_needed() {
  for (const auto& h : slice_hooks_)
    if (!h.due || h.due()) {
      holds_.hooks++;
      return true;
    }
  PollSet set = poll_set();
  if (wait_io(set, 0) > 0 && host_input_ready(set)) {
    holds_.input++;
    return true;
  }
  std::lock_guard lock(smp_sync_->io_mutex());
  dispatch_network(set);
  return false;
}

Status Machine::write_guest_profile(const std::string& path) const {
  namespace fs = std::filesystem;
  if (!profile_) return Error("guest profile: the machine is not running");
  std::string map = config_.guest_symbols;
  if (map.empty() && !config_.kernel.empty()) {
    fs::path beside = fs::path(config_.kernel).parent_path() / "System.map";
    std::error_code ec;
    if (fs::is_regular_file(beside, ec)) map = beside.string();
  }
  std::optional<SymbolMap> symbols;
  if (!map.empty()) {
    auto s = SymbolMap::load(map);
    if (s.ok()) symbols = std::move(s).value();
    else std::fprintf(stderr, "tandem: guest profile: %s; PCs are not named\n", s.error().message().c_str());
  }
  return profile_->write(path, symbols ? &*symbols : nullptr, map);
}

void Machine::print_stats(double seconds) const {
  uint64_t n = instret(), decoded = 0, translated = 0, code_bytes = 0, flushes = 0, entries = 0, traps = 0,
           smc = 0, jc_misses = 0;
  for (const auto& h : harts_) {
    decoded += h->blocks_decoded();
    translated += h->blocks_translated();
    code_bytes += h->jit_code_bytes();
    flushes += h->jit_code_flushes();
    entries += h->jit_entries();
    traps += h->jit_exits_trap();
    smc += h->jit_exits_smc();
    jc_misses += h->jump_cache_misses();
  }
  using ull = unsigned long long;
  std::fprintf(stderr,
               "tandem-stats: {\"instructions\": %llu, \"seconds\": %.6f, \"mips\": %.2f, "
               "\"blocks_decoded\": %llu, \"blocks_translated\": %llu, \"jit_code_bytes\": %llu, "
               "\"jit_code_flushes\": %llu, \"jit_entries\": %llu, \"jit_exits_trap\": %llu, "
               "\"jit_exits_smc\": %llu, \"jump_cache_misses\": %llu, \"exclusive_sections\": %llu, "
               "\"harts_held\": {\"hooks\": %llu, \"input\": %llu, \"idle\": %llu}}\n",
               static_cast<ull>(n), seconds, seconds > 0 ? n / seconds / 1e6 : 0.0, static_cast<ull>(decoded),
               static_cast<ull>(translated), static_cast<ull>(code_bytes), static_cast<ull>(flushes),
               static_cast<ull>(entries), static_cast<ull>(traps), static_cast<ull>(smc),
               static_cast<ull>(jc_misses), static_cast<ull>(smp_sync_ ? smp_sync_->exclusive_count() : 0),
               static_cast<ull>(holds_.hooks), static_cast<ull>(holds_.input), static_cast<ull>(holds_.idle));
}

}  // namespace tandem::board
