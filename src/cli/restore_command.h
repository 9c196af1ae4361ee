#pragma once

namespace tandem::cli {

// `tandem restore FILE [--mode eager|lazy|working-set] [--stats] [--monitor unix:PATH]`
int restore_command(int argc, char** argv, int first);

}  // namespace tandem::cli
