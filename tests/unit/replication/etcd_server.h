// A real etcd for a unit test (Debian's etcd-server): started from PATH on
// free loopback ports with a temporary --data-dir, and killed by its pid
// and removed when the test ends, failed or not (and by the kernel if the
// test process dies first: PR_SET_PDEATHSIG). A test without etcd skips.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../free_port.h"
#include "replication/etcd_client.h"

namespace tandem::replication::testing {

// A loopback port nothing listens on now.
using unit_test::free_port;

inline std::string find_etcd() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    start = colon == std::string::npos ? dirs.size() + 1 : colon + 1;
    std::string file = (dir.empty() ? "." : dir) + "/etcd";
    if (::access(file.c_str(), X_OK) == 0) return file;
  }
  return "";
}

class EtcdServer {
 public:
  // Null, with `why`, when etcd is not installed or does not answer.
  static std::unique_ptr<EtcdServer> start(std::string& why) {
    const std::string etcd = find_etcd();
    if (etcd.empty()) {
      why = "etcd is not installed (apt-get install etcd-server)";
      return nullptr;
    }
    std::unique_ptr<EtcdServer> s(new EtcdServer);
    char tmpl[] = "/tmp/tandem-etcd-XXXXXX";
    if (!mkdtemp(tmpl)) {
      why = "mkdtemp failed";
      return nullptr;
    }
    s->dir_ = tmpl;
    const uint16_t client = free_port(), peer = free_port();
    const std::string c = "http://127.0.0.1:" + std::to_string(client), p = "http://127.0.0.1:" + std::to_string(peer);
    // A single member elects itself at once; these timings let etcd grant
    // 1 s leases (its minimum TTL is 1.5 election timeouts).
    std::vector<std::string> args = {etcd, "--name", "t", "--data-dir", s->dir_ + "/data", "--listen-client-urls", c,
                                     "--advertise-client-urls", c, "--listen-peer-urls", p,
                                     "--initial-advertise-peer-urls", p, "--initial-cluster", "t=" + p,
                                     "--heartbeat-interval", "50", "--election-timeout", "500"};
    const std::string log = s->dir_ + "/etcd.log";
    const pid_t parent = getpid();
    s->pid_ = fork();
    if (s->pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      FILE* f = std::fopen(log.c_str(), "w");
      if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    s->endpoint_ = {"127.0.0.1", client};
    EtcdClient probe(s->endpoint_, 500);
    for (int i = 0; i < 200; i++) {
      if (probe.get("tandem/probe").ok()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string tail;
    if (FILE* f = std::fopen(log.c_str(), "r")) {
      char buf[2048];
      tail.assign(buf, std::fread(buf, 1, sizeof buf, f));
      std::fclose(f);
    }
    why = "etcd did not answer within 10 s: " + tail;
    return nullptr;
  }

  ~EtcdServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  const EtcdEndpoint& endpoint() const { return endpoint_; }
  // Freezes etcd (SIGSTOP): requests go unanswered, as across a partition.
  // Returns once every thread has stopped: kill() only starts the stop, and
  // a request sent at once was answered by a thread not yet stopped.
  void pause() {
    ::kill(pid_, SIGSTOP);
    int status = 0;
    while (::waitpid(pid_, &status, WUNTRACED) < 0 && errno == EINTR) {
    }
  }
  void resume() { ::kill(pid_, SIGCONT); }

 private:
  EtcdServer() = default;
  pid_t pid_ = -1;
  std::string dir_;
  EtcdEndpoint endpoint_;
};

}  // namespace tandem::replication::testing

// In a TEST body: `server` is a running etcd, or the test skips.
#define TANDEM_START_ETCD(server)                                               \
  std::string server##_why;                                                     \
  auto server = ::tandem::replication::testing::EtcdServer::start(server##_why); \
  if (!server) GTEST_SKIP() << server##_why
