// A drive the VM may write without changing its image (QEMU's
// snapshot=on): the default for a restored snapshot's drive copies and
// for `tandem run --snapshot`.
//
// The VM's writes go to a file of its own, created *anonymous* (O_TMPFILE,
// else created and unlinked at once) in the image's directory: it has no
// name, so it goes when tandem exits however it exits, and it sits on the
// image's filesystem, where a reflink can work. Into that file the image
// is first reflinked (ioctl FICLONE: btrfs, xfs; instant, the filesystem
// copies on write); where that fails, the file becomes a copy-on-write
// overlay over the image (dev/cow_overlay.h). If the image's directory
// cannot take a file (read-only), the file goes to $TMPDIR (else /tmp).
#pragma once

#include <memory>
#include <string>

#include "dev/block_backend.h"

namespace tandem::dev {

struct PrivateDriveOptions {
  bool allow_reflink = true;  // false: always an overlay (tests)
};

// Opens the image at `path` read-only and returns its private copy.
Result<std::unique_ptr<BlockBackend>> open_private_drive(const std::string& path,
                                                         const PrivateDriveOptions& options = {});

// A new empty file with no name in directory `dir` (O_RDWR).
Result<int> create_anonymous_file(const std::string& dir);

}  // namespace tandem::dev
