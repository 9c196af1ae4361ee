// One TCP connection carrying the replication stream (protocol.h): whole
// messages in, whole messages out, sends from several threads serialized.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "replication/protocol.h"

namespace tandem::replication {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};
// "HOST:PORT" (HOST a name or an IPv4 address); the error names the text.
Result<HostPort> parse_host_port(const std::string& text);
// A TCP socket connected to `to` (IPv4), within timeout_ms (-1: as long as
// the kernel tries); the error names the address.
Result<int> connect_tcp(const HostPort& to, int timeout_ms);

class Connection {
 public:
  explicit Connection(int fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  static Result<std::unique_ptr<Connection>> connect(const HostPort& to);

  // Any thread. Fails once the connection is broken. `version`: see
  // encode_message.
  Status send(MsgType type, uint64_t epoch, std::span<const uint8_t> payload = {},
              uint16_t version = kProtocolVersion);
  // One message, or nullopt when none started within timeout_ms (-1:
  // wait). A message that has started must complete within a few seconds.
  // One receiving thread at a time.
  Result<std::optional<Message>> receive(int timeout_ms);
  // Wakes a blocked receive() and makes every later call fail.
  void shutdown();
  uint64_t bytes_sent() const { return bytes_sent_; }
  // Whether receive() failed on bytes that do not make a valid message
  // (a damaged stream), rather than on the connection itself.
  bool damaged() const { return damaged_; }
  // The protocol version of the last header received (ours until one
  // came), so that a peer of another version can be answered in it.
  uint16_t peer_version() const { return peer_version_; }

 private:
  static constexpr size_t kReadChunk = 64 * 1024;
  ssize_t recv_chunk(int flags);
  Status wait_readable(const char* what);
  Status read_some(const char* what);
  Status read_exact(uint8_t* dst, size_t n, const char* what);
  int fd_;
  std::vector<uint8_t> rbuf_;  // [rhead_, rtail_): received, not yet taken
  size_t rhead_ = 0, rtail_ = 0;
  std::mutex send_mu_;
  std::atomic<uint64_t> bytes_sent_{0};
  bool damaged_ = false;
  std::atomic<bool> shut_{false};
  uint16_t peer_version_ = kProtocolVersion;
};

// A listening socket for `at`; accept() waits up to timeout_ms (-1: for
// ever) and returns null on timeout.
class Listener {
 public:
  static Result<std::unique_ptr<Listener>> listen(const HostPort& at);
  ~Listener();
  Result<std::unique_ptr<Connection>> accept(int timeout_ms);
  uint16_t port() const { return port_; }

 private:
  Listener(int fd, uint16_t port) : fd_(fd), port_(port) {}
  int fd_;
  uint16_t port_;
};

}  // namespace tandem::replication
