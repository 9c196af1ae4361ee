#include "cli/host_options.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace tandem::cli {

namespace {
int ready_fd = -1;  // the daemon's end of the pipe its parent waits on

void to_dev_null(int fd) {
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return;
  ::dup2(null_fd, fd);
  ::close(null_fd);
}
}  // namespace

Status daemonize() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("daemonize: pipe");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return sys_error("daemonize: fork");
  if (pid > 0) {
    ::close(p[1]);
    char byte;
    ssize_t n;
    while ((n = ::read(p[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1) ::_exit(0);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
  }
  ::close(p[0]);
  ready_fd = p[1];
  if (::setsid() < 0) return sys_error("daemonize: setsid");
  to_dev_null(STDIN_FILENO);
  to_dev_null(STDOUT_FILENO);
  return Ok();
}

void daemon_ready() {
  if (ready_fd < 0) return;
  char byte = 1;
  (void)!::write(ready_fd, &byte, 1);
  ::close(ready_fd);
  ready_fd = -1;
  to_dev_null(STDERR_FILENO);
}

void set_process_name(const std::string& name) { ::prctl(PR_SET_NAME, name.substr(0, 15).c_str(), 0, 0, 0); }

Result<std::unique_ptr<PidFile>> PidFile::write(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return sys_error("pidfile '" + path + "'");
  std::string text = std::to_string(::getpid()) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return sys_error("pidfile '" + path + "'");
  return std::unique_ptr<PidFile>(new PidFile(path));
}

PidFile::~PidFile() { ::unlink(path_.c_str()); }

}  // namespace tandem::cli
