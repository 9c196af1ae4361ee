// A small blocking client for etcd's v3 API through its JSON gateway
// (etcd 3.4, Debian's etcd-server: POST /v3/<service>/<call>, keys and
// values base64, 64-bit numbers as JSON strings), for the arbiter
// (replication/arbiter.h).
//
// Hand-written over one HTTP/1.1 request per connection rather than
// libcurl: five fixed POSTs to one host need no more, every call must end
// by a hard deadline (an arbiter that hangs on etcd is worse than one that
// says it cannot reach it), and tandem links statically where it can.
// Not for the vCPU thread: a call blocks up to `timeout_ms`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace tandem::replication {

// "http://HOST:PORT" (HOST a name or an IPv4 address; no path, no TLS).
struct EtcdEndpoint {
  std::string host;
  uint16_t port = 0;
  std::string url() const { return "http://" + host + ":" + std::to_string(port); }
};
Result<EtcdEndpoint> parse_etcd_url(const std::string& text);

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;  // 0: none
};

// One comparison of a transaction (etcd's Compare, result EQUAL).
struct Compare {
  enum class Target { kValue, kCreateRevision, kLease };
  std::string key;
  Target target = Target::kValue;
  std::string value;    // kValue
  int64_t number = 0;   // kCreateRevision (0: the key is absent), kLease
  static Compare absent(std::string key) { return {std::move(key), Target::kCreateRevision, "", 0}; }
  static Compare value_is(std::string key, std::string v) { return {std::move(key), Target::kValue, std::move(v), 0}; }
  static Compare lease_is(std::string key, int64_t id) { return {std::move(key), Target::kLease, "", id}; }
};

// One request of a transaction's branch.
struct Op {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kRange;
  std::string key, value;
  int64_t lease = 0;  // kPut: attach the key to this lease (0: none)
  static Op put(std::string key, std::string v, int64_t lease = 0) {
    return {Kind::kPut, std::move(key), std::move(v), lease};
  }
  static Op del(std::string key) { return {Kind::kDelete, std::move(key), "", 0}; }
  static Op range(std::string key) { return {Kind::kRange, std::move(key), "", 0}; }
};

struct Txn {
  std::vector<Compare> compare;  // all must hold
  std::vector<Op> success, failure;
};
struct TxnResult {
  bool succeeded = false;
  // What each range op of the branch taken found (nullopt: no such key),
  // in the order of those ops.
  std::vector<std::optional<KeyValue>> ranges;
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl_s = 0;  // as granted: etcd raises a TTL below its minimum
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdEndpoint at, int timeout_ms = 1000) : at_(std::move(at)), timeout_ms_(timeout_ms) {}
  const EtcdEndpoint& endpoint() const { return at_; }

  // GET /version: the server's version, to check that etcd answers.
  Result<std::string> version();
  Result<LeaseGrant> grant(int64_t ttl_s);
  // The lease's TTL after the refresh, 0 when it has expired or is gone.
  Result<int64_t> keep_alive(int64_t id);
  Status revoke(int64_t id);
  Result<TxnResult> txn(const Txn& t);
  Result<std::optional<KeyValue>> get(const std::string& key);

 private:
  // One request; the response body of a 200, else an error naming the
  // URL and what etcd said.
  Result<std::string> call(const std::string& method, const std::string& path, const std::string& body);
  EtcdEndpoint at_;
  int timeout_ms_;
};

// RFC 4648 base64, as the gateway carries keys and values.
std::string base64_encode(const std::string& bytes);
Result<std::string> base64_decode(const std::string& text);

}  // namespace tandem::replication
