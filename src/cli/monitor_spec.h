// The monitor's address as QEMU spells its -qmp/-monitor chardev:
// "unix:PATH[,server][,nowait][,wait=off][,server=on]". tandem's monitor is
// always a listening server that does not wait for a client, so those
// options are accepted and change nothing; "wait=on" and anything else are
// refused by name, never taken into the path. ",," is a comma in PATH.
#pragma once

#include <string>

#include "base/result.h"

namespace tandem::cli {

// The socket path of a monitor spec.
Result<std::string> parse_monitor_spec(const std::string& spec);

// Tells whether a monitor spec is well formed.
Status check_monitor_spec(const std::string& spec);

// A listening unix socket at the spec's path (a file there is replaced),
// with extra socket() `flags` (SOCK_NONBLOCK).
Result<int> listen_monitor_socket(const std::string& spec, int flags);

}  // namespace tandem::cli
