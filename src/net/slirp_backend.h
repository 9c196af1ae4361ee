// User-mode networking through libslirp: a small TCP/IP stack in this
// process that answers the guest's ARP/DHCP/DNS and relays its TCP and UDP
// through ordinary host sockets. Layout as QEMU's -netdev user: network
// 10.0.2.0/24, gateway/host 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15,
// IPv6 prefix fec0::/64 (host fec0::2, DNS fec0::3).
//
// slirp keeps no thread: its sockets join the run loop's poll() through
// add_poll_fds()/dispatch(), and its timers (the IPv6 router advertisement)
// are kept here and fired from dispatch(). Creating one sets SIGPIPE to
// SIG_IGN if it was at its default (libslirp writes with plain send()).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/backend.h"
#include "net/backend_spec.h"
#include "net/tcp_seq_shift.h"

struct Slirp;

namespace tandem::net {

class SlirpBackend final : public Backend {
 public:
  // Nanoseconds of a monotonic clock; defaults to CLOCK_MONOTONIC. Tests
  // pass their own to fire timers without waiting.
  using ClockNs = std::function<int64_t()>;

  // Opens the host forwards; a port already taken gives
  // "hostfwd tcp:127.0.0.1:8080: address already in use".
  static Result<std::unique_ptr<SlirpBackend>> create(const UserNetConfig& config,
                                                      ClockNs clock = {});
  ~SlirpBackend() override;
  SlirpBackend(const SlirpBackend&) = delete;
  SlirpBackend& operator=(const SlirpBackend&) = delete;

  void send(const uint8_t* frame, size_t len) override;
  void add_poll_fds(std::vector<pollfd>& fds, int& timeout_ms) override;
  void dispatch(const std::vector<pollfd>& fds) override;
  std::string describe() const override;
  BackendState save() const override;
  Status check(const BackendState& state) const override;
  Status restore(const BackendState& state) override;

  // Frames slirp produced but the queue could not hold (guest not
  // draining); slirp's TCP recovers from these.
  uint64_t dropped_frames() const { return dropped_; }

 private:
  struct Timer;
  // Bounds the frames waiting for dispatch(): about 20 full TCP windows.
  static constexpr size_t kMaxPendingFrames = 1024;

  SlirpBackend(const UserNetConfig& config, ClockNs clock);
  int64_t now_ns() const;
  void fire_due_timers();

  // libslirp's callbacks (SlirpCb), defined in the .cc with libslirp's
  // exact types; their opaque pointer is the SlirpBackend.
  friend struct SlirpCallbacks;

  UserNetConfig config_;
  ClockNs clock_;
  Slirp* slirp_ = nullptr;
  std::vector<std::unique_ptr<Timer>> timers_;
  std::deque<std::vector<uint8_t>> pending_;  // frames for the guest
  TcpSeqShift seq_shift_;
  // Senders of the guest's ARP frames (see BackendState::arp), at most
  // kArpEntries (libslirp's table size), most recent last.
  static constexpr size_t kArpEntries = 16;
  static constexpr size_t kArpEntryBytes = 10;
  std::vector<uint8_t> arp_;
  void note_guest_arp(const uint8_t* frame, size_t len);
  std::vector<uint8_t> shifted_;  // a guest frame with its ack shifted
  uint64_t dropped_ = 0;

  // What add_poll_fds() appended last: positions in the caller's vector
  // and the fd at each, checked again in dispatch().
  std::vector<pollfd>* fill_fds_ = nullptr;
  size_t fill_begin_ = 0;
  std::vector<int> fill_fd_at_;
  const std::vector<pollfd>* poll_fds_ = nullptr;
};

}  // namespace tandem::net
