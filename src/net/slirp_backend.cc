#include "net/slirp_backend.h"

#include <arpa/inet.h>
#include <libslirp.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "base/log.h"

namespace tandem::net {

struct SlirpBackend::Timer {
  SlirpTimerCb cb = nullptr;  // set by timer_new; else slirp_handle_timer(id)
  SlirpTimerId id = SLIRP_TIMER_RA;
  void* cb_opaque = nullptr;
  int64_t expire_ms = -1;  // -1: not armed
};

namespace {

in_addr to_in_addr(uint32_t host_order) {
  in_addr a{};
  a.s_addr = htonl(host_order);
  return a;
}

in6_addr to_in6_addr(const char* text) {
  in6_addr a{};
  inet_pton(AF_INET6, text, &a);
  return a;
}

short poll_events_from_slirp(int events) {
  short out = 0;
  if (events & SLIRP_POLL_IN) out |= POLLIN;
  if (events & SLIRP_POLL_OUT) out |= POLLOUT;
  if (events & SLIRP_POLL_PRI) out |= POLLPRI;
  return out;
}

int slirp_revents_from_poll(short revents) {
  int out = 0;
  if (revents & POLLIN) out |= SLIRP_POLL_IN;
  if (revents & POLLOUT) out |= SLIRP_POLL_OUT;
  if (revents & POLLPRI) out |= SLIRP_POLL_PRI;
  if (revents & (POLLERR | POLLNVAL)) out |= SLIRP_POLL_ERR;
  if (revents & POLLHUP) out |= SLIRP_POLL_HUP;
  return out;
}

// libslirp writes to host sockets with plain send(): a host peer that has
// gone away would raise SIGPIPE and kill the process (QEMU ignores the
// signal process-wide for the same reason). A handler someone installed is
// left alone.
void ignore_sigpipe() {
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
      !(old.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

// libslirp 4.7 listens on a TCP host forward with a backlog of 1 (tcpx_listen)
// and accepts one connection per slirp_pollfds_poll(). A burst of clients
// then overflows the host's accept queue (2 entries): Linux drops further
// SYNs, and final ACKs and first requests of handshakes it answered with a
// SYN cookie, so clients wait on their retransmissions for seconds, some
// for good, and some are reset (docs/performance.md, "Connection bursts on
// a forwarded port"). listen() on a listening socket only changes its
// backlog, so each forward's socket gets SOMAXCONN; they are the only
// listening sockets a fresh stack polls. Returns how many were raised.
int raise_listen_backlogs(Slirp* slirp) {
  std::vector<int> fds;
  auto collect = [](int fd, int, void* opaque) {
    static_cast<std::vector<int>*>(opaque)->push_back(fd);
    return -1;  // no revents will be asked for
  };
  uint32_t timeout = UINT32_MAX;
  slirp_pollfds_fill(slirp, &timeout, collect, &fds);
  int raised = 0;
  for (int fd : fds) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
        listen(fd, SOMAXCONN) == 0)
      raised++;
  }
  return raised;
}

}  // namespace

// Every callback runs on the thread that called into slirp (the vCPU
// thread), so none needs a lock.
struct SlirpCallbacks {
  static SlirpBackend* self(void* opaque) { return static_cast<SlirpBackend*>(opaque); }

  static ssize_t send_packet(const void* buf, size_t len, void* opaque) {
    SlirpBackend* b = self(opaque);
    if (b->pending_.size() >= SlirpBackend::kMaxPendingFrames) {
      b->dropped_++;
      return static_cast<ssize_t>(len);
    }
    const auto* p = static_cast<const uint8_t*>(buf);
    b->pending_.emplace_back(p, p + len);
    b->seq_shift_.to_guest(b->pending_.back().data(), len);
    return static_cast<ssize_t>(len);
  }

  static void guest_error(const char* msg, void*) {
    TANDEM_LOG(LogLevel::kInfo, std::string("slirp: guest error: ") + msg);
  }

  static int64_t clock_get_ns(void* opaque) { return self(opaque)->now_ns(); }

  static void* timer_new(SlirpTimerCb cb, void* cb_opaque, void* opaque) {
    auto t = std::make_unique<SlirpBackend::Timer>();
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    self(opaque)->timers_.push_back(std::move(t));
    return self(opaque)->timers_.back().get();
  }

  static void* timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque) {
    auto t = std::make_unique<SlirpBackend::Timer>();
    t->id = id;
    t->cb_opaque = cb_opaque;
    self(opaque)->timers_.push_back(std::move(t));
    return self(opaque)->timers_.back().get();
  }

  static void timer_free(void* timer, void* opaque) {
    auto& timers = self(opaque)->timers_;
    std::erase_if(timers, [timer](const auto& t) { return t.get() == timer; });
  }

  // expire_ms is absolute, on the clock_get_ns() clock, in milliseconds.
  static void timer_mod(void* timer, int64_t expire_ms, void*) {
    static_cast<SlirpBackend::Timer*>(timer)->expire_ms = std::max<int64_t>(expire_ms, 0);
  }

  // Single-threaded: nothing to register with or to wake up.
  static void register_poll_fd(int, void*) {}
  static void unregister_poll_fd(int, void*) {}
  static void notify(void*) {}

  // Runs inside slirp_new(), before it returns: timers made during init
  // already need the Slirp pointer.
  static void init_completed(Slirp* slirp, void* opaque) { self(opaque)->slirp_ = slirp; }

  // Index returned is the position in the caller's pollfd vector.
  static int add_poll(int fd, int events, void* opaque) {
    SlirpBackend* b = self(opaque);
    b->fill_fds_->push_back(pollfd{fd, poll_events_from_slirp(events), 0});
    b->fill_fd_at_.push_back(fd);
    return static_cast<int>(b->fill_fds_->size() - 1);
  }

  static int get_revents(int idx, void* opaque) {
    SlirpBackend* b = self(opaque);
    const std::vector<pollfd>* fds = b->poll_fds_;
    if (!fds || idx < 0) return 0;
    size_t i = static_cast<size_t>(idx);
    if (i < b->fill_begin_ || i - b->fill_begin_ >= b->fill_fd_at_.size() || i >= fds->size())
      return 0;
    // A caller that rebuilt its vector differently gets no events rather
    // than another fd's.
    if ((*fds)[i].fd != b->fill_fd_at_[i - b->fill_begin_]) return 0;
    return slirp_revents_from_poll((*fds)[i].revents);
  }

  static const SlirpCb kCallbacks;
};

const SlirpCb SlirpCallbacks::kCallbacks = {
    .send_packet = SlirpCallbacks::send_packet,
    .guest_error = SlirpCallbacks::guest_error,
    .clock_get_ns = SlirpCallbacks::clock_get_ns,
    .timer_new = SlirpCallbacks::timer_new,
    .timer_free = SlirpCallbacks::timer_free,
    .timer_mod = SlirpCallbacks::timer_mod,
    .register_poll_fd = SlirpCallbacks::register_poll_fd,
    .unregister_poll_fd = SlirpCallbacks::unregister_poll_fd,
    .notify = SlirpCallbacks::notify,
    .init_completed = SlirpCallbacks::init_completed,
    .timer_new_opaque = SlirpCallbacks::timer_new_opaque,
};

SlirpBackend::SlirpBackend(const UserNetConfig& config, ClockNs clock)
    : config_(config), clock_(std::move(clock)) {}

SlirpBackend::~SlirpBackend() {
  // slirp_cleanup frees its timers through timer_free: timers_ is alive.
  if (slirp_) slirp_cleanup(slirp_);
}

Result<std::unique_ptr<SlirpBackend>> SlirpBackend::create(const UserNetConfig& config,
                                                           ClockNs clock) {
  std::unique_ptr<SlirpBackend> b(new SlirpBackend(config, std::move(clock)));
  ignore_sigpipe();

  SlirpConfig cfg{};
  cfg.version = 4;  // up to disable_dhcp; 4 also brings timer_new_opaque
  cfg.restricted = config.restricted;
  cfg.in_enabled = true;
  cfg.vnetwork = to_in_addr(kUserNetwork);
  cfg.vnetmask = to_in_addr(kUserNetmask);
  cfg.vhost = to_in_addr(kUserHost);
  cfg.vdhcp_start = to_in_addr(kUserDhcpStart);
  cfg.vnameserver = to_in_addr(kUserDns);
  // QEMU's IPv6 defaults: site-local prefix fec0::/64.
  cfg.in6_enabled = true;
  cfg.vprefix_addr6 = to_in6_addr("fec0::");
  cfg.vprefix_len = 64;
  cfg.vhost6 = to_in6_addr("fec0::2");
  cfg.vnameserver6 = to_in6_addr("fec0::3");

  Slirp* slirp = slirp_new(&cfg, &SlirpCallbacks::kCallbacks, b.get());
  if (!slirp) return Error("slirp_new: libslirp refused the configuration");
  b->slirp_ = slirp;

  for (const HostFwd& fwd : config.hostfwds) {
    errno = 0;
    if (slirp_add_hostfwd(slirp, fwd.udp, to_in_addr(fwd.host_addr), fwd.host_port,
                          to_in_addr(fwd.guest_addr), fwd.guest_port) < 0) {
      int err = errno;
      std::string why = err == EADDRINUSE ? "address already in use"
                        : err != 0        ? std::strerror(err)
                                          : "refused by libslirp";
      return Error("hostfwd " + fwd.host_side() + ": " + why);
    }
  }
  size_t tcp_forwards = std::count_if(config.hostfwds.begin(), config.hostfwds.end(),
                                      [](const HostFwd& f) { return !f.udp; });
  int raised = raise_listen_backlogs(slirp);
  if (static_cast<size_t>(raised) != tcp_forwards)
    TANDEM_LOG(LogLevel::kWarn, "slirp: raised the accept backlog of " + std::to_string(raised) + " of " +
                                    std::to_string(tcp_forwards) + " TCP host forwards");
  return b;
}

int64_t SlirpBackend::now_ns() const {
  if (clock_) return clock_();
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ARP over Ethernet/IPv4 (RFC 826): libslirp's arp_input() learns the
// sender of every request and reply it takes; keep the same knowledge.
void SlirpBackend::note_guest_arp(const uint8_t* f, size_t len) {
  constexpr size_t kEth = 14;
  if (len < kEth + 28 || f[12] != 0x08 || f[13] != 0x06) return;
  const uint8_t* sha = f + kEth + 8;
  const uint8_t* spa = f + kEth + 14;
  uint8_t entry[kArpEntryBytes];
  std::memcpy(entry, spa, 4);
  std::memcpy(entry + 4, sha, 6);
  for (size_t at = 0; at < arp_.size(); at += kArpEntryBytes) {
    if (std::memcmp(arp_.data() + at, spa, 4) == 0) {
      arp_.erase(arp_.begin() + static_cast<long>(at), arp_.begin() + static_cast<long>(at + kArpEntryBytes));
      break;
    }
  }
  if (arp_.size() >= kArpEntries * kArpEntryBytes) arp_.erase(arp_.begin(), arp_.begin() + kArpEntryBytes);
  arp_.insert(arp_.end(), entry, entry + kArpEntryBytes);
}

void SlirpBackend::send(const uint8_t* frame, size_t len) {
  if (len == 0 || len > INT_MAX) return;
  note_guest_arp(frame, len);
  if (seq_shift_.shifting()) {
    shifted_.assign(frame, frame + len);
    if (seq_shift_.from_guest(shifted_.data(), len)) frame = shifted_.data();
  }
  slirp_input(slirp_, frame, static_cast<int>(len));
}

void SlirpBackend::add_poll_fds(std::vector<pollfd>& fds, int& timeout_ms) {
  uint32_t timeout = timeout_ms < 0 ? UINT32_MAX : static_cast<uint32_t>(timeout_ms);
  fill_fds_ = &fds;
  fill_begin_ = fds.size();
  fill_fd_at_.clear();
  slirp_pollfds_fill(slirp_, &timeout, SlirpCallbacks::add_poll, this);
  fill_fds_ = nullptr;

  int64_t now_ms = now_ns() / 1'000'000;
  for (const auto& t : timers_) {
    if (t->expire_ms < 0) continue;
    int64_t wait = std::max<int64_t>(t->expire_ms - now_ms, 0);
    timeout = static_cast<uint32_t>(std::min<int64_t>(timeout, wait));
  }
  if (!pending_.empty()) timeout = 0;
  timeout_ms = timeout == UINT32_MAX ? -1 : static_cast<int>(std::min<uint32_t>(timeout, INT_MAX));
}

void SlirpBackend::fire_due_timers() {
  int64_t now_ms = now_ns() / 1'000'000;
  std::vector<Timer*> due;
  for (const auto& t : timers_)
    if (t->expire_ms >= 0 && t->expire_ms <= now_ms) due.push_back(t.get());
  for (Timer* t : due) {
    // An earlier callback may have freed or re-armed this one.
    bool alive = std::any_of(timers_.begin(), timers_.end(),
                             [t](const auto& p) { return p.get() == t; });
    if (!alive || t->expire_ms < 0 || t->expire_ms > now_ms) continue;
    t->expire_ms = -1;
    if (t->cb)
      t->cb(t->cb_opaque);
    else
      slirp_handle_timer(slirp_, t->id, t->cb_opaque);
  }
}

void SlirpBackend::dispatch(const std::vector<pollfd>& fds) {
  // slirp_pollfds_poll also runs slirp's TCP/IP fast and slow timers.
  poll_fds_ = &fds;
  slirp_pollfds_poll(slirp_, 0, SlirpCallbacks::get_revents, this);
  poll_fds_ = nullptr;
  fill_fd_at_.clear();  // the indexes are spent
  fire_due_timers();

  // Only what is queued now: a receiver that answers at once (through
  // send()) has its answer's replies delivered on the next dispatch().
  for (size_t n = pending_.size(); n > 0 && !pending_.empty(); n--) {
    std::vector<uint8_t> frame = std::move(pending_.front());
    pending_.pop_front();
    deliver(frame.data(), frame.size());
  }
}

namespace {
ssize_t append_state(const void* buf, size_t len, void* opaque) {
  auto* out = static_cast<std::vector<uint8_t>*>(opaque);
  const auto* p = static_cast<const uint8_t*>(buf);
  out->insert(out->end(), p, p + len);
  return static_cast<ssize_t>(len);
}

struct StateCursor {
  const std::vector<uint8_t>* data;
  size_t at = 0;
};
ssize_t read_state(void* buf, size_t len, void* opaque) {
  auto* c = static_cast<StateCursor*>(opaque);
  size_t n = std::min(len, c->data->size() - c->at);
  std::memcpy(buf, c->data->data() + c->at, n);
  c->at += n;
  return static_cast<ssize_t>(n);
}
}  // namespace

// libslirp's longest timer is the router advertisement's (at most 600 s).
constexpr uint64_t kMaxTimerMs = 24 * 3600 * 1000;

BackendState SlirpBackend::save() const {
  BackendState s;
  s.kind = BackendState::Kind::kUser;
  s.frames.assign(pending_.begin(), pending_.end());
  s.tcp = seq_shift_.save();
  s.arp = arp_;
  s.slirp_version = static_cast<uint32_t>(slirp_state_version());
  slirp_state_save(slirp_, append_state, &s.slirp);
  int64_t now_ms = now_ns() / 1'000'000;
  for (const auto& t : timers_) {
    if (t->cb || t->expire_ms < 0) continue;  // only libslirp's own, armed, timers
    s.timer_ids.push_back(static_cast<uint32_t>(t->id));
    s.timer_left_ms.push_back(static_cast<uint64_t>(std::max<int64_t>(t->expire_ms - now_ms, 0)));
  }
  return s;
}

Status SlirpBackend::check(const BackendState& s) const {
  if (s.kind != BackendState::Kind::kUser)
    return Error("the snapshot's network backend is 'tap', this one is 'user'");
  if (s.slirp_version == 0 || s.slirp_version > static_cast<uint32_t>(slirp_state_version()))
    return Error("user-network state version " + std::to_string(s.slirp_version) +
                 " is not one this libslirp (" + slirp_version_string() + ", state version " +
                 std::to_string(slirp_state_version()) + ") reads");
  if (s.timer_ids.size() != s.timer_left_ms.size())
    return Error("user-network timers: " + std::to_string(s.timer_ids.size()) + " ids but " +
                 std::to_string(s.timer_left_ms.size()) + " expiry times");
  for (size_t i = 0; i < s.timer_ids.size(); i++) {
    bool known = std::any_of(timers_.begin(), timers_.end(), [&](const auto& t) {
      return !t->cb && static_cast<uint32_t>(t->id) == s.timer_ids[i];
    });
    if (!known)
      return Error("user-network timer " + std::to_string(s.timer_ids[i]) + " does not exist here");
    if (s.timer_left_ms[i] > kMaxTimerMs)
      return Error("user-network timer " + std::to_string(s.timer_ids[i]) + " is " +
                   std::to_string(s.timer_left_ms[i]) + " ms away");
  }
  if (s.arp.size() % kArpEntryBytes != 0 || s.arp.size() > kArpEntries * kArpEntryBytes)
    return Error("user-network ARP table of " + std::to_string(s.arp.size()) + " bytes (entries are " +
                 std::to_string(kArpEntryBytes) + " bytes, at most " + std::to_string(kArpEntries) + ")");
  for (const auto& f : s.frames)
    if (f.empty() || f.size() > 65536)
      return Error("user-network frame of " + std::to_string(f.size()) + " bytes");
  return Ok();
}

Status SlirpBackend::restore(const BackendState& s) {
  TANDEM_TRY(check(s));
  StateCursor cursor{&s.slirp};
  int rc = slirp_state_load(slirp_, static_cast<int>(s.slirp_version), read_state, &cursor);
  if (rc < 0) return Error("libslirp refused its saved state (" + std::string(std::strerror(-rc)) + ")");
  if (cursor.at != s.slirp.size())
    return Error("user-network state has " + std::to_string(s.slirp.size() - cursor.at) +
                 " bytes libslirp did not read");
  // libslirp's loader does not report a short read (it fills in zeros):
  // state of this libslirp's version must save back to the same bytes.
  std::vector<uint8_t> again;
  slirp_state_save(slirp_, append_state, &again);
  if (s.slirp_version == static_cast<uint32_t>(slirp_state_version()) && again != s.slirp)
    return Error("user-network state of " + std::to_string(s.slirp.size()) +
                 " bytes is damaged (libslirp reads it back as " + std::to_string(again.size()) + " bytes)");
  // Teach the fresh stack the guest's addresses the way the guest did: an
  // ARP reply from each, addressed to the gateway. Replies get no answer.
  for (size_t at = 0; at < s.arp.size(); at += kArpEntryBytes) {
    uint8_t f[42] = {};
    const uint8_t* ip = s.arp.data() + at;
    const uint8_t* mac = ip + 4;
    std::memset(f, 0xff, 6);
    std::memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;                 // ARP
    f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4;  // Ethernet / IPv4
    f[21] = 2;                                  // reply
    std::memcpy(f + 22, mac, 6);
    std::memcpy(f + 28, ip, 4);
    uint32_t gw = htonl(kUserHost);
    std::memcpy(f + 38, &gw, 4);
    slirp_input(slirp_, f, sizeof f);
  }
  arp_ = s.arp;
  pending_.assign(s.frames.begin(), s.frames.end());
  seq_shift_.resume(s.tcp);
  int64_t now_ms = now_ns() / 1'000'000;
  for (const auto& t : timers_) {
    if (t->cb) continue;
    t->expire_ms = -1;
    for (size_t i = 0; i < s.timer_ids.size(); i++)
      if (static_cast<uint32_t>(t->id) == s.timer_ids[i])
        t->expire_ms = now_ms + static_cast<int64_t>(s.timer_left_ms[i]);
  }
  return Ok();
}

std::string SlirpBackend::describe() const {
  std::string s = "user net=" + ipv4_to_string(kUserNetwork) + "/24 host=" +
                  ipv4_to_string(kUserHost) + " dns=" + ipv4_to_string(kUserDns) +
                  " dhcpstart=" + ipv4_to_string(kUserDhcpStart);
  if (config_.restricted) s += " restrict=on";
  for (const HostFwd& fwd : config_.hostfwds) s += " hostfwd=" + fwd.to_string();
  return s;
}

}  // namespace tandem::net
