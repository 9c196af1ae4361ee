// A TAP interface of the host kernel (/dev/net/tun, IFF_TAP|IFF_NO_PI):
// frames go to and come from the named interface as they are, with no
// packet-info header. Creating one needs CAP_NET_ADMIN, or a persistent
// interface owned by this user (ip tuntap add tap0 mode tap user $USER).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/backend.h"

namespace tandem::net {

class TapBackend final : public Backend {
 public:
  // ifname empty: the kernel picks tapN. Errors read
  // "open /dev/net/tun: ..." or "TUNSETIFF tap0: ...". `device` is the
  // clone device, replaceable for tests.
  static Result<std::unique_ptr<TapBackend>> open(std::string_view ifname,
                                                  const char* device = "/dev/net/tun");
  ~TapBackend() override;
  TapBackend(const TapBackend&) = delete;
  TapBackend& operator=(const TapBackend&) = delete;

  void send(const uint8_t* frame, size_t len) override;
  void add_poll_fds(std::vector<pollfd>& fds, int& timeout_ms) override;
  void dispatch(const std::vector<pollfd>& fds) override;
  std::string describe() const override;
  // The host's interface keeps its own state; only undelivered frames
  // would matter, and none wait here (they stay in the kernel's queue).
  BackendState save() const override;
  Status check(const BackendState& state) const override;
  Status restore(const BackendState& state) override;

  // The name the kernel gave (differs from the request when that was empty).
  const std::string& ifname() const { return ifname_; }
  int fd() const { return fd_; }
  // Frames the kernel refused (interface down, queue full).
  uint64_t dropped_frames() const { return dropped_; }

 private:
  // Frames read per dispatch(): a flood from the host must not starve the
  // guest's CPU slice; the rest waits for the next round.
  static constexpr int kMaxFramesPerDispatch = 64;

  TapBackend(int fd, std::string ifname) : fd_(fd), ifname_(std::move(ifname)) {}

  int fd_ = -1;
  std::string ifname_;
  uint64_t dropped_ = 0;
  std::vector<uint8_t> buf_;
};

}  // namespace tandem::net
