#include "replication/connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tandem::replication {

namespace {
// A message that has begun arriving must finish within this: a peer that
// stops half way is gone, and the stream is cut short.
constexpr int kMessageTimeoutMs = 5000;

Result<sockaddr_in> resolve(const HostPort& hp) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(hp.host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return Error("resolve '" + hp.host + "': " + gai_strerror(rc));
  sockaddr_in a{};
  std::memcpy(&a, res->ai_addr, sizeof a);
  freeaddrinfo(res);
  a.sin_port = htons(hp.port);
  return a;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
}  // namespace

Result<HostPort> parse_host_port(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return Error("'" + text + "' is not HOST:PORT");
  HostPort hp;
  hp.host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(port.c_str(), &end, 10);
  if (errno || *end || v > 65535 || port.find_first_not_of("0123456789") != std::string::npos)
    return Error("'" + text + "': port '" + port + "' is not a number from 0 to 65535");
  hp.port = static_cast<uint16_t>(v);
  return hp;
}

Connection::Connection(int fd) : fd_(fd) { set_nodelay(fd_); }
Connection::~Connection() { ::close(fd_); }

Result<int> connect_tcp(const HostPort& to, int timeout_ms) {
  auto addr = resolve(to);
  if (!addr.ok()) return addr.error();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (timeout_ms >= 0 ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return sys_error("socket");
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    do rc = ::poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    int err = ETIMEDOUT;
    socklen_t len = sizeof err;
    if (rc > 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    errno = err;
    rc = err ? -1 : 0;
  }
  if (rc != 0) {
    Error e = sys_error("connect to " + to.text());
    ::close(fd);
    return e;
  }
  return fd;
}

Result<std::unique_ptr<Connection>> Connection::connect(const HostPort& to) {
  auto fd = connect_tcp(to, -1);
  if (!fd.ok()) return fd.error();
  return std::make_unique<Connection>(*fd);
}

Status Connection::send(MsgType type, uint64_t epoch, std::span<const uint8_t> payload, uint16_t version) {
  std::vector<uint8_t> bytes = encode_message(type, epoch, payload, version);
  std::lock_guard<std::mutex> lock(send_mu_);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_error(std::string("send ") + msg_name(type) + " message");
    off += static_cast<size_t>(n);
  }
  bytes_sent_ += bytes.size();
  return Ok();
}

// Appends what the socket has, up to kReadChunk bytes, to the buffer;
// recv()'s result, errno intact.
ssize_t Connection::recv_chunk(int flags) {
  if (rhead_ == rtail_) {
    rhead_ = rtail_ = 0;
  } else if (rhead_ >= kReadChunk) {
    std::memmove(rbuf_.data(), rbuf_.data() + rhead_, rtail_ - rhead_);
    rtail_ -= rhead_;
    rhead_ = 0;
  }
  // The buffer only grows: resizing it to each recv() zero-filled 64 KiB.
  if (rbuf_.size() < rtail_ + kReadChunk) rbuf_.resize(rtail_ + kReadChunk);
  ssize_t got = ::recv(fd_, rbuf_.data() + rtail_, kReadChunk, flags);
  if (got > 0) rtail_ += static_cast<size_t>(got);
  return got;
}

// Waits up to kMessageTimeoutMs for the socket to have data (or to be
// closed); returns early on a signal, and the caller's recv() tells.
Status Connection::wait_readable(const char* what) {
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, kMessageTimeoutMs);
  if (r < 0 && errno != EINTR) return sys_error(std::string("receive ") + what);
  if (r == 0) return Error(std::string("stream cut short in a ") + what + " (nothing for 5 s)");
  return Ok();
}

// Reads at least one more byte into the buffer. Most messages are small
// and come in bursts: one recv() takes several, where reading each header
// and payload by itself cost up to six system calls a message.
Status Connection::read_some(const char* what) {
  for (;;) {
    ssize_t got = recv_chunk(MSG_DONTWAIT);
    if (got > 0) return Ok();
    if (got == 0) return Error(std::string("stream cut short in a ") + what + " (connection closed)");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return sys_error(std::string("receive ") + what);
    TANDEM_TRY(wait_readable(what));
  }
}

Status Connection::read_exact(uint8_t* dst, size_t n, const char* what) {
  const size_t buffered = std::min(n, rtail_ - rhead_);
  if (buffered) std::memcpy(dst, rbuf_.data() + rhead_, buffered);  // dst is null for an empty payload
  rhead_ += buffered;
  dst += buffered;
  n -= buffered;
  while (n > 0) {  // large payloads (checkpoints): straight into place
    TANDEM_TRY(wait_readable(what));
    ssize_t got = ::recv(fd_, dst, n, MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got < 0) return sys_error(std::string("receive ") + what);
    if (got == 0) return Error(std::string("stream cut short in a ") + what + " (connection closed)");
    dst += got;
    n -= static_cast<size_t>(got);
  }
  return Ok();
}

Result<std::optional<Message>> Connection::receive(int timeout_ms) {
  if (shut_) return Error("connection closed");  // not what is still buffered
  if (rhead_ == rtail_) {
    pollfd p{fd_, POLLIN, 0};
    int r;
    do r = ::poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0) return sys_error("poll the replication connection");
    if (r == 0) return std::optional<Message>();
    ssize_t got;
    do got = recv_chunk(0);
    while (got < 0 && errno == EINTR);
    // A peer killed with our data unread resets instead of closing: the
    // same loss of the peer, so the same words for it.
    if (got == 0 || (got < 0 && errno == ECONNRESET))
      return Error(got == 0 ? "connection closed" : "connection closed (reset by the peer)");
    if (got < 0) return sys_error("receive");
  }
  while (rtail_ - rhead_ < kHeaderSize) TANDEM_TRY(read_some("message header"));
  std::array<uint8_t, kHeaderSize> header;
  std::memcpy(header.data(), rbuf_.data() + rhead_, kHeaderSize);
  rhead_ += kHeaderSize;
  peer_version_ = header_version(header);
  auto len = check_header(header);
  if (!len.ok()) {
    damaged_ = true;
    return len.error();
  }
  const char* what = msg_name(static_cast<MsgType>(header[6]));
  while (*len <= kReadChunk && rtail_ - rhead_ < *len) TANDEM_TRY(read_some(what));
  std::vector<uint8_t> payload(*len);
  TANDEM_TRY(read_exact(payload.data(), payload.size(), what));
  auto m = finish_message(header, std::move(payload));
  if (!m.ok()) {
    damaged_ = true;
    return m.error();
  }
  return std::optional<Message>(std::move(m).value());
}

void Connection::shutdown() {
  shut_ = true;
  ::shutdown(fd_, SHUT_RDWR);
}

Result<std::unique_ptr<Listener>> Listener::listen(const HostPort& at) {
  auto addr = resolve(at);
  if (!addr.ok()) return addr.error();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0 || ::listen(fd, 4) != 0) {
    Error e = sys_error("listen on " + at.text());
    ::close(fd);
    return e;
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return std::unique_ptr<Listener>(new Listener(fd, ntohs(bound.sin_port)));
}

Listener::~Listener() { ::close(fd_); }

Result<std::unique_ptr<Connection>> Listener::accept(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return sys_error("poll the listening socket");
  if (r == 0) return std::unique_ptr<Connection>();
  int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return sys_error("accept");
  return std::make_unique<Connection>(fd);
}

}  // namespace tandem::replication
