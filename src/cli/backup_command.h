#pragma once

namespace tandem::cli {

// `tandem backup --listen HOST:PORT ...`: returns the process exit status.
int backup_command(int argc, char** argv, int first);

}  // namespace tandem::cli
