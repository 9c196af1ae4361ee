// The flags `tandem backup` and `tandem secondary` share: both wait for a
// primary on --listen and run its VM on this host's backends and drive
// copies once it is lost.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "replication/arbiter.h"
#include "replication/connection.h"

namespace tandem::cli {

struct StandbyFlags {
  std::optional<replication::HostPort> listen;
  std::vector<std::string> nets;
  std::string drive_dir;
  unsigned heartbeat_ms = 100;
  std::optional<replication::ArbiterOptions> arbiter;
  std::string monitor;    // --monitor or --qmp
  std::string status_at;  // --status

  // A BackupOptions or an ft::SecondaryOptions, after a successful parse.
  template <typename Options>
  void fill(Options& o) const {
    o.listen = *listen;
    o.nets = nets;
    o.drive_dir = drive_dir;
    o.heartbeat_ms = heartbeat_ms;
    o.arbiter = arbiter;
  }
};

// Parses argv[first..]: nothing to go on, else the exit status (0 after
// --help printed `usage`, 2 after an error naming the flag; `command`
// names the command in it).
std::optional<int> parse_standby_flags(int argc, char** argv, int first, const char* command, const char* usage,
                        StandbyFlags& out);

}  // namespace tandem::cli
