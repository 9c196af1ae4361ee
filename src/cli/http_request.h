// The little of HTTP/1.1 (RFC 9112) the status server needs: a request
// head parsed from the bytes received so far, and a response written out.
// Requests carry no body: GET and HEAD are all the server answers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::cli {

struct HttpRequest {
  std::string method;  // "GET", ...
  std::string target;  // as sent: "/metrics?x=1"
  std::string path;    // the target without its query: "/metrics"
  int minor_version = 1;  // HTTP/1.x
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  bool keep_alive = true;  // 1.1 unless "Connection: close"; 1.0 only with keep-alive
  bool has_body = false;   // Content-Length above 0, or Transfer-Encoding
};

struct HttpParse {
  enum Kind { kIncomplete, kRequest, kError } kind = kIncomplete;
  HttpRequest request;  // kRequest
  size_t consumed = 0;  // kRequest: bytes of the head, blank line included
  int status = 0;       // kError: 400, 431 (head too long), 505 (version)
  std::string error;    // kError: what was wrong, for the reply's body
};

// The first request head in `in` (at most `max_head` bytes long; lines end
// in CRLF, or LF alone).
HttpParse parse_http_request(std::string_view in, size_t max_head);

// "HTTP/1.1 STATUS REASON" with Content-Type, Content-Length, Connection
// and Cache-Control: no-store; the body only when `with_body` (not for
// HEAD). `extra` holds further header lines, each ending in "\r\n".
std::string http_response(int status, std::string_view content_type, std::string_view body, bool with_body,
                          bool keep_alive, std::string_view extra = {});
const char* http_reason(int status);

}  // namespace tandem::cli
