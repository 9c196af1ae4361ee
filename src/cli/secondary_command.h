#pragma once

namespace tandem::cli {

// `tandem secondary --listen HOST:PORT ...`: returns the exit status.
int secondary_command(int argc, char** argv, int first);

}  // namespace tandem::cli
