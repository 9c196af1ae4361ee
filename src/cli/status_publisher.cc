#include "cli/status_publisher.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdio>

namespace tandem::cli {

namespace {
constexpr long kIntervalNs = 250'000'000;
constexpr char kStateHelp[] = "The VM: running, paused (the monitor's stop), or standby (a backup's, not yet live).";

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
}  // namespace

StatusPublisher::StatusPublisher(board::Machine& m, StatusServer& server) : m_(m), server_(server) {
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (timer_fd_ < 0) return;  // then the figures are published only by publish()
  itimerspec every{{0, kIntervalNs}, {0, kIntervalNs}};
  timerfd_settime(timer_fd_, 0, &every, nullptr);
  // It cannot wake the guest: under --icount a WFI nothing else can end
  // still stops (board/machine.h).
  m_.add_io_source(
      timer_fd_,
      [this] {
        uint64_t expirations;
        while (::read(timer_fd_, &expirations, sizeof expirations) > 0) {
        }
        publish();
      },
      false);
}

StatusPublisher::~StatusPublisher() {
  if (timer_fd_ < 0) return;
  m_.remove_io_source(timer_fd_);
  ::close(timer_fd_);
}

int StatusPublisher::add(std::function<StatusSection()> source) {
  sources_.emplace_back(next_id_, std::move(source));
  return next_id_++;
}

void StatusPublisher::remove(int id) {
  std::erase_if(sources_, [id](const auto& s) { return s.first == id; });
}

void StatusPublisher::publish() {
  StatusSnapshot s;
  for (auto& [id, source] : sources_) s.push_back(source());
  server_.publish(std::move(s));
}

StatusSection vm_section(board::Machine& m, std::chrono::steady_clock::time_point started,
                         const std::string& name) {
  const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string state = m.paused() ? "paused" : "running";
  const double instructions = static_cast<double>(m.instret());
  StatusSection s{"vm", {}, {}};
  if (!name.empty()) s.figures.emplace_back("name", name);
  s.figures.emplace_back("state", state);
  s.figures.emplace_back("uptime", fixed(uptime, 0) + " s");
  s.figures.emplace_back("instructions", fixed(instructions, 0));
  add_state_set(s.metrics, "tandem_vm_state", kStateHelp, {"running", "paused"}, state, {});
  s.metrics.push_back(gauge("tandem_vm_uptime_seconds", "Seconds since tandem started the VM.", uptime));
  s.metrics.push_back(counter("tandem_vm_instructions_total",
                              "Guest instructions run since the machine was built (a guest reboot rebuilds it).",
                              instructions, {}, "guest instructions / s"));
  return s;
}

StatusSection standby_vm_section() {
  StatusSection s{"vm", {{"state", "standby"}}, {}};
  add_state_set(s.metrics, "tandem_vm_state", kStateHelp, {"running", "paused", "standby"}, "standby", {});
  return s;
}

}  // namespace tandem::cli
