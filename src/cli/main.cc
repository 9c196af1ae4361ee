// tandem: command-line entry point; each subcommand lives in its own file.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/run_command.h"

namespace {

const char kUsage[] =
    "usage: tandem <command> [options]\n"
    "commands:\n"
    "  run        boot a virtual machine (tandem run --help)\n";

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
  std::fprintf(stderr, "tandem: unknown command '%s' (try 'tandem --help')\n", argv[1]);
  return 2;
}
