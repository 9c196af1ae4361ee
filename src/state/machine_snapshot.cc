#include "state/machine_snapshot.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "state/components.h"
#include "state/sections.h"

namespace tandem::state {

namespace {

// Configuration keys (docs/snapshot-format.md, "config section").
constexpr const char* kRamSize = "ram_size";
constexpr const char* kBios = "bios";
constexpr const char* kKernel = "kernel";
constexpr const char* kInitrd = "initrd";
constexpr const char* kAppend = "append";
constexpr const char* kDrive = "drive";
constexpr const char* kDriveCopy = "drive_copy";  // "index=N,bytes=N,sample=HEX"
constexpr const char* kNet = "net";
constexpr const char* kRng = "rng";
constexpr const char* kIcount = "icount";
constexpr const char* kClockTicks = "clock_ticks";
constexpr const char* kEntropyState = "entropy_state";
// The harts that stood past a WFI they had not woken from, bit i for hart
// i, in decimal ("1": hart 0, as written before SMP); absent when none.
constexpr const char* kWaitingForInterrupt = "waiting_for_interrupt";

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

struct DriveCopyEntry {
  size_t index = 0;
  DriveIdentity id;
};

Result<DriveCopyEntry> parse_drive_copy(const std::string& v) {
  DriveCopyEntry e;
  bool have_index = false, have_bytes = false, have_sample = false;
  auto bad = [&](const std::string& why) {
    return Error("snapshot config '" + std::string(kDriveCopy) + "' is malformed ('" + v + "'): " + why);
  };
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    std::string part = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? v.size() + 1 : comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string::npos) return bad("'" + part + "' is not KEY=VALUE");
    std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    uint64_t n = 0;
    try {
      size_t used = 0;
      n = std::stoull(value, &used, key == "sample" ? 16 : 10);
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (...) {
      return bad("'" + part + "' is not a number");
    }
    if (key == "index") e.index = static_cast<size_t>(n), have_index = true;
    else if (key == "bytes") e.id.bytes = n, have_bytes = true;
    else if (key == "sample") e.id.sample = n, have_sample = true;
    else return bad("unknown key '" + key + "'");
  }
  if (!have_index || !have_bytes || !have_sample) return bad("index, bytes and sample are required");
  return e;
}

// The directory part of `path`, with its trailing slash ("" for none).
std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
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
  // The drives as they run now: a suspend may have moved one from a
  // private copy to a file of its own (write_out_private_drives).
  for (size_t slot = 0; slot < m.virtio_count(); slot++)
    if (auto* blk = dynamic_cast<dev::VirtioBlk*>(&m.virtio_device(slot))) s.config.emplace_back(kDrive, blk->spec());
  for (const auto& n : c.nets) s.config.emplace_back(kNet, n);
  s.config.emplace_back(kRng, c.rng ? "1" : "0");
  s.config.emplace_back(kIcount, c.icount ? "1" : "0");
  s.config.emplace_back(kClockTicks, std::to_string(m.clock_ticks()));
  if (c.icount) s.config.emplace_back(kEntropyState, std::to_string(m.entropy_state()));
  if (m.harts_waiting()) s.config.emplace_back(kWaitingForInterrupt, std::to_string(m.harts_waiting()));

  for (const auto& c : components_of(m)) c->save(s);
  if (m.ram().tracing() || !m.ram().active_pages().empty()) s.active_pages = m.ram().active_pages();
  return s;
}

void set_working_set(Snapshot& s, board::Machine& m, std::vector<uint32_t> active,
                     const std::vector<uint64_t>& recent) {
  s.active_pages = std::move(active);
  s.code_blocks = m.take_block_logs();
  s.code_traced = static_cast<uint32_t>(s.code_blocks.size());
  // No search for duplicates here, in the pause: `recent` was taken
  // without the blocks logged by then, so only those logged since can
  // appear twice, and the hart takes a block it already has for nothing.
  const size_t n = std::min(recent.size(), kMaxCodeBlocks - s.code_blocks.size());
  s.code_blocks.insert(s.code_blocks.end(), recent.begin(), recent.begin() + static_cast<std::ptrdiff_t>(n));
}

Result<board::MachineConfig> config_from_snapshot(const Snapshot& s, const std::string& snapshot_path) {
  board::MachineConfig c;
  auto ram = number(s, kRamSize);
  if (!ram.ok()) return ram.error();
  c.ram_size = *ram;
  if (s.harts.size() > board::kMaxHarts)
    return Error("the snapshot has " + std::to_string(s.harts.size()) + " harts; a machine has 1 to " +
                 std::to_string(board::kMaxHarts));
  if (!s.harts.empty()) c.harts = static_cast<unsigned>(s.harts.size());
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
  auto drives = snapshot_drives(s, snapshot_path);
  if (!drives.ok()) return drives.error();
  for (const SnapshotDrive& d : *drives) {
    if (!d.copy) continue;
    std::string what = "drive " + std::to_string(d.index);
    if (!d.problem.empty()) return Error(d.problem).context(what);
    auto options = dev::VirtioBlk::parse_spec(d.spec);
    if (!options.ok()) return options.error().context(what);
    // The copy is the snapshot's: the restored VM writes a private copy
    // of it, so that the snapshot restores the same way again.
    options->path = d.path;
    options->snapshot = true;
    c.drives[d.index] = dev::VirtioBlk::format_spec(*options);
  }
  return c;
}

Result<std::vector<SnapshotDrive>> snapshot_drives(const Snapshot& s, const std::string& snapshot_path) {
  std::vector<SnapshotDrive> drives;
  for (const auto& [k, v] : s.config) {
    if (k != kDrive) continue;
    SnapshotDrive d;
    d.index = drives.size();
    d.spec = v;
    auto options = dev::VirtioBlk::parse_spec(v);
    if (options.ok()) {
      d.path = options->path;
      d.read_only = options->read_only;
    } else {
      d.problem = options.error().message();
    }
    drives.push_back(std::move(d));
  }
  for (const auto& [k, v] : s.config) {
    if (k != kDriveCopy) continue;
    auto copy = parse_drive_copy(v);
    if (!copy.ok()) return copy.error();
    if (copy->index >= drives.size())
      return Error("snapshot config '" + std::string(kDriveCopy) + "' names drive " + std::to_string(copy->index) +
                   " but there are " + std::to_string(drives.size()) + " drives");
    SnapshotDrive& d = drives[copy->index];
    d.copy = true;
    d.copy_bytes = copy->id.bytes;
    if (d.path.empty()) continue;
    if (d.path[0] != '/') d.path = dir_of(snapshot_path) + d.path;
    if (Status st = check_drive_identity(d.path, copy->id); !st.ok() && d.problem.empty())
      d.problem = st.error().message();
  }
  for (auto& d : drives) {
    struct stat st;
    if (d.path.empty() || ::stat(d.path.c_str(), &st) != 0) {
      if (!d.path.empty() && d.problem.empty()) d.problem = "'" + d.path + "': " + std::strerror(errno);
      continue;
    }
    d.present = true;
    d.file_bytes = static_cast<uint64_t>(st.st_size);
  }
  return drives;
}

Status apply_machine(const Snapshot& s, board::Machine& m, const ApplyOptions& options) {
  // Everything is checked before anything changes: the machine may be
  // running, and a refused state must leave it as it was.
  if (s.harts.size() != m.hart_count())
    return Error("the snapshot has " + std::to_string(s.harts.size()) + " harts but the machine has " +
                 std::to_string(m.hart_count()) + " (-smp " + std::to_string(s.harts.size()) + " to restore it)");
  std::vector<std::unique_ptr<Component>> components = components_of(m);
  std::set<std::pair<SectionKind, uint32_t>> machine_has;
  for (const auto& c : components) machine_has.insert({c->kind(), c->instance()});
  Status unclaimed = Ok();
  for_each_state(s, [&](uint32_t instance, const auto& state) {
    if (unclaimed.ok() && !machine_has.count({section_kind(state), instance}))
      unclaimed = Error("the snapshot has section '" +
                        section_name(static_cast<uint32_t>(section_kind(state)), instance) +
                        "' but the machine has no such component");
  });
  TANDEM_TRY(unclaimed);
  for (const auto& c : components)
    if (Status st = c->validate(s, options); !st.ok()) return st.error().context(c->name());
  auto ticks = number(s, kClockTicks);
  if (!ticks.ok()) return ticks.error();
  Result<uint64_t> entropy = uint64_t{0};
  if (s.config_value(kEntropyState)) entropy = number(s, kEntropyState);
  if (!entropy.ok()) return entropy.error();
  Result<uint64_t> waiting = uint64_t{0};
  if (s.config_value(kWaitingForInterrupt)) waiting = number(s, kWaitingForInterrupt);
  if (!waiting.ok()) return waiting.error();
  if (*waiting >> m.hart_count())
    return Error("snapshot config '" + std::string(kWaitingForInterrupt) + "' names a hart beyond the " +
                 std::to_string(m.hart_count()) + " it has");

  auto apply = [&](Component& c) -> Status {
    if (Status st = c.apply(s, options); !st.ok()) return st.error().context(c.name());
    return Ok();
  };
  // Guest time after the hart (under --icount it derives from instret)
  // and before the devices (the CLINT's timer level depends on it; the
  // network backends re-arm their timers from it).
  for (const auto& c : components)
    if (c->before_clock()) TANDEM_TRY(apply(*c));
  m.set_clock_ticks(*ticks);
  if (s.config_value(kEntropyState)) m.set_entropy_state(*entropy);
  m.set_harts_waiting(static_cast<uint32_t>(*waiting));
  for (const auto& c : components)
    if (!c->before_clock()) TANDEM_TRY(apply(*c));
  return Ok();
}

Status load_pages_live(board::Machine& m, std::span<const uint32_t> pages, const uint8_t* data) {
  const size_t count = m.ram().page_count();
  for (uint32_t p : pages)
    if (p >= count)
      return Error("load pages: page " + std::to_string(p) + " is outside RAM (" + std::to_string(count) + " pages)");
  m.ram().load_pages(pages, data);
  return Ok();
}

Status record_drive_copy(Snapshot& s, size_t index, const std::string& copy_path, const DriveIdentity& id) {
  std::string* spec = nullptr;
  size_t seen = 0;
  for (auto& [k, v] : s.config)
    if (k == kDrive && seen++ == index) spec = &v;
  if (!spec) return Error("the snapshot has no drive " + std::to_string(index));
  auto options = dev::VirtioBlk::parse_spec(*spec);
  if (!options.ok()) return options.error();
  size_t slash = copy_path.rfind('/');
  options->path = slash == std::string::npos ? copy_path : copy_path.substr(slash + 1);
  options->snapshot = false;  // the restore decides (config_from_snapshot)
  *spec = dev::VirtioBlk::format_spec(*options);
  char sample[17];
  std::snprintf(sample, sizeof sample, "%016llx", static_cast<unsigned long long>(id.sample));
  s.config.emplace_back(kDriveCopy, "index=" + std::to_string(index) + ",bytes=" + std::to_string(id.bytes) +
                                        ",sample=" + sample);
  return Ok();
}

}  // namespace tandem::state
