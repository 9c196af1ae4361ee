#include "state/components.h"

#include <algorithm>
#include <optional>

namespace tandem::state {

namespace {

// Where each component's State lives in a Snapshot: get() finds it (null
// when the snapshot has none), put() makes room for it.
template <typename S>
struct Slot;

template <typename S, std::optional<S> Snapshot::*member>
struct OptionalSlot {
  static const S* get(const Snapshot& s, uint32_t) { return (s.*member) ? &*(s.*member) : nullptr; }
  static S& put(Snapshot& s, uint32_t) { return (s.*member).emplace(); }
};

template <>
struct Slot<cpu::HartState> {
  static const cpu::HartState* get(const Snapshot& s, uint32_t i) {
    return i < s.harts.size() ? &s.harts[i] : nullptr;
  }
  static cpu::HartState& put(Snapshot& s, uint32_t i) {
    if (s.harts.size() <= i) s.harts.resize(i + 1);
    return s.harts[i];
  }
};
template <>
struct Slot<dev::Clint::State> : OptionalSlot<dev::Clint::State, &Snapshot::clint> {};
template <>
struct Slot<dev::Plic::State> : OptionalSlot<dev::Plic::State, &Snapshot::plic> {};
template <>
struct Slot<dev::Uart16550::State> : OptionalSlot<dev::Uart16550::State, &Snapshot::uart> {};
template <>
struct Slot<dev::GoldfishRtc::State> : OptionalSlot<dev::GoldfishRtc::State, &Snapshot::rtc> {};
// The finisher has no state: a snapshot without its section restores it
// as well (the core devices' sections are required).
template <>
struct Slot<dev::TestFinisher::State> : OptionalSlot<dev::TestFinisher::State, &Snapshot::finisher> {
  static const dev::TestFinisher::State* get(const Snapshot& s, uint32_t) {
    static const dev::TestFinisher::State kNone{};
    return s.finisher ? &*s.finisher : &kNone;
  }
};

const VirtioSlotState* virtio_slot(const Snapshot& s, uint32_t slot) {
  for (const auto& v : s.virtio)
    if (v.slot == slot) return &v;
  return nullptr;
}

// Keeps Snapshot::virtio in ascending slot order.
VirtioSlotState& put_virtio_slot(Snapshot& s, uint32_t slot) {
  auto it = std::lower_bound(s.virtio.begin(), s.virtio.end(), slot,
                             [](const VirtioSlotState& v, uint32_t n) { return v.slot < n; });
  if (it == s.virtio.end() || it->slot != slot) it = s.virtio.insert(it, VirtioSlotState{slot, {}, {}});
  return *it;
}

template <>
struct Slot<dev::VirtioMmio::State> {
  static const dev::VirtioMmio::State* get(const Snapshot& s, uint32_t slot) {
    const VirtioSlotState* v = virtio_slot(s, slot);
    return v ? &v->transport : nullptr;
  }
  static dev::VirtioMmio::State& put(Snapshot& s, uint32_t slot) { return put_virtio_slot(s, slot).transport; }
};

// A slot holding another device type has no state for this one.
template <typename D>
struct DeviceSlot {
  static const D* get(const Snapshot& s, uint32_t slot) {
    const VirtioSlotState* v = virtio_slot(s, slot);
    return v ? std::get_if<D>(&v->device) : nullptr;
  }
  static D& put(Snapshot& s, uint32_t slot) { return put_virtio_slot(s, slot).device.template emplace<D>(); }
};
template <>
struct Slot<dev::VirtioBlk::State> : DeviceSlot<dev::VirtioBlk::State> {};
template <>
struct Slot<dev::VirtioNet::State> : DeviceSlot<dev::VirtioNet::State> {};
template <>
struct Slot<dev::VirtioRng::State> : DeviceSlot<dev::VirtioRng::State> {};

template <>
struct Slot<net::NicState> {
  static const net::NicState* get(const Snapshot& s, uint32_t i) { return i < s.nics.size() ? &s.nics[i] : nullptr; }
  static net::NicState& put(Snapshot& s, uint32_t i) {
    if (s.nics.size() <= i) s.nics.resize(i + 1);
    return s.nics[i];
  }
};

Error missing() { return Error("the snapshot has no state for it"); }

// A hart or a device: its own save(), check() and restore().
template <typename Live, typename State>
class Typed final : public Component {
 public:
  Typed(uint32_t instance, Live* live) : Component(section_kind(State{}), instance), live_(live) {}
  void save(Snapshot& s) const override { Slot<State>::put(s, instance()) = live_->save(); }
  Status validate(const Snapshot& s, const ApplyOptions&) const override {
    const State* st = Slot<State>::get(s, instance());
    return st ? live_->check(*st) : Status(missing());
  }
  Status apply(const Snapshot& s, const ApplyOptions&) override {
    return live_->restore(*Slot<State>::get(s, instance()));
  }

 private:
  Live* live_;
};

// The board side of a NIC, which the Machine holds.
class NicComponent final : public Component {
 public:
  NicComponent(board::Machine& m, size_t index)
      : Component(SectionKind::kNic, static_cast<uint32_t>(index)), m_(m), index_(index) {}
  void save(Snapshot& s) const override { Slot<net::NicState>::put(s, instance()) = m_.save_nic(index_); }
  Status validate(const Snapshot& s, const ApplyOptions& options) const override {
    const net::NicState* st = Slot<net::NicState>::get(s, instance());
    return st ? m_.check_nic(index_, *st, options.backends) : Status(missing());
  }
  Status apply(const Snapshot& s, const ApplyOptions& options) override {
    return m_.restore_nic(index_, *Slot<net::NicState>::get(s, instance()), options.backends);
  }

 private:
  board::Machine& m_;
  size_t index_;
};

template <typename Live>
struct StateOf {
  using type = typename Live::State;
};
template <>
struct StateOf<cpu::Hart> {
  using type = cpu::HartState;
};

}  // namespace

std::vector<std::unique_ptr<Component>> components_of(board::Machine& m) {
  std::vector<std::unique_ptr<Component>> out;
  for (const board::Machine::Component& c : m.components()) {
    std::visit(
        [&](auto ref) {
          if constexpr (std::is_same_v<decltype(ref), board::Machine::NicPort>) {
            out.push_back(std::make_unique<NicComponent>(m, ref.index));
          } else {
            using Live = std::remove_pointer_t<decltype(ref)>;
            out.push_back(std::make_unique<Typed<Live, typename StateOf<Live>::type>>(c.instance, ref));
          }
        },
        c.ref);
  }
  return out;
}

}  // namespace tandem::state
