#include "net/tap_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "net/backend.h"

namespace tandem::net {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST(TapBackend, MissingCloneDeviceIsNamed) {
  auto t = TapBackend::open("tap0", "/nonexistent/net/tun");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message(), "open /nonexistent/net/tun: No such file or directory");
}

TEST(TapBackend, NotATunDeviceFailsAtTunsetiff) {
  // /dev/null opens but knows no TUNSETIFF.
  auto t = TapBackend::open("tap0", "/dev/null");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(starts_with(t.error().message(), "TUNSETIFF tap0: ")) << t.error().message();
}

TEST(TapBackend, OverlongNameIsRefusedBeforeOpening) {
  auto t = TapBackend::open("averyveryverylongname", "/nonexistent/net/tun");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message(), "tap ifname 'averyveryverylongname': longer than 15 characters");
}

// The error a user without CAP_NET_ADMIN (or without /dev/net/tun) sees;
// where creating taps works, an invalid name gives the TUNSETIFF error.
TEST(TapBackend, RealDeviceErrorsAreNamed) {
  int probe = ::open("/dev/net/tun", O_RDWR);
  if (probe < 0) {
    auto b = make_backend("tap,ifname=tndtest0");
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(starts_with(b.error().message(), "open /dev/net/tun: ")) << b.error().message();
    return;
  }
  ::close(probe);
  auto bad = make_backend("tap,ifname=bad/name");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(starts_with(bad.error().message(), "TUNSETIFF bad/name: ")) << bad.error().message();
}

TEST(TapBackend, CreatesTheNamedInterfaceWhenAllowed) {
  auto t = TapBackend::open("tndtest0");
  if (!t.ok()) GTEST_SKIP() << "cannot create a tap here: " << t.error().message();
  EXPECT_EQ((*t)->ifname(), "tndtest0");
  EXPECT_EQ((*t)->describe(), "tap ifname=tndtest0");
  std::vector<pollfd> fds;
  int timeout = -1;
  (*t)->add_poll_fds(fds, timeout);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(fds[0].fd, (*t)->fd());
  EXPECT_EQ(fds[0].events, POLLIN);
  EXPECT_EQ(timeout, -1);
  // The new interface is down: the kernel refuses the frame, which is
  // dropped and counted, never an error to the guest.
  uint8_t frame[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x06};
  (*t)->send(frame, sizeof frame);
  EXPECT_EQ((*t)->dropped_frames(), 1u);
  // Nothing to read: dispatch returns without delivering.
  int delivered = 0;
  (*t)->set_receive([&](const uint8_t*, size_t) { delivered++; });
  fds[0].revents = POLLIN;
  (*t)->dispatch(fds);
  EXPECT_EQ(delivered, 0);
}

TEST(TapBackend, KernelPicksANameWhenNoneIsGiven) {
  auto t = TapBackend::open("");
  if (!t.ok()) GTEST_SKIP() << "cannot create a tap here: " << t.error().message();
  EXPECT_TRUE(starts_with((*t)->ifname(), "tap")) << (*t)->ifname();
}

}  // namespace
}  // namespace tandem::net
