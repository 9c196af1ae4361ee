// Parsing of network backend specs (the --net argument), kept apart from
// the backends so that every bad spec is answered before a socket opens.
//
//   user[,hostfwd=RULE]...[,restrict=on|off]
//   tap[,ifname=NAME]
//
// RULE is QEMU's [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT.
// As in QEMU, an empty HOSTADDR means every interface (0.0.0.0): a rule
// written for QEMU forwards the same way here; 127.0.0.1 keeps the port to
// this host. GUESTADDR defaults to the first DHCP address, 10.0.2.15.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tandem::net {

// IPv4 addresses in host byte order: 10.0.2.15 is 0x0a00020f.
constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}
std::string ipv4_to_string(uint32_t addr);

// QEMU's user-network layout (docs: QEMU "Network emulation", -netdev user).
inline constexpr uint32_t kUserNetwork = ipv4(10, 0, 2, 0);
inline constexpr uint32_t kUserNetmask = ipv4(255, 255, 255, 0);
inline constexpr uint32_t kUserHost = ipv4(10, 0, 2, 2);
inline constexpr uint32_t kUserDns = ipv4(10, 0, 2, 3);
inline constexpr uint32_t kUserDhcpStart = ipv4(10, 0, 2, 15);
inline constexpr uint32_t kDefaultHostFwdAddr = ipv4(0, 0, 0, 0);

struct HostFwd {
  bool udp = false;
  uint32_t host_addr = kDefaultHostFwdAddr;
  uint16_t host_port = 0;
  uint32_t guest_addr = kUserDhcpStart;
  uint16_t guest_port = 0;

  // "tcp:127.0.0.1:8080": what the host listens on (names errors).
  std::string host_side() const;
  // "tcp:127.0.0.1:8080-10.0.2.15:80"
  std::string to_string() const;
  bool operator==(const HostFwd&) const = default;
};

// Parses one RULE; errors read "hostfwd 'RULE': ...".
Result<HostFwd> parse_hostfwd(std::string_view rule);

struct UserNetConfig {
  std::vector<HostFwd> hostfwds;
  bool restricted = false;  // guest may reach only the host forwards
};

struct TapConfig {
  std::string ifname;  // empty: the kernel picks tapN
};

struct BackendSpec {
  enum class Kind { kUser, kTap };
  Kind kind = Kind::kUser;
  UserNetConfig user;
  TapConfig tap;
};

Result<BackendSpec> parse_backend_spec(std::string_view spec);

}  // namespace tandem::net
