#pragma once

namespace tandem::cli {

// `tandem snapshot suspend --monitor unix:PATH FILE`: asks a running tandem
// to suspend to FILE, shows progress, prints the report as JSON.
int snapshot_command(int argc, char** argv, int first);

}  // namespace tandem::cli
