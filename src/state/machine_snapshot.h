// Between a running board::Machine and a Snapshot: everything guest-visible
// except memory (the hart, every device, guest time) plus the machine
// configuration needed to rebuild an equivalent machine.
#pragma once

#include <span>

#include "base/result.h"
#include "board/machine.h"
#include "state/components.h"
#include "state/disk_copy.h"
#include "state/snapshot.h"

namespace tandem::state {

// Call with the hart stopped between slices (the vCPU thread).
Snapshot capture_machine(board::Machine& m);

// Sets the working set of `s` at the end of a trace: the active pages
// (order of first touch) and the code: every hart's block log (the blocks
// each entered since start_block_log(), in order; the logs stop), then
// `recent` (Machine::recent_blocks(), taken before), up to
// kMaxCodeBlocks. Same thread rule as capture_machine().
void set_working_set(Snapshot& s, board::Machine& m, std::vector<uint32_t> active,
                     const std::vector<uint64_t>& recent = {});

// The configuration recorded by capture_machine(). A drive the snapshot
// keeps a copy of (record_drive_copy) is the copy, found relative to the
// directory of `snapshot_path` and checked (size and sampled content):
// a missing, truncated or foreign copy is refused here, before any machine
// runs on it. Such a drive gets snapshot=on: the machine writes a private
// copy of it (dev/private_drive.h) and the snapshot stays as it is; a
// caller that wants the VM to write the copy in place clears it.
Result<board::MachineConfig> config_from_snapshot(const Snapshot& s, const std::string& snapshot_path = "");

// A drive a snapshot names, as `tandem snapshot info` reports it: the
// file a restore would run on and whether it is there. A drive with a
// copy of the snapshot instant (record_drive_copy) is also checked as
// config_from_snapshot() checks it (size and sampled content); a drive
// without one (read-only, or a suspended VM's image in place) has nothing
// recorded to check it against.
struct SnapshotDrive {
  size_t index = 0;
  std::string spec;  // as recorded
  std::string path;  // the file a restore opens ("" if the spec is bad)
  bool read_only = false;
  bool copy = false;         // a copy kept with the snapshot
  uint64_t copy_bytes = 0;   // its recorded size
  bool present = false;      // the file exists
  uint64_t file_bytes = 0;   // its size now, when present
  std::string problem;       // empty when the drive is usable as recorded
};
// Refuses, as config_from_snapshot() does, a malformed `drive_copy` entry.
Result<std::vector<SnapshotDrive>> snapshot_drives(const Snapshot& s, const std::string& snapshot_path);

// Points drive `index` (in --drive order) of `s` at `copy_path`, the copy
// of its content at the snapshot instant, and records the copy's identity
// (config keys `drive` and `drive_copy`, docs/snapshot-format.md). The
// snapshot names the copy by its file name alone, so the snapshot and its
// copies can move to another directory together.
Status record_drive_copy(Snapshot& s, size_t index, const std::string& copy_path, const DriveIdentity& id);

// Applies the states to a machine built from config_from_snapshot(s)
// (or one with the same components): a fresh one (Machine::create_empty)
// or one that has run since, between slices on its vCPU thread (a
// resync). Either ends as a fresh machine restored from `s` would be:
// caches rebuilt (TLB, decoded blocks), interrupt lines and timers driven
// from the restored state, virtio work budgets renewed, and the WFI wait
// set or cleared as captured. Every component is checked before anything
// changes (except what libslirp's own loader refuses); an error names the
// component. A network backend's restore expects a fresh backend: into a
// machine that has run, apply with `backends` false. Memory is not touched: load
// pages with load_pages_live() or a SnapshotReader.
Status apply_machine(const Snapshot& s, board::Machine& m, const ApplyOptions& options = {});

// Writes `pages` (page indices from the RAM base) with `data` (4 KiB each,
// in the same order) into a machine that may be running, between slices
// on its vCPU thread: code decoded from the old contents is dropped, and
// no dirty log sees the pages (mem::GuestMemory::load_pages). Refuses a
// page outside RAM before writing any.
Status load_pages_live(board::Machine& m, std::span<const uint32_t> pages, const uint8_t* data);

}  // namespace tandem::state
