#include "net/tap_backend.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace tandem::net {

namespace {
// Largest frame a TAP hands out without offloads: 64 KiB IP packet plus
// the Ethernet header (and a VLAN tag).
constexpr size_t kMaxFrame = 65536 + 18;

constexpr const char* kPermissionHint =
    " (needs CAP_NET_ADMIN, or a tap made beforehand with"
    " 'ip tuntap add NAME mode tap user USER')";
}  // namespace

Result<std::unique_ptr<TapBackend>> TapBackend::open(std::string_view ifname, const char* device) {
  if (ifname.size() >= IFNAMSIZ)
    return Error("tap ifname '" + std::string(ifname) + "': longer than " +
                 std::to_string(IFNAMSIZ - 1) + " characters");
  int fd = ::open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    Error e = sys_error(std::string("open ") + device, err);
    return err == EACCES ? Error(e.message() + " (this user may not open the clone device)") : e;
  }

  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    Error e = sys_error(
        "TUNSETIFF " + (ifname.empty() ? std::string("(any tap)") : std::string(ifname)), err);
    return err == EPERM ? Error(e.message() + kPermissionHint) : e;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  std::unique_ptr<TapBackend> tap(new TapBackend(fd, ifr.ifr_name));
  tap->buf_.resize(kMaxFrame);
  return tap;
}

TapBackend::~TapBackend() {
  if (fd_ >= 0) ::close(fd_);
}

void TapBackend::send(const uint8_t* frame, size_t len) {
  ssize_t n;
  do {
    n = ::write(fd_, frame, len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // EIO: interface down; EAGAIN: its queue is full. Both drop the frame.
    if (dropped_++ == 0)
      TANDEM_LOG(LogLevel::kWarn, "tap " + ifname_ + ": dropping frames: " + std::strerror(errno));
  }
}

void TapBackend::add_poll_fds(std::vector<pollfd>& fds, int&) {
  fds.push_back(pollfd{fd_, POLLIN, 0});
}

void TapBackend::dispatch(const std::vector<pollfd>& fds) {
  bool ready = false;
  for (const pollfd& p : fds)
    if (p.fd == fd_ && (p.revents & POLLIN)) ready = true;
  if (!ready) return;
  for (int i = 0; i < kMaxFramesPerDispatch; i++) {
    ssize_t n = ::read(fd_, buf_.data(), buf_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained
    deliver(buf_.data(), static_cast<size_t>(n));
  }
}

std::string TapBackend::describe() const { return "tap ifname=" + ifname_; }

BackendState TapBackend::save() const {
  BackendState s;
  s.kind = BackendState::Kind::kTap;
  return s;
}

Status TapBackend::check(const BackendState& state) const {
  if (state.kind != BackendState::Kind::kTap)
    return Error("the snapshot's network backend is 'user', this one is 'tap'");
  if (!state.frames.empty() || !state.slirp.empty() || !state.timer_ids.empty())
    return Error("tap backend state carries user-network data");
  return Ok();
}

// A tap device has no state of its own to load.
Status TapBackend::restore(const BackendState& state) { return check(state); }

}  // namespace tandem::net
