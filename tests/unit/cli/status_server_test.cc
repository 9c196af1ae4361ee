// The status server on a loopback port, with real sockets: routes, bad
// and slow clients, published figures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/status_server.h"

namespace tandem::cli {
namespace {

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

void send_all(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Reads until the server closes, or until `want` bytes came (0: until
// close); "<no answer>" is appended when nothing comes for 20 s.
std::string read_reply(int fd, size_t want = 0) {
  std::string out;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) <= 0) return out + "<no answer>";
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (want && out.size() >= want) break;
  }
  return out;
}

// One request on a connection of its own, the client's side shut after it.
std::string ask(uint16_t port, const std::string& request) {
  int fd = connect_to(port);
  send_all(fd, request);
  ::shutdown(fd, SHUT_WR);
  std::string r = read_reply(fd);
  ::close(fd);
  return r;
}

std::string get(uint16_t port, const std::string& path) {
  return ask(port, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
}

int status_of(const std::string& reply) {
  return reply.size() > 12 && reply.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(reply.substr(9, 3)) : -1;
}

std::string body_of(const std::string& reply) {
  size_t at = reply.find("\r\n\r\n");
  return at == std::string::npos ? "" : reply.substr(at + 4);
}

StatusSnapshot figures(double checkpoints) {
  return {{"replication",
           {{"role", "primary"}, {"state", "protected"}},
           {counter("tandem_replication_checkpoints_total", "Checkpoints.", checkpoints, {{"role", "primary"}},
                    "checkpoints / s")}}};
}

class StatusServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = StatusServer::start("127.0.0.1:0");
    ASSERT_TRUE(s.ok()) << s.error().message();
    server = std::move(s).value();
    port = server->port();
    ASSERT_NE(port, 0);
  }
  std::unique_ptr<StatusServer> server;
  uint16_t port = 0;
};

TEST_F(StatusServerTest, ServesThePageTheFiguresAndTheMetrics) {
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(port) + "/");
  server->publish(figures(42));
  std::string page = get(port, "/");
  EXPECT_EQ(status_of(page), 200);
  EXPECT_NE(page.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(page.find("status.json"), std::string::npos);
  // Self-contained: nothing fetched from elsewhere.
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);

  std::string metrics = get(port, "/metrics");
  EXPECT_EQ(status_of(metrics), 200);
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(body_of(metrics).find("tandem_replication_checkpoints_total{role=\"primary\"} 42\n"), std::string::npos);

  std::string json = get(port, "/status.json?t=1");
  ASSERT_EQ(status_of(json), 200);
  auto j = nlohmann::json::parse(body_of(json));
  EXPECT_EQ(j["sections"][0]["title"], "replication");
  EXPECT_EQ(j["sections"][0]["figures"][1], nlohmann::json({"state", "protected"}));
  EXPECT_EQ(j["metrics"][0]["value"], 42);
  EXPECT_TRUE(j["history"]["t"].is_array());
}

TEST_F(StatusServerTest, HeadGetsHeadersOnly) {
  std::string r = ask(port, "HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(r), 200);
  EXPECT_EQ(body_of(r), "");
  EXPECT_NE(r.find("Content-Length: "), std::string::npos);
}

TEST_F(StatusServerTest, BadRequestsGetTheirStatus) {
  EXPECT_EQ(status_of(get(port, "/nowhere")), 404);
  std::string post = ask(port, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(status_of(post), 405);
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(status_of(ask(port, "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n")), 405);
  EXPECT_EQ(status_of(ask(port, "GARBAGE\r\n\r\n")), 400);
  EXPECT_EQ(status_of(ask(port, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15))), 400);
  EXPECT_EQ(status_of(ask(port, "GET / HTTP/3.0\r\nHost: t\r\n\r\n")), 505);
  EXPECT_EQ(status_of(ask(port, "GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(20000, 'x'))), 431);
  EXPECT_EQ(status_of(ask(port, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab")), 400);
  // And it still answers.
  EXPECT_EQ(status_of(get(port, "/metrics")), 200);
}

TEST_F(StatusServerTest, KeepAliveAndPipelinedRequests) {
  int fd = connect_to(port);
  send_all(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /status.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string all = read_reply(fd);
  ::close(fd);
  size_t first = all.find("HTTP/1.1 200 OK"), second = all.find("HTTP/1.1 404 Not Found"),
         third = all.find("HTTP/1.1 200 OK", first + 1);
  EXPECT_NE(first, std::string::npos);
  EXPECT_NE(second, std::string::npos);
  EXPECT_NE(third, std::string::npos);
  EXPECT_TRUE(first < second && second < third) << all.substr(0, 300);
}

// A client that sends half a request and waits, or never reads, holds
// only its own connection.
TEST_F(StatusServerTest, SlowClientsDoNotStallOthers) {
  std::vector<int> slow;
  for (int i = 0; i < 8; i++) {
    int fd = connect_to(port);
    send_all(fd, "GET /metr");
    slow.push_back(fd);
  }
  // Asks for the page again and again, never reading the replies.
  int greedy = connect_to(port);
  std::string many;
  for (int i = 0; i < 200; i++) many += "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  send_all(greedy, many);
  for (int i = 0; i < 5; i++) EXPECT_EQ(status_of(get(port, "/metrics")), 200);
  // The first slow one finishes its request, and is answered.
  send_all(slow[0], "ics HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string r = read_reply(slow[0], 20);
  EXPECT_EQ(status_of(r), 200);
  for (int fd : slow) ::close(fd);
  ::close(greedy);
}

// Connections that never ask anything cannot lock clients out: past the
// limit the one idle longest is closed.
TEST_F(StatusServerTest, PastTheConnectionLimitTheIdlestMakesRoom) {
  std::vector<int> idle;
  for (int i = 0; i < 100; i++) idle.push_back(connect_to(port));
  EXPECT_EQ(status_of(get(port, "/metrics")), 200);
  // The first ones were closed by the server (an end of file, no reply).
  EXPECT_EQ(read_reply(idle[0]), "");
  // A recent one is still open: it is answered when it asks.
  send_all(idle.back(), "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(status_of(read_reply(idle.back(), 20)), 200);
  for (int fd : idle) ::close(fd);
}

TEST_F(StatusServerTest, ASourceIsAskedAndDropped) {
  std::atomic<int> calls{0};
  server->set_source([&calls] {
    calls++;
    return figures(7);
  });
  std::string r;
  for (int i = 0; i < 100 && r.find("} 7\n") == std::string::npos; i++) {
    r = body_of(get(port, "/metrics"));
    if (r.find("} 7\n") == std::string::npos) ::usleep(20000);
  }
  EXPECT_NE(r.find("tandem_replication_checkpoints_total{role=\"primary\"} 7\n"), std::string::npos) << r;
  server->set_source(nullptr);
  const int after = calls.load();
  server->publish(figures(8));
  EXPECT_NE(body_of(get(port, "/metrics")).find("} 8\n"), std::string::npos);
  EXPECT_EQ(calls.load(), after);
}

TEST(StatusServer, RefusesABadAddressClearly) {
  auto s = StatusServer::start("nohost");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("not HOST:PORT"), std::string::npos);
  s = StatusServer::start("no.such.host.invalid:80");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("no.such.host.invalid"), std::string::npos);
  auto first = StatusServer::start("127.0.0.1:0");
  ASSERT_TRUE(first.ok());
  s = StatusServer::start("127.0.0.1:" + std::to_string((*first)->port()));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("Address already in use"), std::string::npos) << s.error().message();
}

}  // namespace
}  // namespace tandem::cli
