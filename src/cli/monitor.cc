#include "cli/monitor.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "cli/ft_command.h"
#include "state/disk_snapshot.h"
#include "state/snapshot_format.h"

namespace tandem::cli {

using nlohmann::json;

namespace {

json report_json(const state::SaveReport& r) {
  json j = {{"pause_ms", r.pause_ms},         {"commit_ms", r.commit_ms}, {"total_ms", r.total_ms},
            {"file_bytes", r.file_bytes},     {"pages_saved", r.pages_saved},
            {"pages_saved_twice", r.pages_saved_twice}, {"active_pages", r.active_pages},
            {"rounds", r.rounds}};
  if (r.working_set_pages > 0) j["working_set_pages"] = r.working_set_pages;
  if (!r.drive_copies.empty()) {
    j["drive_copies"] = r.drive_copies;
    j["disk_bytes"] = r.disk_bytes;
    j["disk_bytes_copied_early"] = r.disk_bytes_copied_early;
    j["disk_method"] = r.disk_reflink ? "reflink" : "copy";
  }
  return j;
}

}  // namespace

const std::vector<QmpCommand>& monitor_commands() {
  static const std::vector<QmpCommand> table = {
      {"qmp_capabilities", {"enable"}},
      {"query-commands", {}},
      {"query-version", {}},
      {"query-name", {}},
      {"query-status", {}},
      {"stop", {}},
      {"cont", {}},
      {"system_reset", {}},
      {"system_powerdown", {}},
      {"quit", {}},
      {"suspend", {"file"}},
      {"snapshot-save", {"file"}},
      {"query-snapshot", {}},
      {"query-restore", {}},
      {"replicate", {"to", "epoch", "heartbeat", "cold", "history", "early", "diff", "diff-after", "diff-words",
                     "diff-mib"}},
      {"query-replication", {}},
      {"ft", {"peer", "heartbeat", "unmatched", "period"}},
      {"query-ft", {}},
      {"query-memory-hash", {}},
      {"guest-profile", {"file", "start"}},
  };
  return table;
}

Result<std::unique_ptr<Monitor>> Monitor::create(const std::string& spec, board::Machine& m) {
  auto fd = listen_monitor_socket(spec, SOCK_NONBLOCK);
  if (!fd.ok()) return fd.error();
  return std::unique_ptr<Monitor>(new Monitor(m, *fd, *parse_monitor_spec(spec)));
}

Monitor::Monitor(board::Machine& m, int listen_fd, std::string path)
    : m_(&m), listen_fd_(listen_fd), path_(std::move(path)) {
  m_->add_io_source(listen_fd_, [this] { accept_client(); });
}

Monitor::~Monitor() {
  for (auto& c : clients_) {
    m_->remove_io_source(c.fd);
    ::close(c.fd);
  }
  m_->remove_io_source(listen_fd_);
  ::close(listen_fd_);
  ::unlink(path_.c_str());
}

void Monitor::attach(board::Machine& m) {
  m_ = &m;
  m_->add_io_source(listen_fd_, [this] { accept_client(); });
  for (auto& c : clients_) m_->add_io_source(c.fd, [this, fd = c.fd] { read_client(fd); });
  replication_ = nullptr;
  ft_ = nullptr;
  save_.reset();
  shutdown_reason_.clear();
  end_announced_ = false;
}

Result<int> Monitor::run() {
  const int hook = m_->add_slice_hook([this] { tick(); }, [this] { return tick_due(); });
  auto r = m_->run();
  m_->remove_slice_hook(hook);
  if (save_ && !save_->finished()) {
    // Its waiting client would otherwise only see the socket close.
    json d = progress_json();
    d["status"] = "failed";
    d["error"] = "the VM stopped (the guest powered off or reset, or quit) before the save finished; '" +
                 save_file_ + "' was not written";
    broadcast(qmp_event("SNAPSHOT_FAILED", d));
  }
  if (end_announced_) {
  } else if (m_->reset_requested()) {
    broadcast(qmp_event("RESET", {{"guest", true}, {"reason", "guest-reset"}}));
  } else {
    std::string reason = shutdown_reason_;
    if (reason.empty() && save_is_suspend_ && save_ && save_->finished() && save_->result().ok())
      reason = "host-qmp-suspend";
    if (reason.empty()) reason = "guest-shutdown";
    broadcast(qmp_event("SHUTDOWN", {{"guest", reason.rfind("guest", 0) == 0}, {"reason", reason}}));
  }
  return r;
}

void Monitor::accept_client() {
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  clients_.push_back({fd, {}});
  m_->add_io_source(fd, [this, fd] { read_client(fd); });
  send(fd, qmp_greeting());
}

void Monitor::close_client(int fd) {
  m_->remove_io_source(fd);
  ::close(fd);
  for (auto it = clients_.begin(); it != clients_.end(); ++it)
    if (it->fd == fd) {
      clients_.erase(it);
      return;
    }
}

void Monitor::read_client(int fd) {
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    close_client(fd);
    return;
  }
  if (n < 0) return;
  auto find = [this, fd]() -> Client* {
    for (auto& cl : clients_)
      if (cl.fd == fd) return &cl;
    return nullptr;
  };
  Client* c = find();
  if (!c) return;
  c->session.in.feed({buf, static_cast<size_t>(n)});
  if (c->session.in.pending() > (1 << 20)) {  // a request this long is not a command
    send(fd, qmp_error("GenericError", "request longer than 1 MiB"));
    close_client(fd);
    return;
  }
  while (auto reply = answer_next(c->session)) {
    send_line(fd, *reply);
    c = find();  // a command may have changed clients_ (none does today)
    if (!c) return;
  }
}

std::optional<std::string> Monitor::answer_next(QmpSession& session) {
  auto text = session.in.next();
  if (!text) return std::nullopt;
  return qmp_line(qmp_serve(*text, session, monitor_commands(),
                            [this](const std::string& cmd, const json& args) { return handle(cmd, args); }));
}

// {"file": PATH} writes the profile so far, {"start": true} starts a
// fresh one; both: writes, then starts again. Commands run with every
// hart stopped, as GuestProfile needs.
json Monitor::guest_profile(const json& args) {
  board::GuestProfile* p = m_->guest_profile();
  const bool has_file = args.contains("file");
  if (has_file && (!args["file"].is_string() || args["file"].get<std::string>().empty()))
    return qmp_error("GenericError", "guest-profile: 'file' must be a path");
  if (args.contains("start") && !args["start"].is_boolean())
    return qmp_error("GenericError", "guest-profile: 'start' must be true or false");
  const bool start = args.value("start", false);
  if (!has_file && !start)
    return qmp_error("GenericError", "guest-profile needs {\"file\": PATH} or {\"start\": true}");
  if (!p) return qmp_error("GenericError", "guest-profile: the machine is not running");
  json r = {{"instructions", p->instructions()}};
  if (has_file) {
    if (!p->on())
      return qmp_error("GenericError",
                       "guest-profile: no profile is being taken: start one with {\"start\": true} or --guest-profile");
    if (Status st = m_->write_guest_profile(args["file"]); !st.ok())
      return qmp_error("GenericError", st.error().message());
    r["file"] = args["file"];
  }
  if (start) p->start();
  return {{"return", r}};
}

json Monitor::handle(const std::string& cmd, const json& args) {
  board::Machine& m = *m_;
  const json ok = {{"return", json::object()}};
  if (cmd == "query-commands") return {{"return", qmp_command_list(monitor_commands())}};
  if (cmd == "query-version") return {{"return", qmp_version()}};
  if (cmd == "query-name") return {{"return", name_.empty() ? json::object() : json{{"name", name_}}}};
  if (cmd == "query-status")
    return {{"return", {{"status", m.paused() ? "paused" : "running"},
                        {"running", !m.paused()},
                        {"singlestep", false},
                        {"instructions", m.instret()}}}};
  if (cmd == "stop") {
    if (!m.paused()) {
      m.pause();
      broadcast(qmp_event("STOP"));
    }
    return ok;
  }
  if (cmd == "cont") {
    if (m.paused()) {
      m.resume();
      broadcast(qmp_event("RESUME"));
    }
    return ok;
  }
  if (cmd == "quit") {
    // Announced before the reply, as QEMU does.
    broadcast(qmp_event("SHUTDOWN", {{"guest", false}, {"reason", "host-qmp-quit"}}));
    end_announced_ = true;
    m.request_exit(0);
    return ok;
  }
  if (cmd == "system_reset") {
    // The machine is rebuilt as after a guest reboot (run_command.cc).
    broadcast(qmp_event("RESET", {{"guest", false}, {"reason", "host-qmp-system-reset"}}));
    end_announced_ = true;
    m.request_reset();
    return ok;
  }
  if (cmd == "system_powerdown") {
    // As QEMU's virt board without ACPI: the request is announced, but the
    // board has no power button the guest could watch (docs/architecture.md).
    broadcast(qmp_event("POWERDOWN"));
    return ok;
  }
  if (cmd == "guest-profile") return guest_profile(args);
  if (cmd == "query-snapshot") {
    if (!save_) return {{"return", {{"status", "none"}}}};
    return {{"return", progress_json()}};
  }
  if (cmd == "query-restore") {
    if (!restore_) return {{"return", {{"status", "none"}}}};
    return {{"return", restore_json()}};
  }
  if (cmd == "suspend" || cmd == "snapshot-save") {
    if (!args.contains("file") || !args["file"].is_string() || args["file"].get<std::string>().empty())
      return qmp_error("GenericError", cmd + " needs {\"file\": PATH}");
    if (save_ && !save_->finished()) return qmp_error("GenericError", "a snapshot is already being written");
    save_file_ = args["file"];
    // The save traces the guest itself: a recording restore's window
    // closes here, with what it saw so far.
    if (restore_) restore_->end_recording();
    // The VM ends with a suspend: a drive it writes privately (a
    // restore's default) must become a file the snapshot can name.
    if (cmd == "suspend")
      if (Status st = state::write_out_private_drives(m, save_file_); !st.ok())
        return qmp_error("GenericError", st.error().message());
    auto s = cmd == "suspend" ? state::LiveSave::start_suspend(m, save_file_)
                              : state::LiveSave::start_snapshot(m, save_file_);
    if (!s.ok()) return qmp_error("GenericError", s.error().message());
    save_ = std::move(s).value();
    save_is_suspend_ = cmd == "suspend";
    return ok;
  }
  if (cmd == "query-memory-hash") {
    // Guest RAM as the guest sees it (pages not loaded yet are loaded
    // first): tests compare it with a backup's committed memory.
    mem::GuestMemory& ram = m_->ram();
    for (size_t p = 0; p < ram.page_count(); p++)
      if (ram.is_absent(p))
        if (Status st = ram.load(p); !st.ok()) return qmp_error("GenericError", st.error().message());
    return {{"return", {{"xxh3", hex64(state::format::checksum(ram.host(), ram.size()))}}}};
  }
  if (cmd == "query-ft") {
    if (!ft_) return {{"return", {{"role", "none"}, {"state", "unprotected"}}}};
    return {{"return", to_json(ft_->status())}};
  }
  if (cmd == "ft") {
    if (!ft_) return qmp_error("GenericError", "this VM cannot be protected by a secondary");
    if (!args.contains("peer") || !args["peer"].is_string())
      return qmp_error("GenericError", "ft needs {\"peer\": \"HOST:PORT\"}");
    std::string spec = "peer=" + args["peer"].get<std::string>();
    for (const char* key : {"heartbeat", "unmatched", "period"}) {
      if (!args.contains(key)) continue;
      if (!args[key].is_number_unsigned())
        return qmp_error("GenericError", std::string("ft: '") + key + "' must be a number of milliseconds");
      spec += std::string(",") + key + "=" + std::to_string(args[key].get<uint64_t>());
    }
    if (Status st = ft_->start(spec); !st.ok()) return qmp_error("GenericError", st.error().message());
    return {{"return", json::object()}};
  }
  if (cmd == "query-replication") {
    if (!replication_) return {{"return", {{"role", "none"}, {"state", "unprotected"}}}};
    return {{"return", replication_->status_json()}};
  }
  if (cmd == "replicate") {
    if (!replication_) return qmp_error("GenericError", "this VM cannot be replicated");
    if (!args.contains("to") || !args["to"].is_string())
      return qmp_error("GenericError", "replicate needs {\"to\": \"HOST:PORT\"}");
    std::string spec = "to=" + args["to"].get<std::string>();
    for (const char* key : {"epoch", "heartbeat", "cold", "diff-after", "diff-words", "diff-mib"}) {
      if (!args.contains(key)) continue;
      if (!args[key].is_number_unsigned())
        return qmp_error("GenericError", std::string("replicate: '") + key + "' must be a whole number");
      spec += std::string(",") + key + "=" + std::to_string(args[key].get<uint64_t>());
    }
    for (const char* key : {"history", "early", "diff"}) {
      if (!args.contains(key)) continue;
      if (!args[key].is_boolean())
        return qmp_error("GenericError", std::string("replicate: '") + key + "' must be true or false");
      spec += std::string(",") + key + (args[key].get<bool>() ? "=on" : "=off");
    }
    if (Status st = replication_->start(spec); !st.ok()) return qmp_error("GenericError", st.error().message());
    return ok;
  }
  return qmp_error("CommandNotFound", "The command " + cmd + " has not been found");
}

// A lazy or working-set restore goes on loading after the guest started:
// "loading" until every stored page is in, then "resident".
json Monitor::restore_json() const {
  state::RestoreReport r = restore_->report();
  auto ms = [](double v) { return v < 0 ? json(nullptr) : json(v); };
  return {{"status", r.pages_not_loaded == 0 ? "resident" : "loading"},
          {"mode", state::restore_mode_name(r.mode)},
          {"first_instruction_ms", r.first_instruction_ms},
          {"working_set_ms", ms(r.working_set_ms)},
          {"resident_ms", ms(r.resident_ms)},
          {"pages_not_loaded", r.pages_not_loaded},
          {"active_pages", r.active_pages},
          {"pages_prefetched", r.pages_prefetched},
          {"pages_on_demand", r.pages_on_demand},
          {"pages_streamed", r.pages_streamed},
          {"blocks_offered", r.blocks_offered},
          {"blocks_adopted", m_->blocks_adopted()},
          {"record", {{"status", r.record_status},
                      {"pages", r.recorded_pages},
                      {"code_blocks", r.recorded_code_blocks},
                      {"error", r.record_error.empty() ? json(nullptr) : json(r.record_error)}}}};
}

json Monitor::progress_json() const {
  auto p = save_->progress();
  json j = {{"status", p.phase},           {"file", save_file_},
            {"round", p.round},            {"pages_done", p.pages_done},
            {"pages_total", p.pages_total}, {"elapsed_ms", p.elapsed_ms}};
  if (p.disk_bytes_total > 0) {
    j["disk_bytes_done"] = p.disk_bytes_done;
    j["disk_bytes_total"] = p.disk_bytes_total;
  }
  if (save_->finished() && save_->result().ok()) j["report"] = report_json(*save_->result());
  if (save_->finished() && !save_->result().ok()) j["error"] = save_->result().error().message();
  return j;
}

void Monitor::tick() {
  watch_restore_and_replication();
  if (!save_ || save_->finished()) return;
  bool done = save_->tick();
  auto p = save_->progress();
  if (!done && p.elapsed_ms - last_progress_ms_ >= 100) {
    last_progress_ms_ = p.elapsed_ms;
    broadcast(qmp_event("SNAPSHOT_PROGRESS", progress_json()));
  }
  if (done) broadcast(qmp_event(save_->result().ok() ? "SNAPSHOT_COMPLETED" : "SNAPSHOT_FAILED", progress_json()));
}

namespace {
double steady_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

// Whether tick() has work: it stops every hart (Machine::add_slice_hook).
bool Monitor::tick_due() const {
  if (save_ && !save_->finished()) return true;
  return !clients_.empty() && steady_ms() - last_watch_ms_ >= 50;
}

// A restore's memory all loaded, and replication changing state (protected,
// lost, ...), are looked at every 50 ms: status_json() is not free.
void Monitor::watch_restore_and_replication() {
  if (clients_.empty()) return;
  const double now = steady_ms();
  if (now - last_watch_ms_ < 50) return;
  last_watch_ms_ = now;
  if (restore_ && !restore_reported_ && restore_->report().pages_not_loaded == 0) {
    restore_reported_ = true;
    broadcast(qmp_event("RESTORE_COMPLETED", restore_json()));
  }
  if (replication_) {
    json st = replication_->status_json();
    std::string state = st.value("state", "");
    if (state != replication_state_) {
      bool first = replication_state_.empty();
      replication_state_ = state;
      if (!(first && state == "unprotected"))
        broadcast(qmp_event("REPLICATION_STATE", {{"role", st.value("role", "")},
                                                  {"state", state},
                                                  {"peer", st.value("peer", "")},
                                                  {"reason", st.value("reason", "")}}));
    }
  }
}

void Monitor::send(int fd, const json& msg) { send_line(fd, qmp_line(msg)); }

void Monitor::send_line(int fd, const std::string& line) {
  size_t off = 0;
  int waits = 0;
  while (off < line.size()) {
    // MSG_NOSIGNAL: a client gone (tandem snapshot exits after
    // SNAPSHOT_COMPLETED) must not kill tandem with SIGPIPE.
    ssize_t n = ::send(fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && ++waits < 100) {
      usleep(1000);  // a slow reader: wait briefly, never block the guest long
      continue;
    }
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Events go to the clients past negotiation only, as in QEMU.
void Monitor::broadcast(const json& event) {
  for (auto& c : clients_)
    if (c.session.negotiated) send(c.fd, event);
}

}  // namespace tandem::cli
