#include "cli/monitor.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "state/disk_snapshot.h"

namespace tandem::cli {

using nlohmann::json;

namespace {

json error_reply(const std::string& cls, const std::string& desc) {
  return {{"error", {{"class", cls}, {"desc", desc}}}};
}

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

// One reply line. A malformed request is echoed (its first 80 bytes),
// which need not be valid UTF-8: replace what is not (U+FFFD) rather than
// let dump() throw, which ended tandem and its guest.
std::string to_line(const json& msg) {
  return msg.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

Status check_monitor_spec(const std::string& spec) {
  if (spec.rfind("unix:", 0) != 0 || spec.size() <= 5)
    return Error("monitor '" + spec + "': expected unix:PATH");
  if (spec.size() - 5 >= sizeof(sockaddr_un{}.sun_path))
    return Error("monitor '" + spec + "': socket path too long");
  return Ok();
}

Result<int> listen_monitor_socket(const std::string& spec, int flags) {
  TANDEM_TRY(check_monitor_spec(spec));
  std::string path = spec.substr(5);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (fd < 0) return sys_error("monitor socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4) != 0) {
    auto e = sys_error("monitor " + spec);
    ::close(fd);
    return e;
  }
  return fd;
}

Result<std::unique_ptr<Monitor>> Monitor::create(const std::string& spec, board::Machine& m) {
  auto fd = listen_monitor_socket(spec, SOCK_NONBLOCK);
  if (!fd.ok()) return fd.error();
  return std::unique_ptr<Monitor>(new Monitor(m, *fd, spec.substr(5)));
}

Monitor::Monitor(board::Machine& m, int listen_fd, std::string path)
    : m_(m), listen_fd_(listen_fd), path_(std::move(path)) {
  m_.add_io_source(listen_fd_, [this] { accept_client(); });
}

Monitor::~Monitor() {
  for (auto& c : clients_) {
    m_.remove_io_source(c.fd);
    ::close(c.fd);
  }
  m_.remove_io_source(listen_fd_);
  ::close(listen_fd_);
  ::unlink(path_.c_str());
}

Result<int> Monitor::run() {
  const int hook = m_.add_slice_hook([this] { tick(); });
  auto r = m_.run();
  m_.remove_slice_hook(hook);
  if (save_ && !save_->finished()) {
    // Its waiting client would otherwise only see the socket close.
    json d = progress_json();
    d["status"] = "failed";
    d["error"] = "the VM stopped (the guest powered off or reset, or quit) before the save finished; '" +
                 save_file_ + "' was not written";
    broadcast({{"event", "SNAPSHOT_FAILED"}, {"data", d}});
  }
  return r;
}

void Monitor::accept_client() {
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  clients_.push_back({fd, {}});
  m_.add_io_source(fd, [this, fd] { read_client(fd); });
  send(fd, {{"tandem", {{"version", "0.1"}, {"capabilities", json::array({"suspend", "snapshot-save"})}}}});
}

void Monitor::close_client(int fd) {
  m_.remove_io_source(fd);
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
  Client* c = nullptr;
  for (auto& cl : clients_)
    if (cl.fd == fd) c = &cl;
  if (!c) return;
  c->in.append(buf, static_cast<size_t>(n));
  if (c->in.size() > (1 << 20)) {  // a line this long is not a command
    send(fd, error_reply("GenericError", "request longer than 1 MiB"));
    close_client(fd);
    return;
  }
  for (const std::string& reply : answer_lines(c->in)) send_line(fd, reply);
}

std::vector<std::string> Monitor::answer_lines(std::string& in) {
  std::vector<std::string> replies;
  size_t nl;
  while ((nl = in.find('\n')) != std::string::npos) {
    std::string line = in.substr(0, nl);
    in.erase(0, nl + 1);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    json reply = req.is_discarded() ? error_reply("GenericError", "malformed JSON: " + line.substr(0, 80))
                                    : handle(req);
    if (req.is_object() && req.contains("id")) reply["id"] = req["id"];
    replies.push_back(to_line(reply));
  }
  return replies;
}

json Monitor::handle(const json& req) {
  if (!req.is_object() || !req.contains("execute") || !req["execute"].is_string())
    return error_reply("GenericError", "expected {\"execute\": COMMAND, \"arguments\": {...}}");
  std::string cmd = req["execute"];
  json args = req.value("arguments", json::object());
  if (!args.is_object()) return error_reply("GenericError", "'arguments' must be an object");

  if (cmd == "query-status")
    return {{"return", {{"status", m_.paused() ? "paused" : "running"},
                        {"instructions", m_.hart().instret()}}}};
  if (cmd == "stop") {
    m_.pause();
    return {{"return", json::object()}};
  }
  if (cmd == "cont") {
    m_.resume();
    return {{"return", json::object()}};
  }
  if (cmd == "quit") {
    m_.request_exit(0);
    return {{"return", json::object()}};
  }
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
      return error_reply("GenericError", cmd + " needs {\"file\": PATH}");
    if (save_ && !save_->finished()) return error_reply("GenericError", "a snapshot is already being written");
    save_file_ = args["file"];
    // The save traces the guest itself: a recording restore's window
    // closes here, with what it saw so far.
    if (restore_) restore_->end_recording();
    // The VM ends with a suspend: a drive it writes privately (a
    // restore's default) must become a file the snapshot can name.
    if (cmd == "suspend")
      if (Status st = state::write_out_private_drives(m_, save_file_); !st.ok())
        return error_reply("GenericError", st.error().message());
    auto s = cmd == "suspend" ? state::LiveSave::start_suspend(m_, save_file_)
                              : state::LiveSave::start_snapshot(m_, save_file_);
    if (!s.ok()) return error_reply("GenericError", s.error().message());
    save_ = std::move(s).value();
    return {{"return", json::object()}};
  }
  if (cmd == "query-replication") {
    if (!replication_) return {{"return", {{"role", "none"}, {"state", "unprotected"}}}};
    return {{"return", replication_->status_json()}};
  }
  if (cmd == "replicate") {
    if (!replication_) return error_reply("GenericError", "this VM cannot be replicated");
    if (!args.contains("to") || !args["to"].is_string())
      return error_reply("GenericError", "replicate needs {\"to\": \"HOST:PORT\"}");
    std::string spec = "to=" + args["to"].get<std::string>();
    for (const char* key : {"epoch", "heartbeat", "cold"}) {
      if (!args.contains(key)) continue;
      if (!args[key].is_number_unsigned())
        return error_reply("GenericError", std::string("replicate: '") + key + "' must be a whole number");
      spec += std::string(",") + key + "=" + std::to_string(args[key].get<uint64_t>());
    }
    for (const char* key : {"history", "early"}) {
      if (!args.contains(key)) continue;
      if (!args[key].is_boolean())
        return error_reply("GenericError", std::string("replicate: '") + key + "' must be true or false");
      spec += std::string(",") + key + (args[key].get<bool>() ? "=on" : "=off");
    }
    for (const auto& [k, v] : args.items())
      if (k != "to" && k != "epoch" && k != "heartbeat" && k != "cold" && k != "history" && k != "early")
        return error_reply("GenericError", "replicate: unknown argument '" + k + "'");
    if (Status st = replication_->start(spec); !st.ok()) return error_reply("GenericError", st.error().message());
    return {{"return", json::object()}};
  }
  return error_reply("CommandNotFound", "unknown command '" + cmd + "'");
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
          {"blocks_adopted", m_.hart().blocks_adopted()},
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
  if (!save_ || save_->finished()) return;
  bool done = save_->tick();
  auto p = save_->progress();
  if (!done && p.elapsed_ms - last_progress_ms_ >= 100) {
    last_progress_ms_ = p.elapsed_ms;
    broadcast({{"event", "SNAPSHOT_PROGRESS"}, {"data", progress_json()}});
  }
  if (done) {
    if (save_->result().ok())
      broadcast({{"event", "SNAPSHOT_COMPLETED"}, {"data", progress_json()}});
    else
      broadcast({{"event", "SNAPSHOT_FAILED"}, {"data", progress_json()}});
  }
}

void Monitor::send(int fd, const json& msg) { send_line(fd, to_line(msg)); }

void Monitor::send_line(int fd, const std::string& line) {
  size_t off = 0;
  int waits = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && ++waits < 100) {
      usleep(1000);  // a slow reader: wait briefly, never block the guest long
      continue;
    }
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void Monitor::broadcast(const json& msg) {
  for (auto& c : clients_) send(c.fd, msg);
}

}  // namespace tandem::cli
