#pragma once

#include "base/result.h"
#include "board/machine_config.h"

namespace tandem::cli {

// Parses `tandem run` options (argv after "run").
Result<board::MachineConfig> parse_run_options(int argc, char** argv, int first);

// `tandem run ...`: returns the process exit status.
int run_command(int argc, char** argv, int first);

extern const char kRunUsage[];

}  // namespace tandem::cli
