// A snapshot in memory: the machine configuration and the saved state of
// every component, as the board hands it to write_snapshot() and gets it
// back from a SnapshotReader (state/snapshot_file.h). Guest RAM is not in
// here: the writer reads it from the GuestMemory, the reader loads it into
// one, eagerly or page by page.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

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

namespace tandem::state {

// What the machine was built from, as key/value text the board writes and
// parses ("ram_size" -> "268435456", "kernel" -> a path, "drive0" ->
// "file=x.img,readonly=on", "icount" -> "1", ...). The snapshot layer
// stores it verbatim and in order; RAM base and size are also in the file
// header, where the format needs them.
using ConfigEntries = std::vector<std::pair<std::string, std::string>>;

// One virtio-mmio transport and the device type behind it.
using VirtioDeviceState =
    std::variant<dev::VirtioBlk::State, dev::VirtioNet::State, dev::VirtioRng::State>;
struct VirtioSlotState {
  uint32_t slot = 0;  // the board's virtio-mmio slot (0x10001000 + 0x1000 * slot)
  dev::VirtioMmio::State transport;
  VirtioDeviceState device;
  bool operator==(const VirtioSlotState&) const = default;
};

struct Snapshot {
  ConfigEntries config;
  std::vector<cpu::HartState> harts;  // by hart id
  // Devices the machine has; a missing one is left out of the file.
  std::optional<dev::Clint::State> clint;
  std::optional<dev::Plic::State> plic;
  std::optional<dev::Uart16550::State> uart;
  std::optional<dev::GoldfishRtc::State> rtc;
  std::optional<dev::TestFinisher::State> finisher;
  std::vector<VirtioSlotState> virtio;  // ascending slot
  // The host side of each NIC, in --net order.
  std::vector<net::NicState> nics;
  // Guest pages (indices from the RAM base) in order of first touch
  // (GuestMemory::active_pages()); empty when no trace ran.
  std::vector<uint32_t> active_pages;
  // Guest-physical addresses of the blocks the hart entered during the
  // same trace, in order of first entry (cpu::Hart's block log; the first
  // `code_traced`), then other blocks it had run, most recent first: a
  // working-set restore decodes them ahead of the guest (cpu/predecode.cc).
  std::vector<uint64_t> code_blocks;
  uint32_t code_traced = 0;

  // The first value stored under `key`, or nullptr.
  const std::string* config_value(std::string_view key) const {
    for (const auto& [k, v] : config)
      if (k == key) return &v;
    return nullptr;
  }
  bool operator==(const Snapshot&) const = default;
};

// Calls f(instance, state) for every component state `s` holds, in file
// order: harts, CLINT, PLIC, UART, RTC, finisher, per virtio slot its
// transport then its device, NICs. `state` is the component's State
// type (section_kind() in state/sections.h names its section).
template <typename F>
void for_each_state(const Snapshot& s, F&& f) {
  for (size_t i = 0; i < s.harts.size(); i++) f(static_cast<uint32_t>(i), s.harts[i]);
  if (s.clint) f(0u, *s.clint);
  if (s.plic) f(0u, *s.plic);
  if (s.uart) f(0u, *s.uart);
  if (s.rtc) f(0u, *s.rtc);
  if (s.finisher) f(0u, *s.finisher);
  for (const auto& v : s.virtio) {
    f(v.slot, v.transport);
    std::visit([&](const auto& d) { f(v.slot, d); }, v.device);
  }
  for (size_t i = 0; i < s.nics.size(); i++) f(static_cast<uint32_t>(i), s.nics[i]);
}

}  // namespace tandem::state
