// One interface over every component of a board::Machine for the state
// code: its section (kind and instance), saving its state into a Snapshot,
// checking a Snapshot's state for it without changing anything, and
// applying that state to the live instance. The devices and the hart only
// know their plain State structs (save/check/restore); this is where they
// meet the snapshot. capture_machine() and apply_machine() iterate
// components_of(); encode_sections() iterates for_each_state()
// (state/snapshot.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "board/machine.h"
#include "state/sections.h"
#include "state/snapshot.h"

namespace tandem::state {

struct ApplyOptions {
  // false: each NIC gets its frames waiting for the guest, but its network
  // backend stays as it is (a fault-tolerance secondary runs another
  // backend than the primary's snapshot names).
  bool backends = true;
};

class Component {
 public:
  virtual ~Component() = default;
  SectionKind kind() const { return kind_; }
  uint32_t instance() const { return instance_; }
  // As in errors and section tables: "plic", "hart0", "virtio-mmio2".
  std::string name() const { return section_name(static_cast<uint32_t>(kind_), instance_); }
  // Applied before guest time is set: under --icount time derives from
  // the hart's instret.
  bool before_clock() const { return kind_ == SectionKind::kHart; }

  // Puts the live instance's state into `s`.
  virtual void save(Snapshot& s) const = 0;
  // Whether `s` holds a state for this component that apply() takes with
  // the same options; changes nothing.
  virtual Status validate(const Snapshot& s, const ApplyOptions& options) const = 0;
  // Loads it into the live instance, which may have run since it was
  // built: caches are rebuilt and interrupt lines driven again, as in a
  // fresh restore. Call after validate() succeeded for every component.
  virtual Status apply(const Snapshot& s, const ApplyOptions& options) = 0;

 protected:
  Component(SectionKind kind, uint32_t instance) : kind_(kind), instance_(instance) {}

 private:
  SectionKind kind_;
  uint32_t instance_;
};

// The machine's components (board::Machine::components()), in the order
// they are applied.
std::vector<std::unique_ptr<Component>> components_of(board::Machine& m);

}  // namespace tandem::state
