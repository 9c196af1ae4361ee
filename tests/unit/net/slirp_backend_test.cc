#include "net/slirp_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "../free_port.h"
#include "frames.h"

namespace tandem::net {
namespace {

using test::Frame;
using test::kGuestMac;
using test::Mac;

using unit_test::free_port;

// Binds a socket of `type` to addr:port; returns the fd or -errno.
int bind_socket(int type, uint32_t addr, uint16_t port) {
  int s = socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    int err = errno;
    close(s);
    return -err;
  }
  return s;
}

// Plays the guest side of the wire: collects what the backend delivers.
struct Guest {
  std::vector<Frame> frames;
  explicit Guest(Backend& b) {
    b.set_receive([this](const uint8_t* p, size_t n) { frames.emplace_back(p, p + n); });
  }
  // First delivered frame matching `pred`, removed from the list.
  std::optional<Frame> take(const std::function<bool(const Frame&)>& pred) {
    for (auto it = frames.begin(); it != frames.end(); ++it) {
      if (pred(*it)) {
        Frame f = std::move(*it);
        frames.erase(it);
        return f;
      }
    }
    return std::nullopt;
  }
};

// One run-loop round as the board does it.
void poll_round(Backend& b, int max_wait_ms = 50) {
  std::vector<pollfd> fds;
  int timeout = max_wait_ms;
  b.add_poll_fds(fds, timeout);
  poll(fds.data(), fds.size(), timeout);
  b.dispatch(fds);
}

// Polls until `pred` matches a delivered frame; gives up after `rounds`
// rounds (a bound on work, not a timing assertion).
std::optional<Frame> pump_until(Backend& b, Guest& g, const std::function<bool(const Frame&)>& pred,
                                int rounds = 200) {
  for (int i = 0; i < rounds; i++) {
    if (auto f = g.take(pred)) return f;
    poll_round(b);
  }
  return g.take(pred);
}

std::unique_ptr<SlirpBackend> make(const std::string& spec, SlirpBackend::ClockNs clock = {}) {
  auto parsed = parse_backend_spec(spec);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message();
  auto b = SlirpBackend::create(parsed->user, std::move(clock));
  EXPECT_TRUE(b.ok()) << b.error().message();
  return b.ok() ? std::move(b).value() : nullptr;
}

void send(Backend& b, const Frame& f) { b.send(f.data(), f.size()); }

TEST(SlirpBackend, AnswersArpForTheGatewayAtTheNextDispatch) {
  auto b = make("user");
  ASSERT_TRUE(b);
  Guest g(*b);
  send(*b, test::arp(1, test::kBroadcastMac, kGuestMac, kUserDhcpStart, Mac{}, kUserHost));
  // Host input enters the guest only from dispatch(), never inside send().
  EXPECT_TRUE(g.frames.empty());
  std::vector<pollfd> fds;
  int timeout = -1;
  b->add_poll_fds(fds, timeout);
  EXPECT_EQ(timeout, 0);  // a frame is waiting: do not sleep
  b->dispatch(fds);
  auto reply = g.take([](const Frame& f) { return test::parse_arp(f).has_value(); });
  ASSERT_TRUE(reply);
  auto arp = test::parse_arp(*reply);
  EXPECT_EQ(arp->op, 2);
  EXPECT_EQ(arp->spa, kUserHost);
  EXPECT_EQ(arp->tpa, kUserDhcpStart);
  EXPECT_EQ(arp->tha, kGuestMac);
  EXPECT_EQ(test::get_mac(*reply, 0), kGuestMac);  // unicast to the asker
}

TEST(SlirpBackend, AnswersArpForTheDnsAddressButNotForStrangers) {
  auto b = make("user");
  ASSERT_TRUE(b);
  Guest g(*b);
  send(*b, test::arp(1, test::kBroadcastMac, kGuestMac, kUserDhcpStart, Mac{}, ipv4(10, 0, 2, 99)));
  send(*b, test::arp(1, test::kBroadcastMac, kGuestMac, kUserDhcpStart, Mac{}, kUserDns));
  poll_round(*b, 0);
  ASSERT_EQ(g.frames.size(), 1u);
  auto arp = test::parse_arp(g.frames[0]);
  ASSERT_TRUE(arp);
  EXPECT_EQ(arp->spa, kUserDns);
}

TEST(SlirpBackend, SurvivesGarbageFromTheGuest) {
  auto b = make("user");
  ASSERT_TRUE(b);
  Guest g(*b);
  uint8_t junk[1600];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = uint8_t(i * 37 + 11);
  for (size_t len : {0, 1, 13, 14, 15, 34, 42, 60, 1514, 1600}) b->send(junk, len);
  // Truncated ARP and IPv4 headers.
  Frame arp = test::arp(1, test::kBroadcastMac, kGuestMac, kUserDhcpStart, Mac{}, kUserHost);
  b->send(arp.data(), 20);
  Frame dhcp = test::dhcp_discover(kGuestMac, 1);
  b->send(dhcp.data(), 40);
  b->send(dhcp.data(), 300);
  poll_round(*b, 0);
  // Still serving.
  send(*b, arp);
  poll_round(*b, 0);
  EXPECT_TRUE(g.take([](const Frame& f) { return test::parse_arp(f).has_value(); }));
}

TEST(SlirpBackend, DhcpDiscoverGetsAnOfferOfTheFirstAddress) {
  auto b = make("user");
  ASSERT_TRUE(b);
  Guest g(*b);
  send(*b, test::dhcp_discover(kGuestMac, 0x1234abcd));
  auto offer = pump_until(*b, g, [](const Frame& f) { return test::parse_dhcp(f).has_value(); });
  ASSERT_TRUE(offer);
  auto d = test::parse_dhcp(*offer);
  EXPECT_EQ(d->op, 2);  // BOOTREPLY
  EXPECT_EQ(d->xid, 0x1234abcdu);
  EXPECT_EQ(d->msg_type, 2);  // DHCPOFFER
  EXPECT_EQ(d->yiaddr, kUserDhcpStart);
  EXPECT_EQ(d->server_id, kUserHost);
  EXPECT_EQ(d->router, kUserHost);
  EXPECT_EQ(d->dns, kUserDns);
}

TEST(SlirpBackend, HostConnectReachesTheGuestAndCarriesData) {
  uint16_t port = free_port();
  auto b = make("user,hostfwd=tcp:127.0.0.1:" + std::to_string(port) + "-:80");
  ASSERT_TRUE(b);
  Guest g(*b);

  int client = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);

  // slirp does not know the guest's MAC yet: it asks first.
  auto who_has = pump_until(*b, g, [](const Frame& f) {
    auto arp = test::parse_arp(f);
    return arp && arp->op == 1 && arp->tpa == kUserDhcpStart;
  });
  ASSERT_TRUE(who_has) << "no ARP request for the guest after the host connected";
  Mac slirp_mac = test::parse_arp(*who_has)->sha;
  send(*b, test::arp(2, slirp_mac, kGuestMac, kUserDhcpStart, slirp_mac, kUserHost));

  auto syn = pump_until(*b, g, [](const Frame& f) {
    auto t = test::parse_tcp(f);
    return t && t->flags & test::kTcpSyn;
  });
  ASSERT_TRUE(syn) << "no SYN for the guest after the ARP reply";
  auto s = *test::parse_tcp(*syn);
  EXPECT_EQ(s.dst, kUserDhcpStart);
  EXPECT_EQ(s.dport, 80);
  EXPECT_EQ(s.flags & test::kTcpAck, 0);

  // Guest accepts: SYN-ACK; slirp completes the handshake.
  const uint32_t guest_isn = 1000;
  auto guest_seg = [&](uint32_t seq, uint32_t ack, uint8_t flags, std::string data) {
    return test::tcp_frame(slirp_mac, kGuestMac,
                           {kUserDhcpStart, s.src, 80, s.sport, seq, ack, flags, std::move(data)});
  };
  send(*b, guest_seg(guest_isn, s.seq + 1, test::kTcpSyn | test::kTcpAck, ""));
  auto ack = pump_until(*b, g, [&](const Frame& f) {
    auto t = test::parse_tcp(f);
    return t && (t->flags & test::kTcpAck) && t->ack == guest_isn + 1;
  });
  ASSERT_TRUE(ack) << "slirp did not acknowledge the SYN-ACK";

  // Host -> guest data.
  ASSERT_EQ(::send(client, "ping", 4, 0), 4);
  auto data = pump_until(*b, g, [](const Frame& f) {
    auto t = test::parse_tcp(f);
    return t && !t->payload.empty();
  });
  ASSERT_TRUE(data) << "host data did not reach the guest";
  auto d = *test::parse_tcp(*data);
  EXPECT_EQ(d.payload, "ping");
  EXPECT_EQ(d.seq, s.seq + 1);

  // Guest -> host data.
  send(*b, guest_seg(guest_isn + 1, d.seq + 4, test::kTcpPsh | test::kTcpAck, "pong"));
  std::string got;
  for (int i = 0; i < 200 && got.size() < 4; i++) {
    poll_round(*b);
    char buf[16];
    ssize_t n = recv(client, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, size_t(n));
  }
  EXPECT_EQ(got, "pong");
  close(client);
}

// A burst of host clients on a forwarded port, all connected before the
// run loop gets to accept any (a guest busy for a slice): the host kernel
// must hold them all. With libslirp's own backlog of 1 it completed two
// and dropped the other SYNs while nobody accepted; dropped SYNs and SYN
// cookies left burst clients waiting seconds or reset (docs/performance.md,
// "Connection bursts on a forwarded port").
TEST(SlirpBackend, BurstOfHostConnectionsAllReachTheGuest) {
  constexpr int kClients = 16;
  uint16_t port = free_port();
  auto b = make("user,hostfwd=tcp:127.0.0.1:" + std::to_string(port) + "-:80");
  ASSERT_TRUE(b);
  Guest g(*b);
  // The guest's address is known, so each accepted connection becomes a SYN.
  send(*b, test::arp(2, test::kBroadcastMac, kGuestMac, kUserDhcpStart, test::kBroadcastMac, kUserHost));

  std::vector<pollfd> clients;
  for (int i = 0; i < kClients; i++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int rc = connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << strerror(errno);
    clients.push_back(pollfd{c, POLLOUT, 0});
  }
  // Without a dispatch, nothing is accepted: every handshake must complete
  // in the kernel's queue. A dropped SYN would come back only after
  // seconds, so a bounded wait tells the two apart.
  int connected = 0;
  for (int round = 0; round < 50 && connected < kClients; round++) {
    poll(clients.data(), clients.size(), 100);
    connected = 0;
    for (auto& c : clients) {
      int err = -1;
      socklen_t len = sizeof err;
      if ((c.revents & POLLOUT) && getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
        connected++;
    }
  }
  EXPECT_EQ(connected, kClients) << "the host kernel completed only " << connected << " of " << kClients
                                 << " connections while the run loop did not accept";

  std::set<uint16_t> syn_ports;
  for (int round = 0; round < 200 && syn_ports.size() < size_t(kClients); round++) {
    poll_round(*b);
    while (auto syn = g.take([](const Frame& f) {
             auto t = test::parse_tcp(f);
             return t && (t->flags & test::kTcpSyn);
           }))
      syn_ports.insert(test::parse_tcp(*syn)->sport);
  }
  EXPECT_EQ(syn_ports.size(), size_t(kClients)) << "the guest was offered " << syn_ports.size() << " of "
                                                << kClients << " connections";
  for (auto& c : clients) close(c.fd);
}

TEST(SlirpBackend, PortInUseIsNamed) {
  uint16_t port = free_port();
  std::string fwd = "tcp:127.0.0.1:" + std::to_string(port);
  auto first = make_backend("user,hostfwd=" + fwd + "-:80");
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = make_backend("user,hostfwd=" + fwd + "-:22");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message(), "hostfwd " + fwd + ": address already in use");
  // The same port twice in one spec, and UDP on the same number is fine.
  uint16_t other = free_port();
  std::string rule = "hostfwd=tcp::" + std::to_string(other) + "-:80";
  auto twice = make_backend("user," + rule + "," + rule);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message(),
            "hostfwd tcp:0.0.0.0:" + std::to_string(other) + ": address already in use");
  auto udp = make_backend("user,hostfwd=udp:127.0.0.1:" + std::to_string(port) + "-:53");
  EXPECT_TRUE(udp.ok()) << udp.error().message();
  // Destroying the backend frees its ports (and the failed ones freed theirs).
  first = Error("gone");
  int s = bind_socket(SOCK_STREAM, INADDR_LOOPBACK, port);
  EXPECT_GE(s, 0) << strerror(-s);
  if (s >= 0) close(s);
  s = bind_socket(SOCK_STREAM, INADDR_LOOPBACK, other);
  EXPECT_GE(s, 0) << strerror(-s);
  if (s >= 0) close(s);
}

TEST(SlirpBackend, PortHeldByAnotherProgramIsNamed) {
  uint16_t port = free_port(SOCK_DGRAM);
  int s = bind_socket(SOCK_DGRAM, INADDR_LOOPBACK, port);
  ASSERT_GE(s, 0);
  auto b = make_backend("user,hostfwd=udp::" + std::to_string(port) + "-:53");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message(),
            "hostfwd udp:0.0.0.0:" + std::to_string(port) + ": address already in use");
  close(s);
}

// As QEMU: an empty host address listens on every address.
TEST(SlirpBackend, DefaultHostAddressIsEveryAddress) {
  uint16_t port = free_port();
  auto b = make("user,hostfwd=tcp::" + std::to_string(port) + "-:80");
  ASSERT_TRUE(b);
  // slirp bound 0.0.0.0, so another address's bind of the port fails.
  int s = bind_socket(SOCK_STREAM, ipv4(127, 0, 0, 2), port);
  EXPECT_EQ(s, -EADDRINUSE);
  if (s >= 0) close(s);
}

TEST(SlirpBackend, TimersRunFromThePollLoop) {
  // slirp's only timer is the IPv6 router advertisement, every 200-600 s.
  int64_t now = int64_t{1'000'000} * 1'000'000'000;
  auto b = make("user", [&now] { return now; });
  ASSERT_TRUE(b);
  Guest g(*b);
  auto is_ra = [](const Frame& f) { return test::icmpv6_type(f) == std::optional<uint8_t>(134); };
  std::vector<pollfd> fds;
  int timeout = -1;
  b->add_poll_fds(fds, timeout);
  EXPECT_GT(timeout, 0);  // nothing due yet
  b->dispatch(fds);
  EXPECT_FALSE(g.take(is_ra));

  now += int64_t{601} * 1'000'000'000;
  fds.clear();
  timeout = -1;
  b->add_poll_fds(fds, timeout);
  EXPECT_EQ(timeout, 0);  // the timer is due: do not sleep
  b->dispatch(fds);
  auto ra = g.take(is_ra);
  ASSERT_TRUE(ra) << "router advertisement timer did not fire";
  EXPECT_EQ((*ra)[0], 0x33);  // IPv6 multicast MAC 33:33:...
  // Re-armed for later, not firing on every round.
  fds.clear();
  timeout = -1;
  b->add_poll_fds(fds, timeout);
  EXPECT_GT(timeout, 0);
  b->dispatch(fds);
  EXPECT_FALSE(g.take(is_ra));
}

TEST(SlirpBackend, DispatchWithoutPollAndForeignVectorsIsHarmless) {
  auto b = make("user");
  ASSERT_TRUE(b);
  Guest g(*b);
  b->dispatch({});
  std::vector<pollfd> fds;
  int timeout = 100;
  b->add_poll_fds(fds, timeout);
  std::vector<pollfd> other(fds.size() + 3, pollfd{-1, 0, POLLIN});
  b->dispatch(other);  // fds do not match what was registered: ignored
  EXPECT_TRUE(g.frames.empty());
}

TEST(SlirpBackend, IgnoresSigpipeSoAVanishedHostPeerCannotKillUs) {
  signal(SIGPIPE, SIG_DFL);
  auto b = make("user");
  ASSERT_TRUE(b);
  struct sigaction now {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
}

TEST(SlirpBackend, DescribeListsLayoutAndForwards) {
  uint16_t port = free_port();
  auto b = make("user,restrict=on,hostfwd=tcp::" + std::to_string(port) + "-:22");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->describe(),
            "user net=10.0.2.0/24 host=10.0.2.2 dns=10.0.2.3 dhcpstart=10.0.2.15 restrict=on "
            "hostfwd=tcp:0.0.0.0:" + std::to_string(port) + "-10.0.2.15:22");
}

// A host connection through a hostfwd, played to the point where the
// guest has acknowledged `data` from the host. Returns slirp's ISN toward
// the guest and the end of what the guest was sent.
struct HostConnection {
  int client = -1;
  uint32_t isn = 0;
  uint32_t end = 0;
  ~HostConnection() {
    if (client >= 0) close(client);
  }
};

void host_connection(SlirpBackend& b, Guest& g, uint16_t port, uint16_t client_port,
                     HostConnection* c) {
  c->client = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(c->client, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(client_port);
  ASSERT_EQ(bind(c->client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  a.sin_port = htons(port);
  ASSERT_EQ(connect(c->client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);

  // A stack that knows the guest's MAC (a restored one) sends the SYN at once.
  auto is_syn = [](const Frame& f) {
    auto t = test::parse_tcp(f);
    return t && t->flags & test::kTcpSyn;
  };
  auto first = pump_until(b, g, [&](const Frame& f) {
    auto arp = test::parse_arp(f);
    return (arp && arp->op == 1 && arp->tpa == kUserDhcpStart) || is_syn(f);
  });
  ASSERT_TRUE(first) << "neither an ARP request nor a SYN for the guest";
  Mac slirp_mac = test::get_mac(*first, 6);
  std::optional<Frame> syn = first;
  if (!is_syn(*first)) {
    send(b, test::arp(2, slirp_mac, kGuestMac, kUserDhcpStart, slirp_mac, kUserHost));
    syn = pump_until(b, g, is_syn);
  }
  ASSERT_TRUE(syn) << "no SYN for the guest";
  auto s = *test::parse_tcp(*syn);
  EXPECT_EQ(s.sport, client_port);  // the 4-tuple the guest sees is the host client's
  c->isn = s.seq;
  auto guest_seg = [&](uint32_t seq, uint32_t ack, uint8_t flags) {
    return test::tcp_frame(slirp_mac, kGuestMac, {kUserDhcpStart, s.src, 80, s.sport, seq, ack, flags, ""});
  };
  send(b, guest_seg(1000, s.seq + 1, test::kTcpSyn | test::kTcpAck));
  ASSERT_EQ(::send(c->client, "data", 4, 0), 4);
  auto data = pump_until(b, g, [](const Frame& f) {
    auto t = test::parse_tcp(f);
    return t && !t->payload.empty();
  });
  ASSERT_TRUE(data) << "host data did not reach the guest (slirp refused the guest's ack?)";
  auto d = *test::parse_tcp(*data);
  EXPECT_EQ(d.seq, s.seq + 1);
  c->end = d.seq + uint32_t(d.payload.size());
  send(b, guest_seg(1001, c->end, test::kTcpAck));
}

TEST(SlirpBackend, RestoredStackNumbersNewConnectionsPastWhatTheGuestSaw) {
  // The guest keeps TIME_WAIT state across a snapshot; a fresh libslirp
  // would restart its sequence numbers and have its SYN on the same
  // 4-tuple refused (tcp_seq_shift.h).
  uint16_t port = free_port();
  uint16_t client_port = free_port();
  std::string spec = "user,hostfwd=tcp:127.0.0.1:" + std::to_string(port) + "-:80";
  int64_t now = int64_t{50} * 1'000'000'000;
  BackendState saved;
  uint32_t old_end = 0;
  {
    auto a = make(spec, [&now] { return now; });
    ASSERT_TRUE(a);
    Guest g(*a);
    // Age the stack as a running VM would: its ISNs grow with time.
    for (int i = 0; i < 40; i++) {
      now += 500'000'000;
      poll_round(*a, 0);
    }
    HostConnection c;
    host_connection(*a, g, port, client_port, &c);
    if (HasFatalFailure()) return;
    old_end = c.end;
    saved = a->save();
    EXPECT_EQ(saved.tcp.high, old_end);
    EXPECT_EQ(saved.tcp.offset, 0u);
    EXPECT_GT(saved.slirp_version, 0u);
    EXPECT_FALSE(saved.slirp.empty());
  }
  auto b = make(spec, [&now] { return now; });
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->restore(saved).ok());
  Guest g(*b);
  HostConnection c;
  host_connection(*b, g, port, client_port, &c);
  if (HasFatalFailure()) return;
  EXPECT_GT(int32_t(c.isn - old_end), 0)
      << "new ISN " << c.isn << " is not after " << old_end << ": the guest would refuse it";
  // host_connection() got host data through only because slirp took the
  // guest's acknowledgment of the shifted SYN.
}

TEST(SlirpBackend, RestoreRefusesStateItCannotHold) {
  auto b = make("user");
  ASSERT_TRUE(b);
  BackendState good = b->save();
  ASSERT_TRUE(b->restore(good).ok());

  BackendState tap = good;
  tap.kind = BackendState::Kind::kTap;
  EXPECT_EQ(b->restore(tap).error().message(), "the snapshot's network backend is 'tap', this one is 'user'");
  BackendState newer = good;
  newer.slirp_version = 99;
  EXPECT_NE(b->restore(newer).error().message().find("user-network state version 99"), std::string::npos);
  BackendState timer = good;
  timer.timer_ids = {42};
  timer.timer_left_ms = {10};
  EXPECT_EQ(b->restore(timer).error().message(), "user-network timer 42 does not exist here");
  BackendState cut = good;
  cut.slirp.resize(cut.slirp.size() / 2);
  EXPECT_FALSE(b->restore(cut).ok());
}

TEST(SlirpBackend, TimersAndHeldFramesSurviveARestore) {
  int64_t now = int64_t{1000} * 1'000'000'000;
  auto a = make("user", [&now] { return now; });
  ASSERT_TRUE(a);
  // An ARP request queues slirp's reply until the next dispatch: held.
  send(*a, test::arp(1, test::kBroadcastMac, kGuestMac, kUserDhcpStart, {}, kUserHost));
  BackendState s = a->save();
  ASSERT_EQ(s.frames.size(), 1u);
  ASSERT_EQ(s.timer_ids.size(), 1u);  // the router advertisement
  uint64_t left = s.timer_left_ms[0];

  now += 5'000'000'000;  // a restore happens later on the same clock
  auto b = make("user", [&now] { return now; });
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->restore(s).ok());
  BackendState again = b->save();
  EXPECT_EQ(again.timer_left_ms, std::vector<uint64_t>{left});
  EXPECT_EQ(again.frames, s.frames);
  Guest g(*b);
  poll_round(*b, 0);
  ASSERT_EQ(g.frames.size(), 1u);
  EXPECT_TRUE(test::parse_arp(g.frames[0]) && test::parse_arp(g.frames[0])->op == 2);
}

Frame icmp_echo(const Mac& dst_mac, uint16_t seq) {
  Frame icmp(8 + 16, 0);
  icmp[0] = 8;  // echo request
  test::put16(icmp, 4, 0x1234);
  test::put16(icmp, 6, seq);
  test::put16(icmp, 2, test::inet_checksum(icmp, 0, icmp.size()));
  return test::ipv4_packet(dst_mac, kGuestMac, kUserDhcpStart, kUserHost, 1, icmp);
}

bool is_echo_reply(const Frame& f) {
  auto ip = test::parse_ipv4(f);
  return ip && ip->proto == 1 && f[ip->l4] == 0;
}

TEST(SlirpBackend, RestoredStackKnowsTheGuestsAddressWithoutAsking) {
  auto a = make("user");
  ASSERT_TRUE(a);
  Guest ga(*a);
  send(*a, test::arp(1, test::kBroadcastMac, kGuestMac, kUserDhcpStart, {}, kUserHost));
  auto reply = pump_until(*a, ga, [](const Frame& f) { return test::parse_arp(f).has_value(); });
  ASSERT_TRUE(reply);
  Mac slirp_mac = test::parse_arp(*reply)->sha;
  BackendState s = a->save();
  ASSERT_EQ(s.arp.size(), 10u);

  auto b = make("user");
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->restore(s).ok());
  Guest gb(*b);
  poll_round(*b, 0);
  EXPECT_TRUE(gb.frames.empty()) << "teaching the ARP table produced frames";
  send(*b, icmp_echo(slirp_mac, 1));
  poll_round(*b, 0);
  ASSERT_EQ(gb.frames.size(), 1u) << "expected the echo reply alone, no ARP request first";
  EXPECT_TRUE(is_echo_reply(gb.frames[0]));

  // Without the table a fresh stack asks first (what the guest would see).
  auto c = make("user");
  ASSERT_TRUE(c);
  Guest gc(*c);
  send(*c, icmp_echo(slirp_mac, 1));
  poll_round(*c, 0);
  ASSERT_FALSE(gc.frames.empty());
  EXPECT_TRUE(test::parse_arp(gc.frames[0]).has_value());
}

}  // namespace
}  // namespace tandem::net
