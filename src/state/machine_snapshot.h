// Between a running board::Machine and a Snapshot: everything guest-visible
// except memory (the hart, every device, guest time) plus the machine
// configuration needed to rebuild an equivalent machine.
#pragma once

#include "base/result.h"
#include "board/machine.h"
#include "state/snapshot.h"

namespace tandem::state {

// Call with the hart stopped between slices (the vCPU thread).
Snapshot capture_machine(board::Machine& m);

// The configuration recorded by capture_machine().
Result<board::MachineConfig> config_from_snapshot(const Snapshot& s);

// Applies the states to a machine built (Machine::create_empty) from
// config_from_snapshot(s). Every component is checked before anything
// changes; an error names the component.
Status apply_machine(const Snapshot& s, board::Machine& m);

}  // namespace tandem::state
