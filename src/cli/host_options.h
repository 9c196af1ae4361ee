// What `tandem run` does as a host process rather than as a machine:
// QEMU's -name, -pidfile and -daemonize.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace tandem::cli {

struct HostOptions {
  std::string name;     // query-name and the process title
  std::string pidfile;  // written once the VM is up, removed at exit
  bool daemonize = false;
  std::string status;   // --status HOST:PORT: the status page (cli/status_server.h)
};

// Forks: the parent waits until the child calls daemon_ready() (then exits
// 0) or exits (then exits with its status); returns only in the child,
// which is a new session with stdin and stdout on /dev/null (stderr stays
// until ready, so errors while the VM is built are seen).
Status daemonize();
// The VM is up: tells the waiting parent, and stderr goes to /dev/null.
void daemon_ready();

// Names this process (prctl PR_SET_NAME: ps, top; 15 bytes are kept).
void set_process_name(const std::string& name);

// A pidfile holding this process's id, removed when the object goes.
class PidFile {
 public:
  static Result<std::unique_ptr<PidFile>> write(const std::string& path);
  ~PidFile();

 private:
  explicit PidFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace tandem::cli
