#include "cli/monitor_spec.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <vector>

namespace tandem::cli {

Result<std::string> parse_monitor_spec(const std::string& spec) {
  auto fail = [&](const std::string& why) { return Error("monitor '" + spec + "': " + why); };
  if (spec.rfind("unix:", 0) != 0) return fail("expected unix:PATH[,server][,nowait]");
  // Split at single commas; ",," stays in the path as one comma (QEMU's
  // escape).
  std::vector<std::string> parts(1);
  for (size_t i = 5; i < spec.size(); i++) {
    if (spec[i] != ',') {
      parts.back() += spec[i];
    } else if (parts.size() == 1 && i + 1 < spec.size() && spec[i + 1] == ',') {
      parts.back() += ',';
      i++;
    } else {
      parts.emplace_back();
    }
  }
  const std::string& path = parts[0];
  if (path.empty()) return fail("expected unix:PATH[,server][,nowait]");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return fail("socket path too long");
  for (size_t i = 1; i < parts.size(); i++) {
    const std::string& o = parts[i];
    if (o == "server" || o == "server=on" || o == "nowait" || o == "wait=off") continue;
    if (o == "wait" || o == "wait=on")
      return fail("'" + o + "' is not supported: tandem's monitor never waits for a client before the VM runs");
    if (o == "server=off" || o == "noserver")
      return fail("'" + o + "' is not supported: tandem's monitor listens, it does not connect");
    return fail("unknown option '" + o + "' (accepted: server, nowait, wait=off)");
  }
  return path;
}

Result<int> listen_monitor_socket(const std::string& spec, int flags) {
  auto parsed = parse_monitor_spec(spec);
  if (!parsed.ok()) return parsed.error();
  const std::string& path = *parsed;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (fd < 0) return sys_error("monitor socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4) != 0) {
    auto e = sys_error("monitor " + spec);
    ::close(fd);
    return e;
  }
  return fd;
}

Status check_monitor_spec(const std::string& spec) {
  auto p = parse_monitor_spec(spec);
  if (!p.ok()) return p.error();
  return Ok();
}

}  // namespace tandem::cli
