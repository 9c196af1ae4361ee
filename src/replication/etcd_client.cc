#include "replication/etcd_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "replication/connection.h"

namespace tandem::replication {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// etcd's JSON gateway writes int64 fields as strings and leaves out zeros.
int64_t number(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_string()) return std::strtoll(it->get<std::string>().c_str(), nullptr, 10);
  return it->get<int64_t>();
}

Result<KeyValue> key_value(const json& j) {
  KeyValue kv;
  auto key = base64_decode(j.value("key", ""));
  if (!key.ok()) return key.error();
  auto value = base64_decode(j.value("value", ""));
  if (!value.ok()) return value.error();
  kv.key = std::move(key).value();
  kv.value = std::move(value).value();
  kv.create_revision = number(j, "create_revision");
  kv.mod_revision = number(j, "mod_revision");
  kv.lease = number(j, "lease");
  return kv;
}

// The first key-value of a range response, if any.
Result<std::optional<KeyValue>> first_kv(const json& range) {
  auto kvs = range.find("kvs");
  if (kvs == range.end() || !kvs->is_array() || kvs->empty()) return std::optional<KeyValue>();
  auto kv = key_value(kvs->front());
  if (!kv.ok()) return kv.error();
  return std::optional<KeyValue>(std::move(kv).value());
}

json op_json(const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut: {
      json put = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease) put["lease"] = std::to_string(op.lease);
      return {{"request_put", put}};
    }
    case Op::Kind::kDelete:
      return {{"request_delete_range", {{"key", base64_encode(op.key)}}}};
    case Op::Kind::kRange:
      break;
  }
  return {{"request_range", {{"key", base64_encode(op.key)}}}};
}

json compare_json(const Compare& c) {
  json j = {{"key", base64_encode(c.key)}, {"result", "EQUAL"}};
  switch (c.target) {
    case Compare::Target::kValue:
      j["target"] = "VALUE";
      j["value"] = base64_encode(c.value);
      break;
    case Compare::Target::kCreateRevision:
      j["target"] = "CREATE";
      j["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kLease:
      j["target"] = "LEASE";
      j["lease"] = std::to_string(c.number);
      break;
  }
  return j;
}

// A chunked body (RFC 9112 7.1) put back together.
Result<std::string> dechunk(const std::string& body) {
  std::string out;
  size_t at = 0;
  for (;;) {
    size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) return Error("a chunked response cut short");
    size_t size = std::strtoul(body.substr(at, eol - at).c_str(), nullptr, 16);
    at = eol + 2;
    if (size == 0) return out;
    if (at + size > body.size()) return Error("a chunked response cut short");
    out.append(body, at, size);
    at += size + 2;
  }
}

Result<json> parse_json(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error("not a JSON object: '" + body.substr(0, 120) + "'");
  // A streaming call (lease keepalive) reports its failure in the body.
  if (auto e = j.find("error"); e != j.end())
    return Error(e->is_object() ? e->value("message", e->dump()) : e->dump());
  return j;
}

}  // namespace

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; k++) v = v << 8 | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0);
    for (size_t k = 0; k < 4; k++) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

Result<std::string> base64_decode(const std::string& text) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (c == '=') {
      if (text.find_first_not_of('=', i) != std::string::npos) return Error("base64: '=' inside '" + text + "'");
      break;
    }
    const char* at = std::strchr(kAlphabet, c);
    if (!c || !at) return Error("base64: bad character in '" + text + "'");
    v = v << 6 | static_cast<uint32_t>(at - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  return out;
}

Result<EtcdEndpoint> parse_etcd_url(const std::string& text) {
  const std::string scheme = "http://";
  if (text.rfind(scheme, 0) != 0)
    return Error("'" + text + "' is not http://HOST:PORT" +
                 (text.rfind("https://", 0) == 0 ? " (TLS is not supported)" : ""));
  std::string rest = text.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) return Error("'" + text + "': no path is expected after HOST:PORT");
  auto hp = parse_host_port(rest);
  if (!hp.ok()) return hp.error().context("'" + text + "'");
  if (hp->port == 0) return Error("'" + text + "': port 0");
  return EtcdEndpoint{hp->host, hp->port};
}

Result<std::string> EtcdClient::call(const std::string& method, const std::string& path, const std::string& body) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  const std::string where = "etcd at " + at_.url();
  auto left_ms = [&] {
    return static_cast<int>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };
  auto fd = connect_tcp({at_.host, at_.port}, timeout_ms_);
  if (!fd.ok()) return fd.error().context(where);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{*fd};
  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + at_.host + ":" +
                              std::to_string(at_.port) + "\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  // Send it all, then read to the end (the server closes), both by the deadline.
  size_t sent = 0;
  std::string response;
  char buf[4096];
  for (;;) {
    const bool sending = sent < request.size();
    pollfd p{*fd, static_cast<short>(sending ? POLLOUT : POLLIN), 0};
    int r = ::poll(&p, 1, left_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error(where + ": poll");
    if (r == 0) return Error(where + ": no answer to " + path + " within " + std::to_string(timeout_ms_) + " ms");
    ssize_t n = sending ? ::send(*fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL)
                        : ::recv(*fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return sys_error(where + ": " + (sending ? "send " : "receive ") + path);
    if (sending) {
      sent += static_cast<size_t>(n);
    } else if (n == 0) {
      break;
    } else {
      response.append(buf, static_cast<size_t>(n));
    }
  }
  const size_t head_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
    return Error(where + ": not an HTTP response to " + path);
  std::string head = response.substr(0, head_end);
  std::string content = response.substr(head_end + 4);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    auto d = dechunk(content);
    if (!d.ok()) return d.error().context(where);
    content = std::move(d).value();
  }
  const int status = std::atoi(head.c_str() + head.find(' ') + 1);
  if (status != 200) {
    json j = json::parse(content, nullptr, false);
    std::string said = j.is_object() ? j.value("message", j.value("error", content)) : content.substr(0, 200);
    return Error(where + ": " + path + ": HTTP " + std::to_string(status) + ": " + said);
  }
  return content;
}

Result<std::string> EtcdClient::version() {
  auto body = call("GET", "/version", "");
  if (!body.ok()) return body.error();
  auto j = parse_json(*body);
  if (!j.ok()) return j.error().context("etcd at " + at_.url() + ": /version");
  return j->value("etcdserver", std::string("unknown"));
}

Result<LeaseGrant> EtcdClient::grant(int64_t ttl_s) {
  auto body = call("POST", "/v3/lease/grant", json{{"TTL", std::to_string(ttl_s)}}.dump());
  if (!body.ok()) return body.error();
  auto j = parse_json(*body);
  if (!j.ok()) return j.error().context("etcd at " + at_.url() + ": lease grant");
  LeaseGrant g{number(*j, "ID"), number(*j, "TTL")};
  if (!g.id || g.ttl_s <= 0) return Error("etcd at " + at_.url() + ": lease grant: no lease in '" + *body + "'");
  return g;
}

Result<int64_t> EtcdClient::keep_alive(int64_t id) {
  auto body = call("POST", "/v3/lease/keepalive", json{{"ID", std::to_string(id)}}.dump());
  if (!body.ok()) return body.error();
  auto j = parse_json(*body);
  if (!j.ok()) return j.error().context("etcd at " + at_.url() + ": lease keepalive");
  auto r = j->find("result");
  return r == j->end() ? int64_t{0} : std::max<int64_t>(0, number(*r, "TTL"));
}

Status EtcdClient::revoke(int64_t id) {
  auto body = call("POST", "/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump());
  if (!body.ok()) return body.error();
  return Ok();
}

Result<TxnResult> EtcdClient::txn(const Txn& t) {
  json req = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : t.compare) req["compare"].push_back(compare_json(c));
  for (const auto& op : t.success) req["success"].push_back(op_json(op));
  for (const auto& op : t.failure) req["failure"].push_back(op_json(op));
  auto body = call("POST", "/v3/kv/txn", req.dump());
  if (!body.ok()) return body.error();
  auto j = parse_json(*body);
  if (!j.ok()) return j.error().context("etcd at " + at_.url() + ": txn");
  TxnResult r;
  r.succeeded = j->value("succeeded", false);
  auto responses = j->find("responses");
  if (responses == j->end() || !responses->is_array()) return r;
  for (const auto& one : *responses) {
    auto range = one.find("response_range");
    if (range == one.end()) continue;
    auto kv = first_kv(*range);
    if (!kv.ok()) return kv.error().context("etcd at " + at_.url() + ": txn");
    r.ranges.push_back(std::move(kv).value());
  }
  return r;
}

Result<std::optional<KeyValue>> EtcdClient::get(const std::string& key) {
  auto body = call("POST", "/v3/kv/range", json{{"key", base64_encode(key)}}.dump());
  if (!body.ok()) return body.error();
  auto j = parse_json(*body);
  if (!j.ok()) return j.error().context("etcd at " + at_.url() + ": range");
  return first_kv(*j);
}

}  // namespace tandem::replication
