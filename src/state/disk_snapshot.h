// The writable drives of a machine in a snapshot that lets the VM go on:
// at the snapshot instant each gets a DiskCopy (state/disk_copy.h) named
// FILE.driveN next to the snapshot FILE (N: the drive's position among the
// --drive options), hooked into its virtio-blk so the guest's writes keep
// the copy at the instant. Read-only drives need nothing: the snapshot
// names them as they are.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "board/machine.h"
#include "state/disk_copy.h"
#include "state/snapshot.h"

namespace tandem::state {

// The copy of drive `index` for the snapshot at `snapshot_path`.
std::string drive_copy_path(const std::string& snapshot_path, size_t index);

// fdatasync of every writable drive: a suspend makes the disk as durable
// as the snapshot before committing it. A drive on a private copy
// (dev/private_drive.h: a restore's default, run --snapshot) is refused:
// its content ends with the process.
Status flush_drives(board::Machine& m);

// Before a suspend to `snapshot_path`, on the vCPU thread: each writable
// drive on a private copy is copied to FILE.driveN (DiskCopy: a reflink
// where the filesystem can, else a copy read through the overlay, holes
// kept) and the VM goes on on that file, in place; the suspended snapshot
// names it as its disk, as it names any suspended VM's image. The guest
// waits for the copy (measured in docs/performance.md).
Status write_out_private_drives(board::Machine& m, const std::string& snapshot_path);

class DriveSnapshots {
 public:
  // On the vCPU thread between slices: the snapshot instant. A machine
  // without writable drives gets an empty set.
  static Result<std::unique_ptr<DriveSnapshots>> start(board::Machine& m, const std::string& snapshot_path,
                                                       const DiskCopy::Options& options = {});
  // Unhooks the drives; copies not committed are removed.
  ~DriveSnapshots();
  DriveSnapshots(const DriveSnapshots&) = delete;
  DriveSnapshots& operator=(const DriveSnapshots&) = delete;

  bool empty() const { return drives_.empty(); }
  // Every copy holds its instant and is durable (or one failed: status()).
  bool done() const;
  Status status() const;
  uint64_t bytes_total() const;
  uint64_t bytes_done() const;
  uint64_t bytes_copied_early() const;
  bool all_reflinked() const;
  std::vector<std::string> paths() const;

  // Once done(), on the vCPU thread: unhooks the drives, renames every copy
  // into place and points the snapshot's `drive` entries at them, with
  // what restore checks (state/machine_snapshot.h, record_drive_copy).
  Status commit(Snapshot& snap);
  // The snapshot could not be committed: its copies go too.
  void discard();

 private:
  struct Drive {
    size_t index = 0;  // among the machine's drives
    dev::VirtioBlk* blk = nullptr;
    std::unique_ptr<DiskCopy> copy;
    int hook = 0;  // its write hook on blk, 0 once removed
  };
  DriveSnapshots() = default;
  void unhook();

  std::vector<Drive> drives_;
};

}  // namespace tandem::state
