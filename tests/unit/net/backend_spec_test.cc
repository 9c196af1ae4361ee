#include "net/backend_spec.h"

#include <gtest/gtest.h>

#include "net/backend.h"

namespace tandem::net {
namespace {

std::string spec_error(std::string_view spec) {
  auto r = parse_backend_spec(spec);
  return r.ok() ? "(accepted)" : r.error().message();
}

TEST(BackendSpec, PlainUser) {
  auto r = parse_backend_spec("user");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->kind, BackendSpec::Kind::kUser);
  EXPECT_TRUE(r->user.hostfwds.empty());
  EXPECT_FALSE(r->user.restricted);
}

TEST(BackendSpec, HostFwdWithEverySpelling) {
  auto r = parse_backend_spec(
      "user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-10.0.2.20:53,"
      "hostfwd=:0.0.0.0:2222-:22,hostfwd=tcp:9000-10.0.2.15:9001,restrict=on");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->user.hostfwds.size(), 4u);
  EXPECT_EQ(r->user.hostfwds[0].to_string(), "tcp:127.0.0.1:8080-10.0.2.15:80");
  // An empty host address is loopback (not QEMU's every-interface).
  EXPECT_EQ(r->user.hostfwds[1].to_string(), "udp:0.0.0.0:5353-10.0.2.20:53") << "all addresses, as QEMU";
  EXPECT_TRUE(r->user.hostfwds[1].udp);
  // An empty protocol is tcp, as in QEMU; 0.0.0.0 must be asked for.
  EXPECT_EQ(r->user.hostfwds[2].to_string(), "tcp:0.0.0.0:2222-10.0.2.15:22");
  EXPECT_EQ(r->user.hostfwds[3].to_string(), "tcp:0.0.0.0:9000-10.0.2.15:9001");
  EXPECT_EQ(r->user.hostfwds[3].host_side(), "tcp:0.0.0.0:9000");
  EXPECT_TRUE(r->user.restricted);
}

TEST(BackendSpec, Tap) {
  auto r = parse_backend_spec("tap,ifname=tap0");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->kind, BackendSpec::Kind::kTap);
  EXPECT_EQ(r->tap.ifname, "tap0");
  auto any = parse_backend_spec("tap");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->tap.ifname, "");
}

TEST(BackendSpec, BadSpecsNameTheBadPart) {
  EXPECT_EQ(spec_error(""), "empty network backend spec (expected user or tap)");
  EXPECT_EQ(spec_error("usr"), "unknown network backend 'usr' (expected user or tap)");
  EXPECT_EQ(spec_error("usr,hostfwd=tcp::1-:2"),
            "unknown network backend 'usr' (expected user or tap)");
  EXPECT_EQ(spec_error("user,hostfwd=tcp:abc-:80"), "hostfwd 'tcp:abc-:80': bad host port 'abc'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::70000-:80"),
            "hostfwd 'tcp::70000-:80': bad host port '70000'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::0-:80"), "hostfwd 'tcp::0-:80': bad host port '0'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::-:80"), "hostfwd 'tcp::-:80': bad host port ''");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::+80-:80"), "hostfwd 'tcp::+80-:80': bad host port '+80'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::8080-:http"),
            "hostfwd 'tcp::8080-:http': bad guest port 'http'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::8080-:"), "hostfwd 'tcp::8080-:': bad guest port ''");
  EXPECT_EQ(spec_error("user,hostfwd=sctp::8080-:80"),
            "hostfwd 'sctp::8080-:80': bad protocol 'sctp' (expected tcp or udp)");
  EXPECT_EQ(spec_error("user,hostfwd=tcp:localhost:8080-:80"),
            "hostfwd 'tcp:localhost:8080-:80': bad host address 'localhost'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp:1.2.3:8080-:80"),
            "hostfwd 'tcp:1.2.3:8080-:80': bad host address '1.2.3'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::8080-10.0.2:80"),
            "hostfwd 'tcp::8080-10.0.2:80': bad guest address '10.0.2'");
  EXPECT_EQ(spec_error("user,hostfwd=tcp::8080-192.168.1.5:80"),
            "hostfwd 'tcp::8080-192.168.1.5:80': guest address '192.168.1.5' is outside "
            "10.0.2.0/24");
  const std::string syntax = "expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT";
  EXPECT_EQ(spec_error("user,hostfwd=tcp::8080"), "hostfwd 'tcp::8080': " + syntax);
  EXPECT_EQ(spec_error("user,hostfwd=8080-:80"), "hostfwd '8080-:80': " + syntax);
  EXPECT_EQ(spec_error("user,hostfwd=tcp::1-:2-:3"), "hostfwd 'tcp::1-:2-:3': " + syntax);
  EXPECT_EQ(spec_error("user,hostfwd="), "hostfwd '': " + syntax);
  EXPECT_EQ(spec_error("user,hostfwd"), "option 'hostfwd' for 'user' needs a value (hostfwd=...)");
  EXPECT_EQ(spec_error("user,dns=1.1.1.1"),
            "unknown option 'dns' for 'user' (expected hostfwd or restrict)");
  EXPECT_EQ(spec_error("user,restrict=maybe"), "restrict 'maybe': expected on or off");
  EXPECT_EQ(spec_error("user,"), "empty option in 'user,'");
  EXPECT_EQ(spec_error("user,,restrict=on"), "empty option in 'user,,restrict=on'");
  EXPECT_EQ(spec_error("tap,ifname="), "tap ifname is empty");
  EXPECT_EQ(spec_error("tap,ifname=a,ifname=b"), "tap ifname given twice");
  EXPECT_EQ(spec_error("tap,ifname=averyveryverylongname"),
            "tap ifname 'averyveryverylongname': longer than 15 characters");
  EXPECT_EQ(spec_error("tap,script=no"), "unknown option 'script' for 'tap' (expected ifname)");
  EXPECT_EQ(spec_error("tap,hostfwd=tcp::1-:2"),
            "unknown option 'hostfwd' for 'tap' (expected ifname)");
}

TEST(BackendSpec, MakeBackendReportsSpecErrorsUnchanged) {
  auto b = make_backend("usr");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message(), "unknown network backend 'usr' (expected user or tap)");
  auto c = make_backend("user,hostfwd=tcp:abc-:80");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "hostfwd 'tcp:abc-:80': bad host port 'abc'");
}

TEST(BackendSpec, Ipv4Formatting) {
  EXPECT_EQ(ipv4_to_string(kUserDhcpStart), "10.0.2.15");
  EXPECT_EQ(ipv4_to_string(0xffffffff), "255.255.255.255");
  EXPECT_EQ(ipv4_to_string(0), "0.0.0.0");
}

}  // namespace
}  // namespace tandem::net
