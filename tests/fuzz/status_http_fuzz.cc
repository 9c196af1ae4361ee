// Harness: the status server's request handling (cli/status_server.h) as
// its poll loop drives it: parse_http_request on the bytes a client sent,
// one request after another, and StatusServer::respond for each, against a
// server holding published figures (their labels and figures include
// quotes, newlines and bytes that are not UTF-8). Every request parsed
// consumes bytes and names a path; every reply is a whole HTTP/1.1
// response whose Content-Length is its body's (or, for HEAD, the body
// GET would get); an error ends the connection, as the server does.
// The server listens on a loopback port that no input reaches.
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/http_request.h"
#include "cli/status_server.h"
#include "fuzz_util.h"

namespace {

using namespace tandem;

cli::StatusServer& server() {
  static std::unique_ptr<cli::StatusServer> s = [] {
    auto started = cli::StatusServer::start("127.0.0.1:0");
    if (!started.ok()) abort();
    std::unique_ptr<cli::StatusServer> p = std::move(started).value();
    p->publish({{"replication",
                 {{"role", "primary"}, {"reason", "said \"no\"\n\xff\xfe"}},
                 {cli::counter("tandem_replication_checkpoints_total", "Checkpoints.", 12,
                               {{"role", "primary"}, {"peer", "a\"b\\c\nd\xc3"}}, "checkpoints / s"),
                  cli::gauge("tandem_replication_output_held_bytes", "Held.", 4096, {{"role", "primary"}},
                             "held output (bytes)")}}});
    return p;
  }();
  return *s;
}

// The body's length as Content-Length says, or -1.
long content_length(const std::string& reply) {
  size_t at = reply.find("\r\nContent-Length: ");
  if (at == std::string::npos) return -1;
  return std::strtol(reply.c_str() + at + 18, nullptr, 10);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kMaxHead = 8192;
  std::string in(reinterpret_cast<const char*>(data), size);
  for (;;) {
    cli::HttpParse p = cli::parse_http_request(in, kMaxHead);
    if (p.kind == cli::HttpParse::kIncomplete) {
      TANDEM_FUZZ_CHECK(in.size() <= kMaxHead);
      break;
    }
    if (p.kind == cli::HttpParse::kError) {
      TANDEM_FUZZ_CHECK(p.status == 400 || p.status == 431 || p.status == 505);
      TANDEM_FUZZ_CHECK(!p.error.empty());
      break;
    }
    TANDEM_FUZZ_CHECK(p.consumed > 0 && p.consumed <= in.size() && p.consumed <= kMaxHead);
    TANDEM_FUZZ_CHECK(!p.request.path.empty() && p.request.path[0] == '/');
    std::string reply = server().respond(p.request);
    TANDEM_FUZZ_CHECK(reply.rfind("HTTP/1.1 ", 0) == 0);
    size_t head_end = reply.find("\r\n\r\n");
    TANDEM_FUZZ_CHECK(head_end != std::string::npos);
    const long body = static_cast<long>(reply.size() - head_end - 4);
    if (p.request.method == "HEAD" && !p.request.has_body) TANDEM_FUZZ_CHECK(body == 0);
    else TANDEM_FUZZ_CHECK(content_length(reply) == body);
    if (!p.request.keep_alive || p.request.has_body) break;  // the server closes the connection
    in.erase(0, p.consumed);
  }
  return 0;
}
