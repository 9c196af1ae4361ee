// Written here rather than taken from a library: Debian packages no HTTP
// server library that fits one small poll loop on one thread better.
#include "cli/status_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "replication/connection.h"

namespace tandem::cli {

using nlohmann::json;

namespace {
constexpr size_t kMaxHead = 8192;
constexpr size_t kMaxClients = 64;
constexpr double kHeadTimeoutS = 10;   // from a request's first byte to its last
constexpr double kIdleTimeoutS = 30;   // a keep-alive connection with nothing asked
constexpr double kWriteTimeoutS = 10;  // a reply nobody reads
constexpr double kSourceIntervalS = 0.25;
constexpr double kSampleIntervalS = 1;

double steady_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double unix_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Figures and labels may hold any bytes (an error's text): invalid UTF-8
// is replaced rather than thrown on.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

struct StatusServer::Client {
  int fd;
  std::string in;
  std::string out;
  size_t out_off = 0;
  double deadline;
  double since;              // accepted, or its last reply sent
  bool eof = false;          // the client shut its side
  bool close_after = false;  // once `out` is sent
};

Result<std::unique_ptr<StatusServer>> StatusServer::start(const std::string& host_port) {
  auto hp = replication::parse_host_port(host_port);
  if (!hp.ok()) return hp.error();
  std::string host = hp->host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp->port);
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Error("status page: resolve '" + host + "': " + gai_strerror(rc));
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return sys_error("status page: socket");
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool bound = ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 64) == 0;
  freeaddrinfo(res);
  if (!bound) {
    Error e = sys_error("status page: listen on " + host_port);
    ::close(fd);
    return e;
  }
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t bound_port = ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                                      : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  int stop = eventfd(0, EFD_CLOEXEC);
  if (stop < 0) {
    ::close(fd);
    return sys_error("status page: eventfd");
  }
  return std::unique_ptr<StatusServer>(new StatusServer(fd, stop, host, bound_port));
}

Result<std::unique_ptr<StatusServer>> start_status_page(const std::string& host_port) {
  auto s = StatusServer::start(host_port);
  if (s.ok()) std::fprintf(stderr, "tandem: status page at %s\n", (*s)->url().c_str());
  return s;
}

StatusServer::StatusServer(int listen_fd, int stop_fd, std::string host, uint16_t port)
    : listen_fd_(listen_fd), stop_fd_(stop_fd), host_(std::move(host)), port_(port) {
  thread_ = Thread([this] { serve(); });
}

StatusServer::~StatusServer() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

std::string StatusServer::url() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_) + "/";
}

void StatusServer::publish(StatusSnapshot s) {
  auto p = std::make_shared<const Published>(Published{std::move(s), unix_s()});
  std::lock_guard<std::mutex> lock(mu_);
  latest_.swap(p);
}  // the old figures are freed here, after the lock

void StatusServer::set_source(std::function<StatusSnapshot()> source) {
  std::lock_guard<std::mutex> lock(source_mu_);
  source_ = std::move(source);
}

void StatusServer::poll_source() {
  std::lock_guard<std::mutex> lock(source_mu_);
  if (source_) publish(source_());
}

void StatusServer::take_sample() {
  auto p = latest();
  std::lock_guard<std::mutex> lock(history_mu_);
  if (!p || p == sampled_) return;  // nothing new: a gap in the plot
  history_.add(p->unix_s, p->snapshot);
  sampled_ = std::move(p);
}

std::string StatusServer::status_json() {
  auto p = latest();
  json sections = json::array(), metrics = json::array();
  if (p) {
    for (const StatusSection& s : p->snapshot) {
      json figures = json::array();
      for (const auto& [k, v] : s.figures) figures.push_back({k, v});
      sections.push_back({{"title", s.title}, {"figures", figures}});
      for (const Metric& m : s.metrics) {
        json labels = json::object();
        for (const auto& [k, v] : m.labels) labels[k] = v;
        metrics.push_back({{"name", m.name},
                           {"type", m.type == MetricType::kCounter ? "counter" : "gauge"},
                           {"labels", labels},
                           {"value", m.value}});
      }
    }
  }
  json history;
  {
    std::lock_guard<std::mutex> lock(history_mu_);
    history = history_.to_json();
  }
  return dump({{"time", p ? json(p->unix_s) : json(nullptr)},
               {"now", unix_s()},
               {"sections", sections},
               {"metrics", metrics},
               {"history", std::move(history)}}) +
         "\n";
}

std::string StatusServer::metrics_text() {
  auto p = latest();
  std::vector<Metric> all;
  if (p)
    for (const StatusSection& s : p->snapshot) all.insert(all.end(), s.metrics.begin(), s.metrics.end());
  return format_prometheus(all);
}

std::string StatusServer::respond(const HttpRequest& r) {
  const bool with_body = r.method != "HEAD";
  if (r.method != "GET" && r.method != "HEAD")
    return http_response(405, "text/plain; charset=utf-8", "only GET and HEAD are served\n", true,
                         r.keep_alive && !r.has_body, "Allow: GET, HEAD\r\n");
  // A body's end cannot be found without reading it: answered, then closed.
  if (r.has_body)
    return http_response(400, "text/plain; charset=utf-8", "a GET or HEAD request carries no body\n", true, false);
  if (r.path == "/")
    return http_response(200, "text/html; charset=utf-8", kStatusPageHtml, with_body, r.keep_alive);
  if (r.path == "/status.json")
    return http_response(200, "application/json", status_json(), with_body, r.keep_alive);
  if (r.path == "/metrics")
    return http_response(200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(), with_body, r.keep_alive);
  return http_response(404, "text/plain; charset=utf-8", "no such page: / /status.json /metrics are served\n",
                       with_body, r.keep_alive);
}

void StatusServer::serve() {
  std::vector<Client> clients;
  double next_source = steady_s(), next_sample = next_source + kSampleIntervalS;
  auto drop = [&](size_t i) {
    ::close(clients[i].fd);
    clients.erase(clients.begin() + static_cast<long>(i));
  };
  // Answers what `c` asked, one request at a time: the next is parsed only
  // once the last reply is out, so a client that only sends holds one
  // reply and 8 KiB at most.
  auto answer = [&](Client& c, double now) {
    if (!c.out.empty() || c.close_after) return;
    HttpParse p = parse_http_request(c.in, kMaxHead);
    if (p.kind == HttpParse::kIncomplete) return;
    if (p.kind == HttpParse::kError) {
      c.out = http_response(p.status, "text/plain; charset=utf-8", p.error + "\n", true, false);
      c.close_after = true;
    } else {
      c.out = respond(p.request);
      c.close_after = !p.request.keep_alive || p.request.has_body;
      c.in.erase(0, p.consumed);
    }
    c.out_off = 0;
    c.deadline = now + kWriteTimeoutS;
  };
  for (;;) {
    double now = steady_s();
    if (now >= next_source) {
      poll_source();
      next_source = now + kSourceIntervalS;
    }
    if (now >= next_sample) {
      take_sample();
      next_sample = std::max(next_sample + kSampleIntervalS, now);
    }
    for (size_t i = clients.size(); i-- > 0;)
      if (now >= clients[i].deadline) drop(i);  // 408 would be polite; a stalled client reads nothing anyway

    std::vector<pollfd> fds = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    double wake = std::min(next_source, next_sample);
    for (const Client& c : clients) {
      short events = 0;
      if (!c.out.empty()) events |= POLLOUT;
      else if (!c.eof && c.in.size() <= kMaxHead) events |= POLLIN;
      fds.push_back({c.fd, events, 0});
      wake = std::min(wake, c.deadline);
    }
    int timeout_ms = static_cast<int>(std::max(0.0, (wake - now) * 1000) + 1);
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) continue;  // EINTR
    if (fds[0].revents) return;
    now = steady_s();

    for (size_t i = clients.size(); i-- > 0;) {
      Client& c = clients[i];
      const short re = fds[2 + i].revents;
      if (re & (POLLERR | POLLNVAL | POLLHUP)) {
        drop(i);
        continue;
      }
      if (re & POLLIN) {
        char buf[4096];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) c.in.append(buf, static_cast<size_t>(n));
        else if (n == 0) c.eof = true;
        else if (errno != EAGAIN && errno != EINTR) {
          drop(i);
          continue;
        }
      }
      answer(c, now);
      if (!c.out.empty()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          drop(i);
          continue;
        }
        if (n > 0) {
          c.out_off += static_cast<size_t>(n);
          c.deadline = now + kWriteTimeoutS;
        }
        if (c.out_off < c.out.size()) continue;
        c.out.clear();
        c.since = now;
        if (c.close_after) {
          drop(i);
          continue;
        }
        c.deadline = now + (c.in.empty() ? kIdleTimeoutS : kHeadTimeoutS);
        answer(c, now);  // a request sent behind this one
        if (!c.out.empty()) continue;
      }
      // A client that has shut its side and has nothing left to be answered.
      if (c.eof && c.out.empty()) drop(i);
    }

    if (fds[1].revents & POLLIN) {
      for (int k = 0; k < 16; k++) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        if (clients.size() >= kMaxClients) {
          // Full: the connection idle (or its request unfinished) the
          // longest makes room, so that clients that open connections
          // and say nothing cannot lock others out; 503 when every one
          // is being answered.
          size_t oldest = clients.size();
          for (size_t i = 0; i < clients.size(); i++)
            if (clients[i].out.empty() && (oldest == clients.size() || clients[i].since < clients[oldest].since))
              oldest = i;
          if (oldest == clients.size()) {
            std::string busy = http_response(503, "text/plain; charset=utf-8", "too many connections\n", true, false);
            (void)!::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL);
            ::close(fd);
            continue;
          }
          drop(oldest);
        }
        clients.push_back({fd, {}, {}, 0, now + kHeadTimeoutS, now});
      }
    }
  }
}

}  // namespace tandem::cli
