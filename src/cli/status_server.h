// `--status HOST:PORT`: a small HTTP/1.1 server, on a thread of its own,
// showing a VM and its protection to people and to monitoring:
//
//   GET /             one self-contained HTML page (no external scripts or
//                     fonts): each section's figures and plots of the last
//                     5 minutes, from /status.json fetched every second
//   GET /status.json  the figures now, every metric, and the history
//   GET /metrics      Prometheus' text exposition format 0.0.4
//
// HEAD is answered as GET; any other method 405, an unknown path 404, a
// malformed request 400. The server never calls into the VM: the owner of
// the figures publishes a StatusSnapshot (cli/metrics.h) about every
// 250 ms (publish(), any thread; cli/status_publisher.h does it from a
// machine's run loop), or hands a thread-safe getter (set_source()) that
// the server's thread calls as often. Once a second the server keeps the
// charted metrics of the latest snapshot (5 minutes of them).
//
// Bad clients cannot stall it or the VM: a request head is at most 8 KiB
// and must arrive within 10 s, an idle keep-alive connection closes after
// 30 s, a reply not read for 10 s is dropped, and past 64 connections the
// one idle longest is closed for the new one (503 if all are being
// answered).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "base/thread.h"
#include "cli/http_request.h"
#include "cli/metrics.h"
#include "cli/status_history.h"

namespace tandem::cli {

class StatusServer {
 public:
  // Listens on exactly HOST:PORT (port 0: one the kernel picks; url() says
  // which) and starts serving; the error names the address.
  static Result<std::unique_ptr<StatusServer>> start(const std::string& host_port);
  ~StatusServer();  // stops the thread and closes every connection
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  std::string url() const;  // "http://HOST:PORT/"
  uint16_t port() const { return port_; }

  // Any thread: the figures as they are now.
  void publish(StatusSnapshot s);
  // A getter the server's own thread calls every 250 ms (it must be
  // thread-safe); null: none. Returns once no call of the old one runs.
  void set_source(std::function<StatusSnapshot()> source);

  // The reply to one request, as sent (routes and headers), without a
  // socket: for tests (any thread).
  std::string respond(const HttpRequest& r);

 private:
  struct Client;
  StatusServer(int listen_fd, int stop_fd, std::string host, uint16_t port);
  void serve();
  void poll_source();
  void take_sample();
  std::string status_json();
  std::string metrics_text();

  int listen_fd_;
  int stop_fd_;
  std::string host_;
  uint16_t port_;

  // The latest figures, swapped in whole: a publisher (the vCPU thread)
  // waits for a pointer's copy at most, never for a reply being built.
  struct Published {
    StatusSnapshot snapshot;
    double unix_s = 0;  // when published
  };
  std::mutex mu_;
  std::shared_ptr<const Published> latest_;
  std::shared_ptr<const Published> latest() {
    std::lock_guard<std::mutex> lock(mu_);
    return latest_;
  }
  // The server thread's, and respond()'s from other threads (tests).
  std::mutex history_mu_;
  std::shared_ptr<const Published> sampled_;  // the figures last put in the history
  StatusHistory history_;
  std::mutex source_mu_;       // held while the source is called
  std::function<StatusSnapshot()> source_;
  Thread thread_;
};

// StatusServer::start(), then "tandem: status page at URL" on stderr (with
// the port picked for port 0): what --status does on every command.
Result<std::unique_ptr<StatusServer>> start_status_page(const std::string& host_port);

// The status page (status_page.cc).
extern const char kStatusPageHtml[];

}  // namespace tandem::cli
