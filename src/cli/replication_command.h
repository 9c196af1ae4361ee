#pragma once

namespace tandem::cli {

// `tandem replication status --monitor [unix:]PATH [--json]`: prints a
// protected VM's (or a backup's) replication status for a person.
int replication_command(int argc, char** argv, int first);

}  // namespace tandem::cli
