// A loopback port for a test's server to listen on.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>

namespace tandem::unit_test {

inline bool loopback_port_free(int type, uint16_t port) {
  int s = ::socket(AF_INET, type, 0);
  if (s < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A port nothing is bound to, below the kernel's ephemeral range
// (ip_local_port_range): an outgoing connection, this test's or one
// running beside it, can take a port bind(0) returned before the test
// binds it, never one below that range.
inline uint16_t free_port(int type = SOCK_STREAM) {
  unsigned low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  if (!(range >> low)) low = 32768;
  std::mt19937 rng(std::random_device{}());
  if (low > 11000 && low <= 65535)
    for (int k = 0; k < 200; ++k) {
      const auto port = static_cast<uint16_t>(10000 + rng() % (low - 10000));
      if (loopback_port_free(type, port)) return port;
    }
  int s = ::socket(AF_INET, type, 0);  // the kernel's choice, as a last resort
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

}  // namespace tandem::unit_test
