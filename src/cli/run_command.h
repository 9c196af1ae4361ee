#pragma once

#include "base/result.h"
#include "board/machine.h"
#include "board/machine_config.h"
#include "cli/host_options.h"
#include "cli/replication_control.h"
#include "cli/status_publisher.h"
#include "cli/status_server.h"

namespace tandem::cli {

// Parses `tandem run` options (argv after "run"); the host process's own
// (--name, --pidfile, --daemonize) go to `host` when given.
Result<board::MachineConfig> parse_run_options(int argc, char** argv, int first, HostOptions* host = nullptr);

// Sets snapshot=on (the VM writes a private copy, dev/private_drive.h) or
// off (in place) on every drive of `c`.
void set_drive_snapshot(board::MachineConfig& c, bool on);

// `tandem run ...`: returns the process exit status.
int run_command(int argc, char** argv, int first);

// Runs a built machine, with the monitor at `monitor_spec` if not empty,
// and its figures on `status`'s page if given.
Result<int> run_machine(board::Machine& m, const std::string& monitor_spec, ReplicationControl* replication,
                        StatusServer* status = nullptr);
// The status sources of a VM (cli/status_publisher.h): its own figures
// (`name`: --name) and its replication's; publishes them once.
void publish_status(StatusPublisher& publisher, board::Machine& m, std::chrono::steady_clock::time_point started,
                    const std::string& name, ReplicationControl& replication);

extern const char kRunUsage[];

}  // namespace tandem::cli
