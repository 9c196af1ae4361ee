#include "cli/monitor_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "cli/monitor_spec.h"

namespace tandem::cli {

using nlohmann::json;

LineClient::~LineClient() {
  if (fd_ >= 0) ::close(fd_);
}

Status LineClient::connect(const std::string& given) {
  const std::string spec = given.rfind("unix:", 0) == 0 ? given : "unix:" + given;
  auto path = parse_monitor_spec(spec);
  if (!path.ok()) return path.error();
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return sys_error("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path->c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return sys_error("connect to monitor " + spec);
  // QMP: the greeting, then capability negotiation before any command.
  auto greeting = next();
  if (!greeting.ok()) return greeting.error();
  if (!greeting->contains("QMP")) return Error("monitor " + spec + " did not greet as QMP: " + greeting->dump());
  auto negotiated = execute("qmp_capabilities");
  if (!negotiated.ok()) return negotiated.error();
  return Ok();
}

Status LineClient::send(const json& j) {
  std::string line = j.dump() + "\n";
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return sys_error("write to monitor");
  return Ok();
}

Result<json> LineClient::next() {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded()) return Error("monitor sent malformed JSON: " + line.substr(0, 80));
      return j;
    }
    char tmp[4096];
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n == 0) return Error("monitor closed the connection");
    if (n < 0) return sys_error("read from monitor");
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

Result<json> LineClient::execute(const std::string& command, const json& args) {
  TANDEM_TRY(send({{"execute", command}, {"arguments", args}}));
  for (;;) {
    auto m = next();
    if (!m.ok()) return m.error();
    if (m->contains("error")) return Error(command + ": " + (*m)["error"].value("desc", "failed"));
    if (m->contains("return")) return (*m)["return"];
  }
}

}  // namespace tandem::cli
