#include "state/machine_snapshot.h"

#include <string>

namespace tandem::state {

namespace {

// Configuration keys (docs/snapshot-format.md, "config section").
constexpr const char* kRamSize = "ram_size";
constexpr const char* kBios = "bios";
constexpr const char* kKernel = "kernel";
constexpr const char* kInitrd = "initrd";
constexpr const char* kAppend = "append";
constexpr const char* kDrive = "drive";
constexpr const char* kNet = "net";
constexpr const char* kRng = "rng";
constexpr const char* kIcount = "icount";
constexpr const char* kClockTicks = "clock_ticks";
constexpr const char* kEntropyState = "entropy_state";

Result<uint64_t> number(const Snapshot& s, const char* key) {
  const std::string* v = s.config_value(key);
  if (!v) return Error("snapshot config has no '" + std::string(key) + "'");
  try {
    size_t pos = 0;
    uint64_t n = std::stoull(*v, &pos, 10);
    if (pos != v->size()) throw std::invalid_argument(*v);
    return n;
  } catch (...) {
    return Error("snapshot config '" + std::string(key) + "' is not a number: '" + *v + "'");
  }
}

}  // namespace

Snapshot capture_machine(board::Machine& m) {
  const board::MachineConfig& c = m.config();
  Snapshot s;
  s.config.emplace_back(kRamSize, std::to_string(c.ram_size));
  s.config.emplace_back(kBios, c.bios);
  s.config.emplace_back(kKernel, c.kernel);
  s.config.emplace_back(kInitrd, c.initrd);
  s.config.emplace_back(kAppend, c.append);
  for (const auto& d : c.drives) s.config.emplace_back(kDrive, d);
  for (const auto& n : c.nets) s.config.emplace_back(kNet, n);
  s.config.emplace_back(kRng, c.rng ? "1" : "0");
  s.config.emplace_back(kIcount, c.icount ? "1" : "0");
  s.config.emplace_back(kClockTicks, std::to_string(m.clock_ticks()));
  if (c.icount) s.config.emplace_back(kEntropyState, std::to_string(m.entropy_state()));

  s.harts.push_back(m.hart().save());
  s.clint = m.clint().save();
  s.plic = m.plic().save();
  s.uart = m.uart().save();
  s.rtc = m.rtc().save();
  s.finisher = m.finisher().save();
  for (size_t slot = 0; slot < m.virtio_count(); slot++) {
    VirtioSlotState v;
    v.slot = static_cast<uint32_t>(slot);
    v.transport = m.virtio_transport(slot).save();
    auto& d = m.virtio_device(slot);
    if (auto* blk = dynamic_cast<dev::VirtioBlk*>(&d)) v.device = blk->save();
    else if (auto* net = dynamic_cast<dev::VirtioNet*>(&d)) v.device = net->save();
    else if (auto* rng = dynamic_cast<dev::VirtioRng*>(&d)) v.device = rng->save();
    s.virtio.push_back(std::move(v));
  }
  if (m.ram().tracing() || !m.ram().active_pages().empty()) s.active_pages = m.ram().active_pages();
  return s;
}

Result<board::MachineConfig> config_from_snapshot(const Snapshot& s) {
  board::MachineConfig c;
  auto ram = number(s, kRamSize);
  if (!ram.ok()) return ram.error();
  c.ram_size = *ram;
  for (const auto& [k, v] : s.config) {
    if (k == kBios) c.bios = v;
    else if (k == kKernel) c.kernel = v;
    else if (k == kInitrd) c.initrd = v;
    else if (k == kAppend) c.append = v;
    else if (k == kDrive) c.drives.push_back(v);
    else if (k == kNet) c.nets.push_back(v);
    else if (k == kRng) c.rng = v == "1";
    else if (k == kIcount) c.icount = v == "1";
  }
  return c;
}

Status apply_machine(const Snapshot& s, board::Machine& m) {
  if (s.harts.size() != 1) return Error("snapshot has " + std::to_string(s.harts.size()) + " harts; this machine has 1");
  if (!s.clint || !s.plic || !s.uart || !s.rtc) return Error("snapshot lacks a core device section (clint, plic, uart or rtc)");
  if (s.virtio.size() != m.virtio_count())
    return Error("snapshot has " + std::to_string(s.virtio.size()) + " virtio devices; the machine has " +
                 std::to_string(m.virtio_count()));
  for (const auto& v : s.virtio) {
    if (v.slot >= m.virtio_count()) return Error("virtio slot " + std::to_string(v.slot) + " does not exist");
    auto& d = m.virtio_device(v.slot);
    bool match = (std::holds_alternative<dev::VirtioBlk::State>(v.device) && dynamic_cast<dev::VirtioBlk*>(&d)) ||
                 (std::holds_alternative<dev::VirtioNet::State>(v.device) && dynamic_cast<dev::VirtioNet*>(&d)) ||
                 (std::holds_alternative<dev::VirtioRng::State>(v.device) && dynamic_cast<dev::VirtioRng*>(&d));
    if (!match) return Error("virtio slot " + std::to_string(v.slot) + ": device type differs from the snapshot's");
  }
  auto ticks = number(s, kClockTicks);
  if (!ticks.ok()) return ticks.error();
  Result<uint64_t> entropy = uint64_t{0};
  if (s.config_value(kEntropyState)) entropy = number(s, kEntropyState);
  if (!entropy.ok()) return entropy.error();

  // Order: the interrupt controller first, so devices re-raising their
  // lines on restore land in a restored PLIC; the hart last.
  auto ctx = [](Status st, const char* what) -> Status {
    if (!st.ok()) return st.error().context(what);
    return Ok();
  };
  TANDEM_TRY(ctx(m.plic().restore(*s.plic), "plic"));
  TANDEM_TRY(ctx(m.hart().restore(s.harts[0]), "hart 0"));
  m.set_clock_ticks(*ticks);
  if (s.config_value(kEntropyState)) m.set_entropy_state(*entropy);
  TANDEM_TRY(ctx(m.clint().restore(*s.clint), "clint"));
  TANDEM_TRY(ctx(m.uart().restore(*s.uart), "uart"));
  TANDEM_TRY(ctx(m.rtc().restore(*s.rtc), "rtc"));
  for (const auto& v : s.virtio) {
    std::string what = "virtio slot " + std::to_string(v.slot);
    auto& d = m.virtio_device(v.slot);
    if (auto* blk = dynamic_cast<dev::VirtioBlk*>(&d))
      TANDEM_TRY(ctx(blk->restore(std::get<dev::VirtioBlk::State>(v.device)), what.c_str()));
    else if (auto* net = dynamic_cast<dev::VirtioNet*>(&d))
      TANDEM_TRY(ctx(net->restore(std::get<dev::VirtioNet::State>(v.device)), what.c_str()));
    TANDEM_TRY(ctx(m.virtio_transport(v.slot).restore(v.transport), what.c_str()));
  }
  return Ok();
}

}  // namespace tandem::state
