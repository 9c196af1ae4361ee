#include <gtest/gtest.h>

#include <string>

#include "cli/http_request.h"

namespace tandem::cli {
namespace {

constexpr size_t kMax = 8192;

HttpParse parse(const std::string& in) { return parse_http_request(in, kMax); }

TEST(HttpRequest, ParsesAGetWithHeaders) {
  const std::string in =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n";
  HttpParse p = parse(in);
  ASSERT_EQ(p.kind, HttpParse::kRequest) << p.error;
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.target, "/metrics?x=1");
  EXPECT_EQ(p.request.path, "/metrics");
  EXPECT_EQ(p.request.minor_version, 1);
  EXPECT_TRUE(p.request.keep_alive);
  EXPECT_FALSE(p.request.has_body);
  EXPECT_EQ(p.consumed, in.size());
  ASSERT_EQ(p.request.headers.size(), 3u);
  EXPECT_EQ(p.request.headers[1].first, "user-agent");
  EXPECT_EQ(p.request.headers[1].second, "curl/7.88");
}

TEST(HttpRequest, IncompleteUntilTheBlankLine) {
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t n = 0; n < in.size(); n++) EXPECT_EQ(parse(in.substr(0, n)).kind, HttpParse::kIncomplete) << n;
  EXPECT_EQ(parse(in).kind, HttpParse::kRequest);
}

TEST(HttpRequest, ConsumesOneRequestOfSeveral) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  HttpParse p = parse(first + "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(p.kind, HttpParse::kRequest);
  EXPECT_EQ(p.request.path, "/a");
  EXPECT_EQ(p.consumed, first.size());
}

TEST(HttpRequest, AcceptsTheAbsoluteForm) {
  EXPECT_EQ(parse("GET http://h:1/metrics?a HTTP/1.1\r\nHost: h:1\r\n\r\n").request.path, "/metrics");
  EXPECT_EQ(parse("GET HTTP://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n").request.path, "/");
}

TEST(HttpRequest, BareLineFeedsAndLeadingEmptyLines) {
  HttpParse p = parse("\r\nGET / HTTP/1.1\nHost: a\n\n");
  ASSERT_EQ(p.kind, HttpParse::kRequest) << p.error;
  EXPECT_EQ(p.request.path, "/");
}

TEST(HttpRequest, ConnectionHeaderAndVersionDecideKeepAlive) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").request.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nconnection: Upgrade, Close\r\n\r\n").request.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").request.keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request.keep_alive);
}

TEST(HttpRequest, NoticesABody) {
  EXPECT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello").request.has_body);
  EXPECT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").request.has_body);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").request.has_body);
}

TEST(HttpRequest, RefusesGarbageWithTheReason) {
  struct Case {
    const char* in;
    int status;
    const char* says;
  };
  const Case cases[] = {
      {"GARBAGE\r\n\r\n", 400, "request line"},
      {"GET /\r\n\r\n", 400, "request line"},
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line"},
      {"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400, "request line"},
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method"},
      {"GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"},
      {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"},
      {"GET / FTP/1.1\r\nHost: a\r\n\r\n", 400, "version"},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/1.0"},
      {"GET / HTTP/1.1\r\n\r\n", 400, "Host"},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host"},
      {"GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n", 400, "header"},
      {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "folded"},
      {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, "bare CR"},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"},
  };
  for (const Case& c : cases) {
    HttpParse p = parse(c.in);
    ASSERT_EQ(p.kind, HttpParse::kError) << c.in;
    EXPECT_EQ(p.status, c.status) << c.in;
    EXPECT_NE(p.error.find(c.says), std::string::npos) << c.in << " -> " << p.error;
  }
  HttpParse nul = parse(std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30));
  EXPECT_EQ(nul.kind, HttpParse::kError);
}

TEST(HttpRequest, AHeadTooLongIs431WithOrWithoutItsEnd) {
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(kMax, 'x');
  HttpParse p = parse(big);
  EXPECT_EQ(p.kind, HttpParse::kError);
  EXPECT_EQ(p.status, 431);
  p = parse(big + "\r\n\r\n");
  EXPECT_EQ(p.status, 431);
}

TEST(HttpRequest, ResponseHeadersAndHead) {
  std::string r = http_response(200, "text/plain", "hello", true, true);
  EXPECT_EQ(r.substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_NE(r.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_NE(r.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 9), "\r\n\r\nhello");
  // HEAD: the same headers (Content-Length of the body GET would get), no body.
  std::string h = http_response(405, "text/plain", "hello", false, false, "Allow: GET, HEAD\r\n");
  EXPECT_EQ(h.substr(0, 33), "HTTP/1.1 405 Method Not Allowed\r\n");
  EXPECT_NE(h.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_NE(h.find("Connection: close\r\nAllow: GET, HEAD\r\n\r\n"), std::string::npos);
  EXPECT_EQ(h.substr(h.size() - 4), "\r\n\r\n");
}

}  // namespace
}  // namespace tandem::cli
