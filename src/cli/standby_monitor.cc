#include "cli/standby_monitor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "cli/monitor_spec.h"
#include "cli/qmp.h"
#include "cli/replication_control.h"

namespace tandem::cli {

using nlohmann::json;

namespace {
const std::vector<QmpCommand> kStandbyCommands = {
    {"qmp_capabilities", {"enable"}}, {"query-commands", {}}, {"query-version", {}},
    {"query-status", {}},            {"query-replication", {}}, {"query-memory-hash", {}},
    {"quit", {}},
};
}  // namespace

Result<std::unique_ptr<StandbyMonitor>> StandbyMonitor::create(const std::string& spec, replication::Backup& b) {
  auto fd = listen_monitor_socket(spec, 0);
  if (!fd.ok()) return fd.error();
  int stop = eventfd(0, EFD_CLOEXEC);
  return std::unique_ptr<StandbyMonitor>(new StandbyMonitor(b, *fd, stop, *parse_monitor_spec(spec)));
}

StandbyMonitor::StandbyMonitor(replication::Backup& b, int listen_fd, int stop_fd, std::string path)
    : backup_(b), listen_fd_(listen_fd), stop_fd_(stop_fd), path_(std::move(path)) {
  thread_ = Thread([this] { serve(); });
}

StandbyMonitor::~StandbyMonitor() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  ::unlink(path_.c_str());
}

// One client at a time, line by line: a person or a script asking how the
// backup is doing.
void StandbyMonitor::serve() {
  for (;;) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents) return;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    auto send = [c](const json& j) {
      std::string s = qmp_line(j);  // a malformed request's echo may be invalid UTF-8
      (void)!::send(c, s.data(), s.size(), MSG_NOSIGNAL);  // a client gone is no reason to die
    };
    send(qmp_greeting());
    QmpSession session;
    for (bool open = true; open;) {
      pollfd p[2] = {{stop_fd_, POLLIN, 0}, {c, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[0].revents) {
        ::close(c);
        return;
      }
      char buf[4096];
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0 || session.in.pending() > (1 << 20)) break;
      session.in.feed({buf, static_cast<size_t>(n)});
      while (auto text = session.in.next()) {
        send(qmp_serve(*text, session, kStandbyCommands, [&](const std::string& cmd, const json&) -> json {
          if (cmd == "query-replication") return {{"return", to_json(backup_.status())}};
          if (cmd == "query-memory-hash") {
            if (auto h = backup_.committed_memory_hash())
              return {{"return", {{"xxh3", hex64(*h)}, {"committed", true}}}};
            return {{"return", {{"committed", false}}}};
          }
          if (cmd == "query-status")
            return {{"return", {{"status", "standby"}, {"running", false}, {"singlestep", false}}}};
          if (cmd == "query-version") return {{"return", qmp_version()}};
          if (cmd == "query-commands") return {{"return", qmp_command_list(kStandbyCommands)}};
          backup_.request_stop();  // quit
          open = false;
          return {{"return", json::object()}};
        }));
      }
    }
    ::close(c);
  }
}

}  // namespace tandem::cli
