#include "cli/http_request.h"

#include <algorithm>
#include <cctype>

namespace tandem::cli {

namespace {
// RFC 9110 5.6.2: token characters.
bool token_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), token_char); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpParse error(int status, std::string why) {
  HttpParse p;
  p.kind = HttpParse::kError;
  p.status = status;
  p.error = std::move(why);
  return p;
}

// Whether a comma-separated header value (Connection) lists `word`.
bool lists(std::string_view value, std::string_view word) {
  std::string v = lower(value);
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    if (trim(std::string_view(v).substr(start, comma - start)) == word) return true;
    start = comma + 1;
  }
  return false;
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

HttpParse parse_request_line(std::string_view line, HttpRequest& r) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return error(400, "the request line is not 'METHOD TARGET HTTP/1.1'");
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  if (!is_token(method)) return error(400, "the method is not a token");
  // RFC 9112 3.2.2: a server accepts the absolute form (a proxy's) too.
  std::string_view path = target;
  for (std::string_view scheme : {"http://", "https://"})
    if (lower(path.substr(0, scheme.size())) == scheme) {
      path.remove_prefix(scheme.size());
      size_t slash = path.find('/');
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
  if (path.empty() || path.front() != '/' || !printable(target))
    return error(400, "the target must be a path starting with '/'");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !std::isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' || !std::isdigit(static_cast<unsigned char>(version[7])))
    return error(400, "the version is not HTTP/x.y");
  if (version[5] != '1') return error(505, "only HTTP/1.0 and HTTP/1.1 are served");
  r.method = method;
  r.target = target;
  r.path = path.substr(0, path.find('?'));
  r.minor_version = version[7] - '0';
  return {};
}
}  // namespace

HttpParse parse_http_request(std::string_view in, size_t max_head) {
  // RFC 9112 2.2: empty lines before the request line are ignored.
  size_t skip = 0;
  while (skip < in.size() && (in[skip] == '\r' || in[skip] == '\n') && skip < 4) skip++;
  size_t end = in.find("\n\r\n", skip);
  size_t blank = end == std::string_view::npos ? end : end + 3;
  size_t lf_end = in.find("\n\n", skip);
  if (lf_end != std::string_view::npos && (blank == std::string_view::npos || lf_end + 2 < blank)) blank = lf_end + 2;
  if (blank == std::string_view::npos) {
    if (in.size() > max_head)
      return error(431, "the request head is longer than " + std::to_string(max_head) + " bytes");
    return {};
  }
  if (blank > max_head) return error(431, "the request head is longer than " + std::to_string(max_head) + " bytes");
  std::string_view head = in.substr(skip, blank - skip);
  HttpParse p;
  HttpRequest& r = p.request;
  bool first = true, have_host = false;
  while (!head.empty()) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos)
      return error(400, "a bare CR or NUL in the request head");
    if (line.empty()) break;  // the blank line ending the head
    if (first) {
      first = false;
      if (HttpParse e = parse_request_line(line, r); e.kind == HttpParse::kError) return e;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') return error(400, "folded header lines are not accepted");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return error(400, "a header line is not 'Name: value'");
    std::string name = lower(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "host") {
      if (have_host) return error(400, "more than one Host header");
      have_host = true;
    } else if (name == "content-length") {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos)
        return error(400, "Content-Length is not a number");
      if (value.find_first_not_of('0') != std::string_view::npos) r.has_body = true;
    } else if (name == "transfer-encoding") {
      r.has_body = true;
    }
    r.headers.emplace_back(std::move(name), std::string(value));
  }
  if (first) return error(400, "no request line");
  // RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400.
  if (r.minor_version >= 1 && !have_host) return error(400, "an HTTP/1.1 request needs a Host header");
  r.keep_alive = r.minor_version >= 1;
  for (const auto& [name, value] : r.headers) {
    if (name != "connection") continue;
    if (lists(value, "close")) r.keep_alive = false;
    else if (lists(value, "keep-alive")) r.keep_alive = true;
  }
  p.kind = HttpParse::kRequest;
  p.consumed = blank;
  return p;
}

const char* http_reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string http_response(int status, std::string_view content_type, std::string_view body, bool with_body,
                          bool keep_alive, std::string_view extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + http_reason(status) + "\r\n";
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += extra;
  out += "\r\n";
  if (with_body) out += body;
  return out;
}

}  // namespace tandem::cli
