// The host side of the guest's network card: a Backend takes the frames the
// virtio-net device transmits and hands frames from the world back to it.
//
// Everything runs on the vCPU thread. The board's run loop polls all host
// fds between CPU slices:
//
//   std::vector<pollfd> fds;  int timeout_ms = -1;   // -1: no limit
//   backend.add_poll_fds(fds, timeout_ms);           // appends, may lower
//   poll(fds.data(), fds.size(), timeout_ms);
//   backend.dispatch(fds);                           // same vector
//
// Frames for the guest reach the receive callback only from dispatch(), so
// host input enters the guest at one defined point (docs/architecture.md,
// "Time and determinism"); a frame the backend produces while send() runs
// (an ARP reply from slirp) waits for the next dispatch(), and
// add_poll_fds() then asks for a zero timeout.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace tandem::net {

// world -> guest. The callee copies the frame if it keeps it.
using ReceiveFn = std::function<void(const uint8_t* frame, size_t len)>;

class Backend {
 public:
  virtual ~Backend() = default;

  // guest -> world: one Ethernet frame without virtio header or FCS.
  // Never blocks; a frame the host cannot take now is dropped (as a full
  // NIC queue would; TCP retransmits).
  virtual void send(const uint8_t* frame, size_t len) = 0;

  // Frames without a callback set are dropped.
  void set_receive(ReceiveFn fn) { receive_ = std::move(fn); }

  // Appends the fds to wait on and lowers timeout_ms (-1 = infinite) to the
  // backend's next deadline. Entries appended here must still be at the
  // same positions when the vector is passed to dispatch().
  virtual void add_poll_fds(std::vector<pollfd>& fds, int& timeout_ms) = 0;

  // Serves ready fds and expired timers and delivers pending frames. Safe
  // to call without a poll() in between (fds without revents are skipped).
  virtual void dispatch(const std::vector<pollfd>& fds) = 0;

  // One line for logs and the monitor, e.g. "tap ifname=tap0".
  virtual std::string describe() const = 0;

 protected:
  void deliver(const uint8_t* frame, size_t len) {
    if (receive_) receive_(frame, len);
  }

 private:
  ReceiveFn receive_;
};

// Builds a backend from a QEMU-like spec (see backend_spec.h):
//   user
//   user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-:53
//   tap,ifname=tap0
Result<std::unique_ptr<Backend>> make_backend(std::string_view spec);

}  // namespace tandem::net
