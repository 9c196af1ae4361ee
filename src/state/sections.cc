#include "state/sections.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "state/cpu_state.h"
#include "state/dev_state.h"
#include "mem/guest_memory.h"

namespace tandem::state {

namespace {

struct KindInfo {
  SectionKind kind;
  const char* name;
  bool numbered;  // several instances: the name carries the instance
};

constexpr KindInfo kKinds[] = {
    {SectionKind::kConfig, "config", false},
    {SectionKind::kHart, "hart", true},
    {SectionKind::kClint, "clint", false},
    {SectionKind::kPlic, "plic", false},
    {SectionKind::kUart, "uart", false},
    {SectionKind::kRtc, "rtc", false},
    {SectionKind::kFinisher, "finisher", false},
    {SectionKind::kVirtioMmio, "virtio-mmio", true},
    {SectionKind::kVirtioBlk, "virtio-blk", true},
    {SectionKind::kVirtioNet, "virtio-net", true},
    {SectionKind::kVirtioRng, "virtio-rng", true},
    {SectionKind::kActivePages, "active-pages", false},
    {SectionKind::kNic, "nic", true},
    {SectionKind::kCodeBlocks, "code-blocks", false},
};

const KindInfo* find_kind(uint32_t kind) {
  for (const auto& k : kKinds)
    if (static_cast<uint32_t>(k.kind) == kind) return &k;
  return nullptr;
}

void encode_config(Encoder& e, const ConfigEntries& config) {
  e.u32(kConfigVersion);
  e.u32(static_cast<uint32_t>(config.size()));
  for (const auto& [k, v] : config) {
    e.str(k);
    e.str(v);
  }
}

Status decode_config(Decoder& d, ConfigEntries* out) {
  Decoder::Scope scope(d, "config");
  d.version("version", kConfigVersion);
  uint32_t n = d.u32("count");
  // Each entry is at least two u32 lengths.
  if (d.ok() && uint64_t{n} * 8 > d.remaining()) d.fail("count", "truncated");
  ConfigEntries config;
  for (uint32_t i = 0; i < n && d.ok(); i++) {
    std::string k = d.str("key");
    std::string v = d.str("value");
    config.emplace_back(std::move(k), std::move(v));
  }
  TANDEM_TRY(d.status());
  *out = std::move(config);
  return Ok();
}

void encode_active_pages(Encoder& e, const std::vector<uint32_t>& pages) {
  e.u32(kActivePagesVersion);
  e.vec(pages);
}

Status decode_active_pages(Decoder& d, uint64_t page_count, std::vector<uint32_t>* out) {
  Decoder::Scope scope(d, "active-pages");
  d.version("version", kActivePagesVersion);
  std::vector<uint32_t> pages = d.vec<uint32_t>("pages");
  TANDEM_TRY(d.status());
  std::vector<uint32_t> sorted = pages;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty() && sorted.back() >= page_count)
    return Error("active-pages.pages: page " + std::to_string(sorted.back()) +
                 " is outside RAM (" + std::to_string(page_count) + " pages)");
  auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end())
    return Error("active-pages.pages: page " + std::to_string(*dup) + " is listed twice");
  *out = std::move(pages);
  return Ok();
}

void encode_code_blocks(Encoder& e, const std::vector<uint64_t>& gpas, uint32_t traced) {
  e.u32(kCodeBlocksVersion);
  e.vec(gpas);
  e.u32(traced);
}

// A hint (the hart checks every block it is offered against memory), but
// still held to the file's rules: inside RAM, instruction-aligned, bounded.
Status decode_code_blocks(Decoder& d, uint64_t ram_base, uint64_t ram_size, std::vector<uint64_t>* out,
                          uint32_t* traced) {
  Decoder::Scope scope(d, "code-blocks");
  d.version("version", kCodeBlocksVersion);
  std::vector<uint64_t> gpas = d.vec<uint64_t>("gpas");  // the count is checked against the payload
  uint32_t t = d.u32("traced");
  TANDEM_TRY(d.status());
  if (t > gpas.size())
    return Error("code-blocks.traced: " + std::to_string(t) + " of " + std::to_string(gpas.size()) + " blocks");
  if (gpas.size() > kMaxCodeBlocks)
    return Error("code-blocks.gpas: " + std::to_string(gpas.size()) + " blocks (at most " +
                 std::to_string(kMaxCodeBlocks) + ")");
  for (uint64_t g : gpas) {
    if (g < ram_base || g - ram_base >= ram_size || (g & 1) != 0) {
      char hex[24];
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(g));
      return Error(std::string("code-blocks.gpas: ") + hex +
                   ((g & 1) != 0 ? " is not 2-byte aligned" : " is outside RAM"));
    }
  }
  *out = std::move(gpas);
  *traced = t;
  return Ok();
}

template <typename T>
Section make_section(SectionKind kind, uint32_t instance, const T& state) {
  Encoder e;
  encode(e, state);
  return Section{static_cast<uint32_t>(kind), instance, e.take()};
}

SectionKind device_kind(const VirtioDeviceState& d) {
  return std::visit([](const auto& s) { return section_kind(s); }, d);
}

// The device type a transport's device_id names (virtio 1.1 section 5).
uint32_t device_id_of(const VirtioDeviceState& d) {
  switch (device_kind(d)) {
    case SectionKind::kVirtioBlk: return dev::kVirtioIdBlock;
    case SectionKind::kVirtioNet: return dev::kVirtioIdNet;
    default: return dev::kVirtioIdEntropy;
  }
}

}  // namespace

std::string section_name(uint32_t kind, uint32_t instance) {
  const KindInfo* k = find_kind(kind);
  if (!k) return "kind " + std::to_string(kind) + "/" + std::to_string(instance);
  if (!k->numbered && instance == 0) return k->name;
  return k->name + std::to_string(instance);
}

uint64_t section_kinds_hash() {
  static const uint64_t hash = [] {
    std::string table;
    for (const auto& k : kKinds) {
      table += std::to_string(static_cast<uint32_t>(k.kind)) + "=" + k.name +
               (k.numbered ? "#" : "") + ";";
    }
    return XXH3_64bits(table.data(), table.size());
  }();
  return hash;
}

uint32_t Section::version() const {
  return payload.size() >= 4 ? load_le<uint32_t>(payload.data()) : 0;
}

std::vector<Section> encode_sections(const Snapshot& snap) {
  std::vector<Section> out;
  {
    Encoder e;
    encode_config(e, snap.config);
    out.push_back({static_cast<uint32_t>(SectionKind::kConfig), 0, e.take()});
  }
  for_each_state(snap, [&](uint32_t instance, const auto& state) {
    out.push_back(make_section(section_kind(state), instance, state));
  });
  {
    Encoder e;
    encode_active_pages(e, snap.active_pages);
    out.push_back({static_cast<uint32_t>(SectionKind::kActivePages), 0, e.take()});
  }
  if (!snap.code_blocks.empty()) {
    Encoder e;
    encode_code_blocks(e, snap.code_blocks, snap.code_traced);
    out.push_back({static_cast<uint32_t>(SectionKind::kCodeBlocks), 0, e.take()});
  }
  return out;
}

Result<Snapshot> decode_sections(std::span<const SectionView> sections, uint64_t ram_base,
                                 uint64_t ram_size) {
  const uint64_t page_count = ram_size / mem::kPageSize;
  Snapshot snap;
  bool have_config = false;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  std::map<uint32_t, cpu::HartState> harts;
  std::map<uint32_t, dev::VirtioMmio::State> transports;
  std::map<uint32_t, VirtioDeviceState> devices;
  std::map<uint32_t, net::NicState> nics;

  for (const SectionView& s : sections) {
    std::string name = section_name(s.kind, s.instance);
    auto fail = [&](const Error& e) { return e.context("section '" + name + "'"); };
    const KindInfo* k = find_kind(s.kind);
    if (!k) return fail(Error("unknown section kind (written by a newer build?)"));
    if (!k->numbered && s.instance != 0) return fail(Error("only instance 0 may exist"));
    if (!seen.insert({s.kind, s.instance}).second) return fail(Error("appears twice"));

    Decoder d(s.payload);
    Status st = Ok();
    switch (k->kind) {
      case SectionKind::kConfig:
        st = decode_config(d, &snap.config);
        have_config = true;
        break;
      case SectionKind::kHart: st = decode(d, &harts[s.instance]); break;
      case SectionKind::kClint: st = decode(d, &snap.clint.emplace()); break;
      case SectionKind::kPlic: st = decode(d, &snap.plic.emplace()); break;
      case SectionKind::kUart: st = decode(d, &snap.uart.emplace()); break;
      case SectionKind::kRtc: st = decode(d, &snap.rtc.emplace()); break;
      case SectionKind::kFinisher: st = decode(d, &snap.finisher.emplace()); break;
      case SectionKind::kVirtioMmio: st = decode(d, &transports[s.instance]); break;
      case SectionKind::kVirtioBlk:
      case SectionKind::kVirtioNet:
      case SectionKind::kVirtioRng: {
        if (devices.count(s.instance))
          return fail(Error("slot " + std::to_string(s.instance) + " already has a device"));
        VirtioDeviceState dev;
        if (k->kind == SectionKind::kVirtioBlk) {
          st = decode(d, &dev.emplace<dev::VirtioBlk::State>());
        } else if (k->kind == SectionKind::kVirtioNet) {
          st = decode(d, &dev.emplace<dev::VirtioNet::State>());
        } else {
          st = decode(d, &dev.emplace<dev::VirtioRng::State>());
        }
        devices.emplace(s.instance, std::move(dev));
        break;
      }
      case SectionKind::kActivePages:
        st = decode_active_pages(d, page_count, &snap.active_pages);
        break;
      case SectionKind::kNic: st = decode(d, &nics[s.instance]); break;
      case SectionKind::kCodeBlocks:
        st = decode_code_blocks(d, ram_base, ram_size, &snap.code_blocks, &snap.code_traced);
        break;
    }
    if (st.ok()) st = d.finish();
    if (!st.ok()) return fail(st.error());
  }

  if (!have_config) return Error("section 'config': missing");
  uint32_t next = 0;
  for (auto& [id, h] : harts) {
    if (id != next) return Error("section 'hart" + std::to_string(next) + "': missing");
    snap.harts.push_back(h);
    next++;
  }
  next = 0;
  for (auto& [id, n] : nics) {
    if (id != next) return Error("section 'nic" + std::to_string(next) + "': missing");
    snap.nics.push_back(std::move(n));
    next++;
  }
  for (auto& [slot, t] : transports) {
    std::string name = section_name(static_cast<uint32_t>(SectionKind::kVirtioMmio), slot);
    auto dev = devices.find(slot);
    if (dev == devices.end())
      return Error("section '" + name + "': no device section for slot " + std::to_string(slot));
    if (t.device_id != device_id_of(dev->second))
      return Error("section '" + name + "': device_id " + std::to_string(t.device_id) +
                   " does not match the slot's device section");
    snap.virtio.push_back({slot, t, dev->second});
    devices.erase(dev);
  }
  if (!devices.empty()) {
    const auto& [slot, dev] = *devices.begin();
    return Error("section '" + section_name(static_cast<uint32_t>(device_kind(dev)), slot) +
                 "': no virtio-mmio section for slot " + std::to_string(slot));
  }
  return snap;
}

}  // namespace tandem::state
