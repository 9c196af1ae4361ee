#include "net/backend_spec.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>

namespace tandem::net {

namespace {

constexpr std::string_view kHostFwdSyntax =
    "expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT";

bool parse_port(std::string_view text, uint16_t* port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return false;
  if (value == 0 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// Dotted quad only (inet_pton), so "1.2.3" or "localhost" are refused.
bool parse_addr(std::string_view text, uint32_t* addr) {
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return false;
  *addr = ntohl(a.s_addr);
  return true;
}

// "[ADDR:]PORT" -> address text (may be empty) and port text.
void split_addr_port(std::string_view text, std::string_view* addr, std::string_view* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *addr = {};
    *port = text;
  } else {
    *addr = text.substr(0, colon);
    *port = text.substr(colon + 1);
  }
}

Result<bool> parse_on_off(std::string_view key, std::string_view value) {
  if (value == "on" || value == "yes" || value == "true") return true;
  if (value == "off" || value == "no" || value == "false") return false;
  return Error(std::string(key) + " '" + std::string(value) + "': expected on or off");
}

Status parse_user_option(std::string_view key, std::string_view value, UserNetConfig* user) {
  if (key == "hostfwd") {
    auto fwd = parse_hostfwd(value);
    if (!fwd) return fwd.error();
    user->hostfwds.push_back(*fwd);
    return Ok();
  }
  if (key == "restrict") {
    auto on = parse_on_off(key, value);
    if (!on) return on.error();
    user->restricted = *on;
    return Ok();
  }
  return Error("unknown option '" + std::string(key) + "' for 'user' (expected hostfwd or restrict)");
}

Status parse_tap_option(std::string_view key, std::string_view value, bool* seen_ifname,
                        TapConfig* tap) {
  if (key != "ifname")
    return Error("unknown option '" + std::string(key) + "' for 'tap' (expected ifname)");
  if (*seen_ifname) return Error("tap ifname given twice");
  *seen_ifname = true;
  if (value.empty()) return Error("tap ifname is empty");
  // The kernel copies IFNAMSIZ bytes including the NUL; longer names would
  // be cut silently.
  if (value.size() >= IFNAMSIZ)
    return Error("tap ifname '" + std::string(value) + "': longer than " +
                 std::to_string(IFNAMSIZ - 1) + " characters");
  tap->ifname = std::string(value);
  return Ok();
}

}  // namespace

std::string ipv4_to_string(uint32_t addr) {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 0xff) + "." +
         std::to_string((addr >> 8) & 0xff) + "." + std::to_string(addr & 0xff);
}

std::string HostFwd::host_side() const {
  return std::string(udp ? "udp:" : "tcp:") + ipv4_to_string(host_addr) + ":" +
         std::to_string(host_port);
}

std::string HostFwd::to_string() const {
  return host_side() + "-" + ipv4_to_string(guest_addr) + ":" + std::to_string(guest_port);
}

Result<HostFwd> parse_hostfwd(std::string_view rule) {
  const std::string prefix = "hostfwd '" + std::string(rule) + "': ";
  auto fail = [&](std::string why) { return Error(prefix + why); };

  size_t dash = rule.find('-');
  if (dash == std::string_view::npos || rule.find('-', dash + 1) != std::string_view::npos)
    return fail(std::string(kHostFwdSyntax));
  std::string_view host = rule.substr(0, dash);
  std::string_view guest = rule.substr(dash + 1);

  size_t colon = host.find(':');
  if (colon == std::string_view::npos) return fail(std::string(kHostFwdSyntax));
  HostFwd fwd;
  std::string_view proto = host.substr(0, colon);
  if (proto == "udp") {
    fwd.udp = true;
  } else if (proto != "tcp" && !proto.empty()) {  // QEMU: empty means tcp
    return fail("bad protocol '" + std::string(proto) + "' (expected tcp or udp)");
  }

  std::string_view addr, port;
  split_addr_port(host.substr(colon + 1), &addr, &port);
  if (!addr.empty() && !parse_addr(addr, &fwd.host_addr))
    return fail("bad host address '" + std::string(addr) + "'");
  if (!parse_port(port, &fwd.host_port)) return fail("bad host port '" + std::string(port) + "'");

  split_addr_port(guest, &addr, &port);
  if (!addr.empty()) {
    if (!parse_addr(addr, &fwd.guest_addr))
      return fail("bad guest address '" + std::string(addr) + "'");
    if ((fwd.guest_addr & kUserNetmask) != kUserNetwork)
      return fail("guest address '" + std::string(addr) + "' is outside " +
                  ipv4_to_string(kUserNetwork) + "/24");
  }
  if (!parse_port(port, &fwd.guest_port)) return fail("bad guest port '" + std::string(port) + "'");
  return fwd;
}

Result<BackendSpec> parse_backend_spec(std::string_view spec) {
  if (spec.empty()) return Error("empty network backend spec (expected user or tap)");
  size_t comma = spec.find(',');
  std::string_view kind = spec.substr(0, comma);
  BackendSpec out;
  if (kind == "user") {
    out.kind = BackendSpec::Kind::kUser;
  } else if (kind == "tap") {
    out.kind = BackendSpec::Kind::kTap;
  } else {
    return Error("unknown network backend '" + std::string(kind) + "' (expected user or tap)");
  }

  bool seen_ifname = false;
  while (comma != std::string_view::npos) {
    size_t start = comma + 1;
    comma = spec.find(',', start);
    std::string_view option = spec.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (option.empty()) return Error("empty option in '" + std::string(spec) + "'");
    size_t eq = option.find('=');
    if (eq == std::string_view::npos)
      return Error("option '" + std::string(option) + "' for '" + std::string(kind) +
                   "' needs a value (" + std::string(option) + "=...)");
    std::string_view key = option.substr(0, eq);
    std::string_view value = option.substr(eq + 1);
    Status st = out.kind == BackendSpec::Kind::kUser
                    ? parse_user_option(key, value, &out.user)
                    : parse_tap_option(key, value, &seen_ifname, &out.tap);
    if (!st) return st.error();
  }
  return out;
}

}  // namespace tandem::net
