// Where `tandem run` finds the default guest (kernel + initramfs) built by
// guest/build.sh when no --kernel is given.
#pragma once

#include <string>

#include "base/result.h"

namespace tandem::cli {

struct GuestImage {
  std::string kernel;
  std::string initrd;
  std::string append;
};

// $TANDEM_GUEST_DIR, else the newest guest-* directory in the cache
// (${TANDEM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tandem}).
Result<GuestImage> default_guest();

}  // namespace tandem::cli
