#include "replication/backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stop_token>
#include <thread>

#include "dev/block_backend.h"
#include "dev/virtio_blk.h"
#include "replication/drive_log.h"
#include "replication/page_diff.h"
#include "replication/primary.h"
#include "state/machine_snapshot.h"
#include "state/sections.h"
#include "state/snapshot_format.h"

namespace tandem::replication {

namespace {
using Clock = std::chrono::steady_clock;
}

std::vector<uint8_t> rarp_announce(const dev::MacAddress& mac) {
  std::vector<uint8_t> f(60, 0);  // the Ethernet minimum, zero-padded
  std::memset(f.data(), 0xff, 6);             // broadcast
  std::memcpy(f.data() + 6, mac.data(), 6);   // from the guest
  f[12] = 0x80, f[13] = 0x35;                 // ethertype RARP
  const uint8_t head[] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03};  // Ethernet/IPv4, reverse request
  std::memcpy(f.data() + 14, head, sizeof head);
  std::memcpy(f.data() + 22, mac.data(), 6);  // sender hardware address
  std::memcpy(f.data() + 32, mac.data(), 6);  // target hardware address
  return f;
}

Backup::~Backup() { close_drives(); }

void Backup::close_drives() {
  for (auto& d : drives_)
    if (d.fd >= 0) ::close(d.fd);
  drives_.clear();
  drive_chunks_.clear();
}

Status Backup::open_drives(const Hello& h) {
  close_drives();
  state::Snapshot probe;
  probe.config = h.config;
  std::vector<std::string> specs;
  for (const auto& [k, v] : h.config)
    if (k == "drive") specs.push_back(v);
  if (specs.size() != h.drive_sizes.size())
    return Error("hello: " + std::to_string(h.drive_sizes.size()) + " drive sizes for " +
                 std::to_string(specs.size()) + " drives");
  for (size_t i = 0; i < specs.size(); i++) {
    DriveCopy d;
    d.size = h.drive_sizes[i];
    if (d.size == 0) {
      // Read-only: the backup opens it at the same path when it takes over.
      auto o = dev::VirtioBlk::parse_spec(specs[i]);
      if (!o.ok()) return o.error().context("hello: drive " + std::to_string(i));
      if (::access(o->path.c_str(), R_OK) != 0)
        return sys_error("read-only drive " + std::to_string(i) + " '" + o->path + "' on the backup's host");
    } else {
      if (options_.drive_dir.empty())
        return Error("the primary has a writable drive (drive " + std::to_string(i) +
                     "): start the backup with --drive-dir DIR for its copy");
      d.path = options_.drive_dir + "/drive" + std::to_string(i) + ".img";
      d.fd = ::open(d.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (d.fd < 0) return sys_error("drive " + std::to_string(i) + "'s copy '" + d.path + "'");
      // The space is taken now, so that a commit cannot run out of it
      // half way.
      if (int e = posix_fallocate(d.fd, 0, static_cast<off_t>(d.size)); e != 0) {
        ::close(d.fd);
        return sys_error("reserve " + std::to_string(d.size >> 20) + " MiB for drive " + std::to_string(i) +
                             "'s copy '" + d.path + "'",
                         e);
      }
    }
    drive_chunks_.push_back(d.size ? (d.size + kChunkSize - 1) / kChunkSize : 0);
    drives_.push_back(std::move(d));
  }
  return Ok();
}

Status Backup::write_chunks(uint32_t drive, const std::vector<uint64_t>& chunks, const uint8_t* data) {
  const DriveCopy& d = drives_[drive];
  for (size_t i = 0; i < chunks.size(); i++) {
    const uint64_t off = chunks[i] * kChunkSize;
    const auto n = static_cast<size_t>(std::min(kChunkSize, d.size - off));
    Status st = dev::pwrite_full(d.fd, data + i * kChunkSize, n, off);
    if (!st.ok()) return st.error().context("drive " + std::to_string(drive) + "'s copy '" + d.path + "'");
  }
  return Ok();
}

Result<std::unique_ptr<Backup>> Backup::listen(const BackupOptions& o) {
  std::unique_ptr<Backup> b(new Backup(o));
  if (o.arbiter) {
    if (o.arbiter->name.empty() && o.listen.port == 0)
      return Error("backup: --arbiter needs name= when the backup listens on port 0");
    auto a = Arbiter::stand_by(*o.arbiter, pair_name(*o.arbiter, o.listen));
    if (!a.ok()) return a.error().context("backup");
    b->arbiter_ = std::move(a).value();
  }
  auto l = Listener::listen(o.listen);
  if (!l.ok()) return l.error().context("backup");
  b->listener_ = std::move(l).value();
  return b;
}

void Backup::log(const std::string& line) const {
  if (!options_.quiet) std::fprintf(stderr, "tandem backup: %s\n", line.c_str());
}

Result<std::unique_ptr<board::Machine>> Backup::serve() {
  log("listening on " + options_.listen.host + ":" + std::to_string(port()));
  for (;;) {
    auto c = listener_->accept(static_cast<int>(options_.heartbeat_ms));
    if (!c.ok()) return c.error().context("backup");
    if (stop_) return std::unique_ptr<board::Machine>();
    if (!*c) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      peer_ = "connected";
      last_heard_ = Clock::now();
    }
    std::string why;
    End end = serve_primary(**c, why);
    if (!broken_.empty())
      return Error("backup: a checkpoint could not be committed (" + broken_ +
                   "); the drive copy is half written, so this backup cannot take over");
    if (stop_) {
      log("stopped by request");
      return std::unique_ptr<board::Machine>();
    }
    if (end == End::kStopped) {
      log("the primary ended replication (" + why + "); nothing to take over");
      return std::unique_ptr<board::Machine>();
    }
    if (options_.lockstep && !(end == End::kLost && committed_)) {
      // The secondary's VM runs from what it was sent: with its primary
      // gone it cannot wait for another one.
      {
        std::lock_guard<std::mutex> lock(mu_);
        reason_ = why;
      }
      if (end == End::kRefused) return Error("secondary: refused the stream: " + why);
      log("the primary " + std::string(end == End::kLost ? "was lost before the first sync (" : "ended protection (") +
          why + ")");
      return std::unique_ptr<board::Machine>();
    }
    if (end == End::kLost) {
      if (committed_) {
        const Verdict v = arbiter_ ? ask_arbiter(why) : Verdict::kGoLive;
        if (options_.lockstep) {
          std::lock_guard<std::mutex> lock(mu_);
          reason_ = why;
          went_live_ = v == Verdict::kGoLive;
          state_ = went_live_ ? "took-over" : "stale";
          return std::unique_ptr<board::Machine>();
        }
        if (v == Verdict::kGoLive) return take_over(why);
        if (v == Verdict::kStopped) return std::unique_ptr<board::Machine>();
        // Stale for good: nothing may ever run from it.
        std::lock_guard<std::mutex> commit(commit_mu_);
        committed_.reset();
        why = "the primary ran on unprotected after it lost this backup";
      } else {
        log("the primary was lost before its first checkpoint was committed (" + why + "); waiting for a primary");
      }
    } else {
      log("refused the stream: " + why + "; the last committed checkpoint (" +
          (committed_ ? "epoch " + std::to_string(committed_epoch_) : std::string("none")) +
          ") is kept; waiting for a primary");
    }
    reset_staging();
    std::lock_guard<std::mutex> lock(mu_);
    state_ = "standby";
    reason_ = why;
  }
}

Backup::End Backup::serve_primary(Connection& c, std::string& why) {
  {
    std::lock_guard<std::mutex> lock(conn_mu_);
    conn_ = &c;
  }
  struct Forget {
    Backup* b;
    ~Forget() {
      std::lock_guard<std::mutex> lock(b->conn_mu_);
      b->conn_ = nullptr;
    }
  } forget{this};
  const auto limit = std::chrono::milliseconds(options_.heartbeat_ms * kMissedHeartbeats);
  // Heartbeats have a thread of their own: they say the backup is alive,
  // and a commit waiting on a reader of committed memory (a memory hash)
  // must not make the primary give up on it. They start after the ready message, which the primary waits
  // for first. A send that fails ends them; this loop's receive sees why.
  std::atomic<bool> greeted{false};
  std::mutex beat_mu;
  std::condition_variable_any beat_cv;
  std::jthread beat([&](std::stop_token stop) {
    std::unique_lock<std::mutex> lock(beat_mu);
    for (;;) {
      beat_cv.wait_for(lock, stop, std::chrono::milliseconds(options_.heartbeat_ms), [] { return false; });
      if (stop.stop_requested()) return;
      if (greeted && !c.send(MsgType::kHeartbeat, committed_epoch_.load()).ok()) return;
    }
  });
  for (;;) {
    auto msg = c.receive(static_cast<int>(options_.heartbeat_ms));
    const auto now = Clock::now();
    if (!msg.ok()) {
      why = msg.error().message();
      // A broken connection is a lost primary; bytes that do not make a
      // message are a damaged stream.
      if (c.damaged()) {
        // In the peer's version: one of another version can read it.
        (void)c.send(MsgType::kError, 0, encode_text(why), c.peer_version());
        return End::kRefused;
      }
      return End::kLost;
    }
    if (stop_) {
      why = "the backup was asked to stop";
      (void)c.send(MsgType::kError, 0, encode_text(why));
      return End::kRefused;
    }
    if (!*msg) {
      std::chrono::steady_clock::time_point heard;
      {
        std::lock_guard<std::mutex> lock(mu_);
        heard = last_heard_;
      }
      if (now - heard > limit) {
        why = "no message from the primary for " + std::to_string(limit.count()) + " ms";
        return End::kLost;
      }
    } else {
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_heard_ = now;
      }
      const Message& m = **msg;
      if (m.type == MsgType::kError) {
        why = decode_text(m.payload);
        return End::kStopped;
      }
      Status st = Ok();
      if (!greeted) {
        st = m.type == MsgType::kHello
                 ? on_hello(m)
                 : Status(Error(std::string("expected a hello message, got ") + msg_name(m.type)));
        if (st.ok()) st = c.send(MsgType::kReady, 0);
        greeted = st.ok();
      } else if (is_ft_message(m.type)) {
        st = options_.lockstep && options_.on_ft_message
                 ? options_.on_ft_message(Message(m))
                 : Status(Error(std::string("unexpected ") + msg_name(m.type) +
                                " message: this is a checkpointing backup"));
      } else {
        outbox_.clear();
        st = on_message(m);
        // A commit is acknowledged (and diff feedback follows); a reply
        // that cannot be sent is a lost primary, not a stream to refuse.
        for (const Message& reply : outbox_) {
          if (!st.ok()) break;
          if (Status sent = c.send(reply.type, reply.epoch, reply.payload); !sent.ok()) {
            if (ended_on_purpose(c, why)) return End::kStopped;
            why = "the connection to the primary broke (" + sent.error().message() + ")";
            return End::kLost;
          }
        }
      }
      if (!st.ok()) {
        why = st.error().message();
        (void)c.send(MsgType::kError, 0, encode_text(why));
        return End::kRefused;
      }
    }
  }
}

bool Backup::ended_on_purpose(Connection& c, std::string& why) {
  // What arrived before the connection broke, up to its error message if
  // it sent one (bounded: a broken connection answers at once).
  for (int i = 0; i < 4096; i++) {
    auto m = c.receive(0);
    if (!m.ok() || !*m) return false;
    if ((*m)->type == MsgType::kError) {
      why = decode_text((*m)->payload);
      return true;
    }
  }
  return false;
}

Status Backup::on_hello(const Message& m) {
  auto h = decode_hello(m.payload);
  if (!h.ok()) return h.error();
  TANDEM_TRY(check_arbiter(*h));
  const bool lockstep = h->mode == Hello::Mode::kLockstep;
  if (lockstep != options_.lockstep)
    return Error(lockstep ? "this is a checkpointing backup (tandem backup); the primary asked for a quasi-lockstep "
                            "secondary (tandem secondary)"
                          : "this is a quasi-lockstep secondary (tandem secondary); the primary asked for a "
                            "checkpointing backup (tandem backup)");
  if (lockstep && committed_)
    return Error("this secondary already runs a VM from another primary's state");
  if (h->sections_hash != state::section_kinds_hash())
    return Error("the primary's state sections differ from this build's (a different tandem version)");
  if (h->ram_size == 0 || h->ram_size % mem::kPageSize || h->ram_size > (64ull << 30))
    return Error("hello: RAM size " + std::to_string(h->ram_size) + " is not a whole number of pages up to 64 GiB");
  // Check now that a VM can be built from it, not at takeover.
  state::Snapshot probe;
  probe.config = h->config;
  auto config = state::config_from_snapshot(probe);
  if (!config.ok()) return config.error().context("hello");
  TANDEM_TRY(open_drives(*h));
  // A new primary (a re-protected VM) starts from scratch.
  auto ram = mem::GuestMemory::create(h->ram_base, h->ram_size);
  if (!ram.ok()) return ram.error();
  {
    std::lock_guard<std::mutex> commit(commit_mu_);
    ram_ = std::move(ram).value();
    committed_.reset();
  }
  committed_epoch_ = 0;
  reset_staging();
  staged_slot_ = ZeroedArray<uint32_t>(ram_->page_count());
  candidates_.reset();
  if (h->diff_after)
    candidates_ = std::make_unique<DiffCandidates>(ram_->page_count(), h->diff_after, h->diff_words);
  hello_ = std::move(h).value();
  std::lock_guard<std::mutex> lock(mu_);
  state_ = "syncing";
  diff_stats_ = DiffStats();
  diff_stats_.on = candidates_ != nullptr;
  return Ok();
}

void Backup::reset_staging() {
  staging_ = false;
  any_ended_ = false;
  held_ = 0;
  for (uint32_t p : staged_pages_) staged_slot_[p] = 0;
  staged_pages_.clear();
  staged_data_.clear();
  missing_.clear();
  staged_state_.reset();
  staged_chunks_.clear();
  staged_chunk_data_.clear();
}

std::optional<uint64_t> Backup::committed_memory_hash() const {
  std::lock_guard<std::mutex> lock(commit_mu_);
  if (!committed_) return std::nullopt;
  return state::format::checksum(ram_->host(), ram_->size());
}

uint8_t* Backup::newest(uint32_t page) {
  const uint32_t slot = staged_slot_[page];
  return slot ? staged_data_.data() + size_t{slot - 1} * mem::kPageSize : ram_->page_host(page);
}

uint8_t* Backup::stage(uint32_t page) {
  if (!committed_) {
    // Nothing committed yet, so nothing to keep intact: checkpoint 0 (the
    // whole memory) goes straight to where it will stay.
    ram_->mark_populated(page);
    return ram_->page_host(page);
  }
  if (!staged_slot_[page]) {
    staged_pages_.push_back(page);
    staged_slot_[page] = static_cast<uint32_t>(staged_pages_.size());
    staged_data_.resize(staged_pages_.size() * mem::kPageSize);
  }
  return newest(page);
}

Status Backup::on_pages(const Message& m, const std::string& where) {
  auto p = decode_pages(m.payload, ram_->page_count());
  if (!p.ok()) return p.error().context(where);
  std::vector<uint8_t> bytes;
  TANDEM_TRY(decode_pages_into(*p, bytes));
  staged_page_msgs_++;
  staged_page_count_ += p->pages.size();
  for (size_t i = 0; i < p->pages.size(); i++) {
    const uint32_t page = p->pages[i];
    const uint8_t* src = bytes.data() + i * mem::kPageSize;
    // How much it changed: the candidates' measure (not for checkpoint 0,
    // which has no version before it).
    if (candidates_ && committed_) candidates_->note(page, changed_words(newest(page), src));
    std::memcpy(stage(page), src, mem::kPageSize);
    missing_.erase(page);
  }
  return Ok();
}

Status Backup::on_diffs(const Message& m, const std::string& where) {
  if (!candidates_) return Error(where + ": the primary announced no diffs");
  auto d = decode_diffs(m.payload, ram_->page_count());
  if (!d.ok()) return d.error().context(where);
  staged_diff_msgs_++;
  staged_page_count_ += d->pages.size();
  std::vector<uint64_t> hashes(d->pages.size());
  for (size_t i = 0; i < d->pages.size(); i++) hashes[i] = page_hash(newest(d->pages[i]));
  if (bases_hash(hashes) != d->bases_hash) {
    // The primary built these on versions this backup does not hold: ask
    // for the pages whole, and hold this checkpoint until they come.
    missing_.insert(d->pages.begin(), d->pages.end());
    {
      std::lock_guard<std::mutex> lock(mu_);
      diff_stats_.refused += d->pages.size();
    }
    Feedback f;
    f.refused = d->pages;
    outbox_.push_back({MsgType::kFeedback, m.epoch, encode_feedback(f)});
    return Ok();
  }
  // Check every diff before any lands.
  std::vector<uint8_t> scratch(mem::kPageSize);
  for (size_t i = 0; i < d->pages.size(); i++) {
    auto st = apply_page_diff(d->diff(i), scratch.data());
    if (!st.ok()) return st.error().context(where + ", page " + std::to_string(d->pages[i]));
  }
  for (size_t i = 0; i < d->pages.size(); i++) {
    const uint32_t page = d->pages[i];
    const bool was_staged = staged_slot_[page] || !committed_;
    uint8_t* dst = stage(page);
    if (!was_staged) std::memcpy(dst, ram_->page_host(page), mem::kPageSize);
    auto changed = apply_page_diff(d->diff(i), dst);
    if (committed_) candidates_->note(page, *changed);
  }
  std::lock_guard<std::mutex> lock(mu_);
  diff_stats_.diff_pages += d->pages.size();
  diff_stats_.diff_bytes += d->diffs.size();
  return Ok();
}

Status Backup::on_end(const Message& m, const std::string& where) {
  auto e = decode_end(m.payload);
  if (!e.ok()) return e.error().context(where);
  if (e->pages != staged_page_count_ || e->page_messages != staged_page_msgs_ ||
      e->diff_messages != staged_diff_msgs_ || e->state_messages != staged_state_msgs_ || !staged_state_ ||
      e->disk_chunks != staged_disk_count_ || e->disk_messages != staged_disk_msgs_)
    return Error(where + ": the primary sent " + std::to_string(e->pages) + " pages in " +
                 std::to_string(e->page_messages) + " pages and " + std::to_string(e->diff_messages) +
                 " diffs messages and " + std::to_string(e->state_messages) + " state messages; " +
                 std::to_string(staged_page_count_) + ", " + std::to_string(staged_page_msgs_) + ", " +
                 std::to_string(staged_diff_msgs_) + " and " + std::to_string(staged_state_msgs_) +
                 " arrived (and " + std::to_string(e->disk_chunks) + " drive chunks sent, " +
                 std::to_string(staged_disk_count_) + " arrived)");
  staging_ = false;
  any_ended_ = true;
  last_ended_ = m.epoch;
  if (!missing_.empty()) {
    // Not committed: pages refused are still to come whole, in a later
    // checkpoint, which is committed with this one.
    if (++held_ > kMaxHeld)
      return Error(where + ": " + std::to_string(missing_.size()) +
                   " pages whose diffs were refused did not come whole in " + std::to_string(kMaxHeld) +
                   " checkpoints");
    std::lock_guard<std::mutex> lock(mu_);
    diff_stats_.held++;
    return Ok();
  }
  // The drives first: a write that fails leaves memory as it was, but
  // the drive copy half way, so the backup cannot take over any more.
  for (size_t i = 0; i < staged_chunks_.size(); i++) {
    Status st = write_chunks(staged_chunks_[i].drive, {staged_chunks_[i].chunk},
                             staged_chunk_data_.data() + i * kChunkSize);
    if (!st.ok()) {
      broken_ = st.error().message();
      return st;
    }
  }
  staged_chunks_.clear();
  staged_chunk_data_.clear();
  std::unique_lock<std::mutex> commit(commit_mu_);
  const bool first = !committed_;
  for (size_t i = 0; i < staged_pages_.size(); i++) {
    std::memcpy(ram_->page_host(staged_pages_[i]), staged_data_.data() + i * mem::kPageSize, mem::kPageSize);
    ram_->mark_populated(staged_pages_[i]);
    staged_slot_[staged_pages_[i]] = 0;
  }
  committed_ = std::move(staged_state_);
  staged_state_.reset();
  committed_epoch_ = m.epoch;
  if (options_.on_commit) {
    const std::vector<uint32_t> handed = first ? ram_->populated_pages() : staged_pages_;
    options_.on_commit(m.epoch, handed, *ram_, *committed_);
    // The secondary built its VM from the initial copy: keeping it would
    // double the RAM its host spends on the guest. The pages resyncs bring
    // stay, as the bases of the next resyncs' diffs.
    if (options_.lockstep && first) ram_->release_pages(handed);
  }
  staged_pages_.clear();
  staged_data_.clear();
  commit.unlock();
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = "standby";
    commits_ += held_ + 1;
    if (candidates_) diff_stats_.candidates = candidates_->count();
  }
  held_ = 0;
  outbox_.push_back({MsgType::kAck, m.epoch, {}});
  if (candidates_ && candidates_->changed())
    outbox_.push_back({MsgType::kFeedback, m.epoch, encode_feedback(candidates_->take_changes())});
  return Ok();
}

Status Backup::check_arbiter(const Hello& h) {
  if (!arbiter_) {
    if (h.arbiter_token.empty()) return Ok();
    return Error("the primary runs with an arbiter (pair '" + h.arbiter_pair +
                 "') and this backup without: start it with --arbiter, or it could go live beside the primary");
  }
  if (h.arbiter_token.empty())
    return Error("this backup runs with an arbiter (pair '" + arbiter_->pair() + "' at " + arbiter_->url() +
                 ") and the primary without: start it with --arbiter etcd=" + arbiter_->url() + ",name=" +
                 arbiter_->pair());
  if (h.arbiter_pair != arbiter_->pair())
    return Error("the primary's arbiter pair is '" + h.arbiter_pair + "', this backup's '" + arbiter_->pair() +
                 "': give both sides the same name=");
  auto token = arbiter_->standby_token();
  if (!token.ok()) return token.error();
  if (*token != h.arbiter_token)
    return Error("etcd at " + arbiter_->url() + " holds standby token '" + *token + "' for pair '" +
                 arbiter_->pair() + "', the primary sent '" + h.arbiter_token + "': do both sides use the same etcd?");
  token_ = h.arbiter_token;
  return Ok();
}

Backup::Verdict Backup::ask_arbiter(const std::string& why) {
  log("primary lost (" + why + "); asking the arbiter at " + arbiter_->url() + " for pair '" + arbiter_->pair() +
      "' before going live");
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = "asking-arbiter";
    reason_ = why;
  }
  const auto t0 = Clock::now();
  std::string said;  // the last thing logged while waiting, said once
  for (;;) {
    if (stop_) {
      log("stopped by request");
      return Verdict::kStopped;
    }
    std::string holder, line;
    auto r = arbiter_->take_over(token_, holder);
    if (r.ok() && *r == Arbiter::TakeOver::kTaken) {
      log("the arbiter gave pair '" + arbiter_->pair() + "' to this backup " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) +
          " ms after the primary was lost");
      return Verdict::kGoLive;
    }
    if (r.ok() && *r == Arbiter::TakeOver::kStale) {
      log("not going live: the primary (" + (holder.empty() ? std::string("gone now") : holder) +
          ") recorded in etcd that it ran on unprotected after it lost this backup, so checkpoint " +
          std::to_string(committed_epoch_) + " is stale; it is dropped, waiting for a primary");
      return Verdict::kStale;
    }
    line = r.ok() ? "pair '" + arbiter_->pair() + "' is still held by '" + holder +
                        "', whose lease has not run out: waiting for it to, or for the primary to record that it "
                        "runs on unprotected"
                  : r.error().message() + ": not going live until etcd answers";
    if (line != said) log(line);
    said = line;
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.heartbeat_ms));
  }
}

Status Backup::on_message(const Message& m) {
  const std::string where = std::string(msg_name(m.type)) + " message of checkpoint " + std::to_string(m.epoch);
  switch (m.type) {
    case MsgType::kHeartbeat:
      return Ok();
    case MsgType::kBegin: {
      const uint64_t expected = any_ended_ ? last_ended_ + 1 : 0;
      if (staging_) return Error(where + ": checkpoint " + std::to_string(staging_epoch_) + " has not ended");
      if (m.epoch != expected)
        return Error("checkpoint " + std::to_string(m.epoch) + " out of order: expected " + std::to_string(expected));
      staging_ = true;
      staging_epoch_ = m.epoch;
      // Pages, chunks and the state of a held checkpoint stay: this one
      // goes on top of them.
      staged_page_msgs_ = staged_diff_msgs_ = staged_state_msgs_ = 0;
      staged_page_count_ = 0;
      staged_disk_count_ = 0;
      staged_disk_msgs_ = 0;
      return Ok();
    }
    case MsgType::kPages:
    case MsgType::kDiffs:
    case MsgType::kDisk:
    case MsgType::kState:
    case MsgType::kEnd:
      if (!staging_ || m.epoch != staging_epoch_) return Error(where + ": no such checkpoint is being received");
      break;
    default:
      return Error(std::string("unexpected ") + msg_name(m.type) + " message from the primary");
  }
  switch (m.type) {
    case MsgType::kPages:
      return on_pages(m, where);
    case MsgType::kDiffs:
      return on_diffs(m, where);
    case MsgType::kDisk: {
      auto d = decode_disk(m.payload, drive_chunks_);
      if (!d.ok()) return d.error().context(where);
      std::vector<uint8_t> bytes;
      TANDEM_TRY(decode_disk_into(*d, bytes));
      staged_disk_msgs_++;
      staged_disk_count_ += d->chunks.size();
      if (!committed_) {
        // As for pages: checkpoint 0 goes straight to the copy.
        Status st = write_chunks(d->drive, d->chunks, bytes.data());
        if (!st.ok()) broken_ = st.error().message();
        return st;
      }
      for (uint64_t c : d->chunks) staged_chunks_.push_back({d->drive, c});
      staged_chunk_data_.insert(staged_chunk_data_.end(), bytes.begin(), bytes.end());
      return Ok();
    }
    case MsgType::kState: {
      auto s = decode_state(m.payload, ram_->base(), ram_->size());
      if (!s.ok()) return s.error().context(where);
      staged_state_ = std::move(s).value();
      staged_state_msgs_++;
      return Ok();
    }
    default:
      return on_end(m, where);
  }
}

Result<board::MachineConfig> Backup::vm_config(const state::Snapshot& s) const {
  auto config = state::config_from_snapshot(s);
  if (!config.ok()) return config.error();
  if (!options_.nets.empty()) {
    if (options_.nets.size() != config->nets.size())
      return Error("this host was given " + std::to_string(options_.nets.size()) + " --net options, the VM has " +
                   std::to_string(config->nets.size()) + " NICs");
    config->nets = options_.nets;
  }
  config->monitor.clear();
  for (size_t i = 0; i < drives_.size() && i < config->drives.size(); i++) {
    if (drives_[i].fd < 0) continue;
    auto o = dev::VirtioBlk::parse_spec(config->drives[i]);
    if (!o.ok()) return o.error().context("drive " + std::to_string(i));
    o->path = drives_[i].path;
    config->drives[i] = dev::VirtioBlk::format_spec(*o);
  }
  return config;
}

Result<std::unique_ptr<board::Machine>> Backup::take_over(const std::string& why) {
  const auto t0 = Clock::now();
  log("primary lost (" + why + "); taking over from checkpoint " + std::to_string(committed_epoch_));
  auto config = vm_config(*committed_);
  if (!config.ok()) return config.error().context("takeover");
  close_drives();
  auto m = board::Machine::create_empty(*config);
  if (!m.ok()) return m.error().context("takeover");
  mem::GuestMemory& ram = (*m)->ram();
  for (uint32_t p : ram_->populated_pages()) {
    std::memcpy(ram.page_host(p), ram_->page_host(p), mem::kPageSize);
    ram.mark_populated(p);
  }
  TANDEM_TRY(state::apply_machine(*committed_, **m));
  for (size_t i = 0; i < (*m)->nic_count(); i++) {
    auto f = rarp_announce((*m)->nic_mac(i));
    (*m)->send_host_frame(i, f.data(), f.size());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = "took-over";
    reason_ = why;
  }
  log("took over in " +
      std::to_string(std::chrono::duration<double, std::milli>(Clock::now() - t0).count()).substr(0, 6) + " ms");
  return std::move(m).value();
}

std::string Backup::lost_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

Status Backup::send_to_primary(MsgType type, uint64_t epoch, std::span<const uint8_t> payload) {
  std::lock_guard<std::mutex> lock(conn_mu_);
  if (!conn_) return Error("no primary is connected");
  return conn_->send(type, epoch, payload);
}

ReplicationStatus Backup::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  ReplicationStatus s;
  s.role = "backup";
  s.state = state_;
  s.peer = peer_;
  s.reason = reason_;
  s.epoch = committed_epoch_;
  s.committed = commits_;
  s.diff = diff_stats_;
  s.last_heartbeat_ms_ago = std::chrono::duration<double, std::milli>(Clock::now() - last_heard_).count();
  if (arbiter_) s.arbiter = arbiter_->status();
  return s;
}

}  // namespace tandem::replication
