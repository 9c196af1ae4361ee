// tandem: command-line entry point; each subcommand lives in its own file.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/restore_command.h"
#include "cli/run_command.h"
#include "cli/snapshot_command.h"

namespace {

const char kUsage[] =
    "usage: tandem <command> [options]\n"
    "commands:\n"
    "  run        boot a virtual machine (tandem run --help)\n"
    "  snapshot   suspend a running machine to a file (tandem snapshot --help)\n"
    "  restore    resume a machine from a snapshot file (tandem restore --help)\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "run") return tandem::cli::run_command(argc, argv, 2);
  if (cmd == "snapshot") return tandem::cli::snapshot_command(argc, argv, 2);
  if (cmd == "restore") return tandem::cli::restore_command(argc, argv, 2);
  std::fprintf(stderr, "tandem: unknown command '%s' (try 'tandem --help')\n", argv[1]);
  return 2;
}
