// tandem: command-line entry point; each subcommand lives in its own file.
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "cli/backup_command.h"
#include "cli/ft_command.h"
#include "cli/replication_command.h"
#include "cli/restore_command.h"
#include "cli/secondary_command.h"
#include "cli/run_command.h"
#include "cli/snapshot_command.h"
#include "cli/version.h"

namespace {

const char kUsage[] =
    "usage: tandem <command> [options]\n"
    "commands:\n"
    "  run        boot a virtual machine (tandem run --help)\n"
    "  snapshot   suspend a running machine to a file, or show what a snapshot\n"
    "             file holds (tandem snapshot --help)\n"
    "  restore    resume a machine from a snapshot file (tandem restore --help)\n"
    "  backup     hold a protected machine's checkpoints, take over when its\n"
    "             primary is lost (tandem backup --help)\n"
    "  replication status --monitor PATH   a protected VM's or backup's replication\n"
    "  secondary  run the secondary of a quasi-lockstep pair, go live when its\n"
    "             primary is lost (tandem secondary --help)\n"
    "  ft status --monitor PATH   a quasi-lockstep primary's or secondary's state\n"
    "  --version, -V   tandem's version and its libraries'\n";

// Memory freed stays with the process, and heaps grow in large steps.
// Each time glibc hands memory back (trimming a heap) or grows one a page
// at a time, the kernel changes the mappings of a process whose other
// thread is running on the other core; on the 2-vCPU VM measured here the
// cross-core TLB flush made an munmap 9-13 us dearer. By default a working-
// set restore made 229 such calls (101 heap grows and shrinks of its
// streamer's arena), a lazy one 601 (540 brk); tuned, 57 and 55, and the
// first answer of a working-set restore came 0.5-2 ms sooner (16 restores
// in turn, the same settings through GLIBC_TUNABLES). tandem's RSS is its guest's RAM; keeping a few MiB of freed
// heap is cheap beside that.
void tune_malloc() {
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc();
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    std::fputs(tandem::cli::version_text().c_str(), stdout);
    return 0;
  }
  if (cmd == "run") return tandem::cli::run_command(argc, argv, 2);
  if (cmd == "snapshot") return tandem::cli::snapshot_command(argc, argv, 2);
  if (cmd == "restore") return tandem::cli::restore_command(argc, argv, 2);
  if (cmd == "backup") return tandem::cli::backup_command(argc, argv, 2);
  if (cmd == "replication") return tandem::cli::replication_command(argc, argv, 2);
  if (cmd == "secondary") return tandem::cli::secondary_command(argc, argv, 2);
  if (cmd == "ft") return tandem::cli::ft_command(argc, argv, 2);
  std::fprintf(stderr, "tandem: unknown command '%s' (try 'tandem --help')\n", argv[1]);
  return 2;
}
