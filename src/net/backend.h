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
#include "net/tcp_seq_shift.h"

namespace tandem::net {

// world -> guest. The callee copies the frame if it keeps it.
using ReceiveFn = std::function<void(const uint8_t* frame, size_t len)>;

// What of a backend the guest can observe, as a snapshot keeps it
// (docs/snapshot-format.md, "nic"). Host sockets and open connections are
// not in it: they belong to the process; the guest sees them reset.
struct BackendState {
  enum class Kind : uint8_t { kUser = 0, kTap = 1 };
  Kind kind = Kind::kUser;
  // Frames produced for the guest and not yet handed to it.
  std::vector<std::vector<uint8_t>> frames;
  // user only: see tcp_seq_shift.h.
  TcpSeqShift::State tcp;
  // user only: libslirp's own state (slirp_state_save: IP id counter,
  // DHCP leases) and the slirp_state_version() it was written with.
  uint32_t slirp_version = 0;
  std::vector<uint8_t> slirp;
  // user only: what libslirp's ARP table learned from the guest, as
  // 10-byte entries (IPv4 address, MAC), oldest first. libslirp does not
  // save it; a fresh stack would ARP for the guest before its first reply.
  std::vector<uint8_t> arp;
  // user only: slirp's armed timers by SlirpTimerId, ms left to expiry.
  std::vector<uint32_t> timer_ids;
  std::vector<uint64_t> timer_left_ms;
  bool operator==(const BackendState&) const = default;
};

// The host side of one guest NIC in a snapshot: frames the board holds for
// a guest that has posted no receive buffer yet, and the backend's state.
struct NicState {
  std::vector<std::vector<uint8_t>> rx_frames;
  BackendState backend;
  bool operator==(const NicState&) const = default;
};

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

  // For snapshots, on the vCPU thread between slices. restore() expects a
  // backend just created from the same spec; it checks the state before
  // changing anything it can take back (libslirp's loader may stop half
  // way: the caller then discards the backend). check() is that check
  // alone, changing nothing; only libslirp's loader can refuse more.
  virtual BackendState save() const = 0;
  virtual Status check(const BackendState& state) const = 0;
  virtual Status restore(const BackendState& state) = 0;

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
// `clock_ns` drives the user stack's timers (default: CLOCK_MONOTONIC);
// the board passes guest time, so timers stand still while the VM is
// stopped and follow the instruction count under --icount.
Result<std::unique_ptr<Backend>> make_backend(std::string_view spec,
                                              std::function<int64_t()> clock_ns = {});

}  // namespace tandem::net
