#include "replication/primary.h"

#include <sys/eventfd.h>
#include <time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdio>
#include <bit>
#include <cstring>

#include "base/key_values.h"
#include "dev/virtio_blk.h"
#include "state/machine_snapshot.h"
#include "state/sections.h"

namespace tandem::replication {

namespace {
using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   Clock::now().time_since_epoch()).count());
}
// A timer wake-up may come this much before the due time.
constexpr auto kTimerSlack = std::chrono::microseconds(200);
// Checkpoints taken and not yet sent: the stun waits (the epoch grows)
// rather than queue more, so a slow link cannot eat the host's memory.
constexpr size_t kMaxQueued = 2;
// The initial copy ends in checkpoint 0's stun once a round leaves at most
// this many pages written (4 MiB), or after this many rounds.
constexpr size_t kSyncStopPages = 1024;
constexpr unsigned kMaxSyncRounds = 8;
// An early epoch end comes at least this long after the last stun.
constexpr auto kMinEarlyGap = std::chrono::microseconds(1000);
// Fewer cold pages than this are copied in the stun with the rest.
constexpr size_t kMinDeferred = 16;

Result<unsigned> parse_ms(const std::string& key, const std::string& v, unsigned lo, unsigned hi) {
  char* end = nullptr;
  unsigned long n = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end || n < lo || n > hi)
    return Error(key + "=" + v + ": expected milliseconds from " + std::to_string(lo) + " to " +
                 std::to_string(hi));
  return static_cast<unsigned>(n);
}

Result<unsigned> parse_count(const std::string& key, const std::string& v, unsigned lo, unsigned hi, const char* unit) {
  char* end = nullptr;
  unsigned long n = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end || n < lo || n > hi)
    return Error(key + "=" + v + ": expected " + unit + " from " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<unsigned>(n);
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
}  // namespace

Result<ReplicateOptions> parse_replicate_spec(const std::string& spec) {
  ReplicateOptions o;
  bool have_to = false;
  auto parts = split_key_values(spec);
  if (!parts.ok()) return parts.error().context("replicate '" + spec + "'");
  for (const auto& [key, value] : *parts) {
    if (key == "to") {
      auto hp = parse_host_port(value);
      if (!hp.ok()) return hp.error().context("replicate to");
      o.to = *hp;
      have_to = true;
    } else if (key == "epoch") {
      auto v = parse_ms(key, value, 1, 10000);
      if (!v.ok()) return v.error().context("replicate");
      o.epoch_ms = *v;
    } else if (key == "history") {
      if (value != "on" && value != "off") return Error("replicate: history must be on or off, not '" + value + "'");
      o.history = value == "on";
    } else if (key == "cold") {
      auto v = parse_ms(key, value, 1, 16);
      if (!v.ok()) return Error("replicate: cold=" + value + ": expected epochs from 1 to 16");
      o.cold_epochs = *v;
    } else if (key == "diff") {
      if (value != "on" && value != "off") return Error("replicate: diff must be on or off, not '" + value + "'");
      o.diff = value == "on";
    } else if (key == "diff-after") {
      auto v = parse_count(key, value, 1, 31, "checkpoints");
      if (!v.ok()) return v.error().context("replicate");
      o.diff_after = *v;
    } else if (key == "diff-words") {
      auto v = parse_count(key, value, 1, 511, "words");
      if (!v.ok()) return v.error().context("replicate");
      o.diff_words = *v;
    } else if (key == "diff-mib") {
      auto v = parse_count(key, value, 1, 65536, "MiB");
      if (!v.ok()) return v.error().context("replicate");
      o.diff_mib = *v;
    } else if (key == "early") {
      if (value != "on" && value != "off") return Error("replicate: early must be on or off, not '" + value + "'");
      o.early = value == "on";
    } else if (key == "heartbeat") {
      auto v = parse_ms(key, value, 10, 60000);
      if (!v.ok()) return v.error().context("replicate");
      o.heartbeat_ms = *v;
    } else {
      return Error("replicate '" + spec + "': unknown option '" + key +
                   "' (to, epoch, heartbeat, history, cold, early, diff, diff-after, diff-words, diff-mib)");
    }
  }
  if (!have_to) return Error("replicate '" + spec + "': to=HOST:PORT is required");
  return o;
}

Result<std::unique_ptr<Primary>> Primary::start(board::Machine& m, const ReplicateOptions& o, Arbiter* arbiter) {
  Hello h;
  for (size_t slot = 0; slot < m.virtio_count(); slot++) {
    auto* blk = dynamic_cast<dev::VirtioBlk*>(&m.virtio_device(slot));
    if (!blk) continue;
    if (!blk->read_only() && blk->backend().whole_file_fd() < 0)
      return Error("replication: drive " + std::to_string(h.drive_sizes.size()) +
                   " runs on a copy-on-write overlay ('" + blk->backend().describe() +
                   "'), which replication cannot read beside the guest; restore with "
                   "--drive-in-place or on a file system with reflinks");
    h.drive_sizes.push_back(blk->read_only() ? 0 : blk->backend().size());
  }
  h.sections_hash = state::section_kinds_hash();
  h.ram_base = m.ram().base();
  h.ram_size = m.ram().size();
  h.config = state::capture_machine(m).config;
  if (o.lockstep) h.mode = Hello::Mode::kLockstep;
  if (o.diff) {
    h.diff_after = o.diff_after;
    h.diff_words = o.diff_words;
  }
  if (arbiter) {
    auto token = arbiter->protect();
    if (!token.ok()) return token.error().context("replication");
    h.arbiter_pair = arbiter->pair();
    h.arbiter_token = *token;
  }
  auto conn = handshake(o, h);
  if (!conn.ok()) {
    if (arbiter) (void)arbiter->unprotect_now();  // best effort: no backup holds the token
    return conn.error();
  }
  return std::unique_ptr<Primary>(new Primary(m, o, std::move(conn).value(), arbiter));
}

Result<std::unique_ptr<Connection>> Primary::handshake(const ReplicateOptions& o, const Hello& h) {
  auto conn = Connection::connect(o.to);
  if (!conn.ok()) return conn.error().context("replication: cannot reach the backup");
  TANDEM_TRY((*conn)->send(MsgType::kHello, 0, encode_hello(h)));
  auto reply = (*conn)->receive(10000);
  if (!reply.ok()) return reply.error().context("replication: waiting for the backup's reply");
  if (!*reply) return Error("replication: the backup at " + o.to.text() + " did not answer within 10 s");
  if ((*reply)->type == MsgType::kError)
    return Error("replication: the backup refused: " + decode_text((*reply)->payload));
  if ((*reply)->type != MsgType::kReady)
    return Error(std::string("replication: unexpected ") + msg_name((*reply)->type) + " message from the backup");
  return conn;
}

Primary::Primary(board::Machine& m, const ReplicateOptions& o, std::unique_ptr<Connection> c, Arbiter* arbiter)
    : m_(m), options_(o), conn_(std::move(c)), arbiter_(arbiter) {
  started_ = Clock::now();
  epoch_ = std::chrono::milliseconds(options_.epoch_ms);
  next_due_ = started_ + epoch_;
  last_heard_ns_ = now_ns();
  // From here every write goes to checkpoint 0 or a later one.
  log_ = m_.ram().open_dirty_log("replication");
  std::vector<uint32_t> initial = m_.ram().populated_pages();
  drives_ = log_writable_drives(m_);
  pending_chunks_.resize(drives_.size());
  if (options_.diff) diff_ = std::make_unique<DiffSender>(m_.ram().page_count(), uint64_t{options_.diff_mib} << 20);
  if (options_.history)
    cow_ = m_.ram().add_write_hook("replication", [this](size_t page) {
      if (deferred_) deferred_->on_write(page);
    });
  m_.set_output_epoch(0);
  if (!options_.lockstep) m_.hold_output(true);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  itimerspec its{};
  its.it_interval.tv_sec = options_.epoch_ms / 1000;
  its.it_interval.tv_nsec = static_cast<long>(options_.epoch_ms % 1000) * 1000000;
  its.it_value = its.it_interval;
  if (!options_.lockstep) timerfd_settime(timer_fd_, 0, &its, nullptr);
  auto drain_and_tick = [this](int fd) {
    uint64_t v;
    while (::read(fd, &v, sizeof v) > 0) {
    }
    tick();
  };
  m_.add_io_source(wake_fd_, [=, this] { drain_and_tick(wake_fd_); });
  m_.add_io_source(timer_fd_, [=, this] { drain_and_tick(timer_fd_); });
  // Checkpoint 0 starts with every populated page, read while the guest
  // runs; tick() hands the sender the pages written meanwhile, round after
  // round, before the stun that ends it.
  Checkpoint first;
  first.live = true;
  first.pages = std::move(initial);
  for (const auto& d : drives_) first.disks.push_back({d->index(), d->data_chunks(), {}});
  queue_.push_back(std::move(first));
  sender_ = Thread([this] {
    if (Status st = conn_->send(MsgType::kBegin, 0); !st.ok()) {
      lose_backup(st.error().message());
      return;
    }
    send_loop();
  });
  receiver_ = Thread([this] { receive_loop(); });
}

Primary::~Primary() {
  if (!stopped_) stop("");
}

void Primary::stop(const std::string& why) {
  if (stopped_.exchange(true)) return;
  bool backup_there;
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
    backup_there = lost_.empty();
  }
  cv_.notify_all();
  // With an arbiter, the backup's token goes first: then it cannot go
  // live even if the error below never reaches it. Not done: the output
  // it has not got stays held, and the arbiter's thread retries.
  if (arbiter_ && !arbiter_->protection_ended() && !arbiter_->fenced()) {
    if (Status st = arbiter_->unprotect_now(); !st.ok()) {
      std::fprintf(stderr, "tandem: replication: %s; output the backup has not acknowledged stays held until "
                   "etcd records the end of protection\n", st.error().message().c_str());
      arbiter_->unprotect();
    }
  }
  // The backup must not take over from a primary that ends on purpose.
  if (backup_there)
    (void)conn_->send(MsgType::kError, epoch_number_,
                      encode_text(why.empty() ? "the primary stopped replicating" : why));
  conn_->shutdown();
  sender_.join();
  receiver_.join();
  m_.remove_io_source(wake_fd_);
  m_.remove_io_source(timer_fd_);
  ::close(wake_fd_);
  ::close(timer_fd_);
  // Releases what is held: nobody is left to wait for. With an arbiter
  // the run loop does, once and while the arbiter allows it.
  if (!arbiter_) m_.hold_output(false);
  log_.reset();
  deferred_.reset();
  cow_.reset();  // pages it still protects need no copy any more
  reason_ = why;
  if (!why.empty()) std::fprintf(stderr, "tandem: replication: %s; the VM runs on unprotected\n", why.c_str());
}

void Primary::lose_backup(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lost_.empty() || quit_) return;
    lost_ = why;
  }
  cv_.notify_all();
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void Primary::tick() {
  if (stopped_) return;
  std::string lost;
  bool round_sent;
  size_t queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lost = lost_;
    round_sent = round_sent_;
    round_sent_ = false;
    queued = queue_.size();
  }
  const bool may_release = !arbiter_ || arbiter_->may_release();
  if (!lost.empty()) {
    if (arbiter_ && !arbiter_->fenced() && !arbiter_->protection_ended()) {
      // The backup may still go live from its last commit: what it has
      // not got waits until etcd says it cannot any more.
      if (!unprotecting_) {
        unprotecting_ = true;
        arbiter_->unprotect();
        std::fprintf(stderr, "tandem: replication: backup lost (%s); output it has not acknowledged is held until "
                     "the arbiter at %s records that the VM runs on unprotected\n", lost.c_str(),
                     arbiter_->url().c_str());
      }
      if (any_acked_ && may_release) m_.release_output(acked_);
      return;
    }
    stop("backup lost: " + lost);
    return;
  }
  if (arbiter_ && arbiter_->fenced()) {
    stop("the arbiter gave pair '" + arbiter_->pair() + "' to another side");
    return;
  }
  if (any_acked_ && may_release) m_.release_output(acked_);
  if (!synced_) {
    if (!round_sent) return;
    // The initial copy's last round is sent: the pages written meanwhile
    // are the next round, or, once few, checkpoint 0's stun.
    std::vector<uint32_t> pages = log_->end_epoch();
    Checkpoint round;
    round.live = true;
    (void)take_disks(round, /*read=*/false);
    size_t chunks = 0;
    for (const auto& d : round.disks) chunks += d.chunks.size();
    if (pages.size() + chunks <= kSyncStopPages || ++sync_rounds_ >= kMaxSyncRounds) {
      // The chunks taken go into the stun's checkpoint, read there.
      for (size_t i = 0; i < drives_.size(); i++) pending_chunks_[i] = std::move(round.disks[i].chunks);
      const auto t0 = Clock::now();
      take_checkpoint(std::move(pages), t0);
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.first_stun_ms = ms_between(t0, Clock::now());
        stats_.sync_rounds = sync_rounds_ + 1;
      }
      synced_ = true;
      next_due_ = Clock::now() + epoch_;
      return;
    }
    round.pages = std::move(pages);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(round));
    }
    cv_.notify_all();
    return;
  }
  if (options_.lockstep) return;
  // Epochs end on a fixed cadence (the timerfd's), not epoch_ms after the
  // last stun: an idle guest's loop wakes only at the timer, and a stun
  // that came a little late would otherwise miss the next tick.
  const auto now = Clock::now();
  if (queued >= kMaxQueued) return;
  if (now + kTimerSlack >= next_due_) {
    take_checkpoint(log_->end_epoch(), now);
    next_due_ += epoch_;
    if (next_due_ < now) next_due_ = now + epoch_;
  } else if (options_.early && m_.idle_now() && m_.output_in_epoch() && now - last_stun_ >= kMinEarlyGap) {
    take_checkpoint(log_->end_epoch(), now);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.early++;
  }
}

bool Primary::tick_due() const {
  return !stopped_ && !unprotecting_ && synced_ && !options_.lockstep && Clock::now() + kTimerSlack >= next_due_;
}

uint64_t Primary::request_checkpoint(const std::vector<uint32_t>& extra_pages,
                                     const std::vector<DriveChunks>& extra_chunks) {
  std::vector<uint32_t> pages = log_->end_epoch();
  if (!extra_pages.empty()) {
    std::vector<uint32_t> all;
    std::set_union(pages.begin(), pages.end(), extra_pages.begin(), extra_pages.end(), std::back_inserter(all));
    pages = std::move(all);
  }
  // take_disks() merges pending chunks with the drives' own.
  for (const DriveChunks& x : extra_chunks)
    for (size_t i = 0; i < drives_.size(); i++) {
      if (drives_[i]->index() != x.drive) continue;
      std::vector<uint64_t> all;
      std::set_union(pending_chunks_[i].begin(), pending_chunks_[i].end(), x.chunks.begin(), x.chunks.end(),
                     std::back_inserter(all));
      pending_chunks_[i] = std::move(all);
    }
  const uint64_t epoch = epoch_number_;
  take_checkpoint(std::move(pages), Clock::now());
  return epoch;
}

std::vector<uint64_t> Primary::drive_chunk_counts() const {
  std::vector<uint64_t> counts;
  for (const auto& d : drives_) {
    if (counts.size() <= d->index()) counts.resize(d->index() + 1, 0);
    counts[d->index()] = d->chunk_count();
  }
  return counts;
}

bool Primary::peer_lost() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !lost_.empty();
}

Status Primary::send_to_peer(MsgType type, uint64_t epoch, std::span<const uint8_t> payload) {
  Status st = conn_->send(type, epoch, payload);
  if (!st.ok()) lose_backup(st.error().message());
  return st;
}

// The stun: the guest does not run until this returns.
void Primary::take_checkpoint(std::vector<uint32_t> pages, Clock::time_point t0) {
  Checkpoint c;
  c.epoch = epoch_number_;
  c.pages = std::move(pages);
  if (diff_) {
    // Pages whose diffs the backup refused: copied now, sent whole.
    std::vector<uint32_t> refused = diff_->refused_pages();
    if (!refused.empty()) {
      std::vector<uint32_t> all;
      std::set_union(c.pages.begin(), c.pages.end(), refused.begin(), refused.end(), std::back_inserter(all));
      c.pages = std::move(all);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spare_.empty()) {
      c.data = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  // Rarely written pages are protected rather than copied (one stun's at
  // a time; not worth it for a handful).
  if (cow_ && synced_ && !deferred_busy_) {
    std::vector<uint32_t> hot, cold;
    for (uint32_t p : c.pages)
      (static_cast<unsigned>(std::popcount(log_->history(p))) <= options_.cold_epochs ? cold : hot).push_back(p);
    if (cold.size() >= kMinDeferred) {
      c.pages = std::move(hot);
      deferred_ = std::make_shared<DeferredCopy>(m_.ram(), *cow_, std::move(cold));
      cow_->protect(deferred_->pages());
      deferred_busy_ = true;
      c.deferred = deferred_;
    }
  }
  uint8_t* data = c.data.reserve(c.pages.size() * mem::kPageSize);
  for (size_t i = 0; i < c.pages.size(); i++)
    std::memcpy(data + i * mem::kPageSize, m_.ram().page_host(c.pages[i]), mem::kPageSize);
  if (Status st = take_disks(c, /*read=*/true); !st.ok()) {
    lose_backup("cannot read the checkpoint's disk writes: " + st.error().message());
    return;
  }
  c.snap = state::capture_machine(m_);
  c.stun_at = t0;
  m_.set_output_epoch(++epoch_number_);
  const auto t1 = Clock::now();
  last_stun_ = t1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.checkpoints++;
    stats_.stun_ms.add(ms_between(t0, t1));
    const size_t deferred = c.deferred ? c.deferred->pages().size() : 0;
    stats_.dirty_pages.add(static_cast<double>(c.pages.size() + deferred));
    stats_.deferred_pages.add(static_cast<double>(deferred));
    stun_times_.push_back({c.epoch, t0});
    if (stun_times_.size() > 64) stun_times_.pop_front();
    queue_.push_back(std::move(c));
  }
  cv_.notify_all();
}

Status Primary::send_whole(uint64_t epoch, std::span<const uint32_t> pages, const uint8_t* data, uint64_t& msgs) {
  for (size_t i = 0; i < pages.size(); i += kPagesPerMessage) {
    const size_t n = std::min<size_t>(kPagesPerMessage, pages.size() - i);
    encoder_.encode(data + i * mem::kPageSize, n, block_);
    TANDEM_TRY(conn_->send(MsgType::kPages, epoch, encode_pages(pages.subspan(i, n), block_)));
    msgs++;
  }
  return Ok();
}

// `pages` ascending. With diffs, each candidate page goes into a diffs
// message when its diff is small; the rest go in pages messages, straight
// from `data` where a run of kPagesPerMessage went whole, else gathered.
Status Primary::send_pages(uint64_t epoch, std::span<const uint32_t> pages, const uint8_t* data, uint64_t& msgs,
                           uint64_t& diff_msgs) {
  if (!diff_) return send_whole(epoch, pages, data, msgs);
  uint8_t* gathered = gather_.reserve(size_t{kPagesPerMessage} * mem::kPageSize);
  gather_pages_.clear();
  std::vector<uint8_t> whole(kPagesPerMessage);
  for (size_t i = 0; i < pages.size(); i += kPagesPerMessage) {
    const size_t n = std::min<size_t>(kPagesPerMessage, pages.size() - i);
    size_t wholes = 0;
    for (size_t k = 0; k < n; k++) {
      whole[k] = !diff_->add(pages[i + k], data + (i + k) * mem::kPageSize);
      wholes += whole[k];
      if (diff_->batched() == kDiffsPerMessage) {
        TANDEM_TRY(conn_->send(MsgType::kDiffs, epoch, diff_->take_batch(encoder_)));
        diff_msgs++;
      }
    }
    if (wholes == kPagesPerMessage && gather_pages_.empty()) {
      TANDEM_TRY(send_whole(epoch, pages.subspan(i, n), data + i * mem::kPageSize, msgs));
      continue;
    }
    for (size_t k = 0; k < n; k++) {
      if (!whole[k]) continue;
      std::memcpy(gathered + gather_pages_.size() * mem::kPageSize, data + (i + k) * mem::kPageSize, mem::kPageSize);
      gather_pages_.push_back(pages[i + k]);
      if (gather_pages_.size() == kPagesPerMessage) {
        TANDEM_TRY(send_whole(epoch, gather_pages_, gathered, msgs));
        gather_pages_.clear();
      }
    }
  }
  if (!gather_pages_.empty()) TANDEM_TRY(send_whole(epoch, gather_pages_, gathered, msgs));
  if (diff_->batched()) {
    TANDEM_TRY(conn_->send(MsgType::kDiffs, epoch, diff_->take_batch(encoder_)));
    diff_msgs++;
  }
  return Ok();
}

Status Primary::take_disks(Checkpoint& c, bool read) {
  c.disks.clear();
  for (size_t i = 0; i < drives_.size(); i++) {
    Checkpoint::DiskPart d;
    d.drive = drives_[i]->index();
    d.chunks = drives_[i]->take();
    if (!pending_chunks_[i].empty()) {
      // Taken by the last sync round: merge, each chunk once, ascending.
      std::vector<uint64_t> all;
      std::set_union(pending_chunks_[i].begin(), pending_chunks_[i].end(), d.chunks.begin(), d.chunks.end(),
                     std::back_inserter(all));
      d.chunks = std::move(all);
      pending_chunks_[i].clear();
    }
    if (read && !d.chunks.empty())
      TANDEM_TRY(drives_[i]->read(d.chunks, d.data.reserve(d.chunks.size() * kChunkSize)));
    c.disks.push_back(std::move(d));
  }
  return Ok();
}

Status Primary::send_disk(uint64_t epoch, const Checkpoint::DiskPart& d, const uint8_t* data, uint64_t& msgs,
                          uint64_t& chunks) {
  for (size_t i = 0; i < d.chunks.size(); i += kPagesPerMessage) {
    const size_t n = std::min<size_t>(kPagesPerMessage, d.chunks.size() - i);
    encoder_.encode(data + i * kChunkSize, n, block_);
    TANDEM_TRY(conn_->send(MsgType::kDisk, epoch, encode_disk(d.drive, std::span(d.chunks).subspan(i, n), block_)));
    msgs++;
    chunks += n;
  }
  return Ok();
}

// A round of the initial copy: pages and drive chunks read while the guest
// runs (one written meanwhile is dirty and goes again later in checkpoint
// 0, so its last copy wins).
Status Primary::send_live(const Checkpoint& c) {
  const std::vector<uint32_t>& pages = c.pages;
  for (size_t k = 0; k < c.disks.size(); k++) {
    const Checkpoint::DiskPart& d = c.disks[k];
    std::vector<uint8_t> buf(size_t{kPagesPerMessage} * kChunkSize);
    for (size_t i = 0; i < d.chunks.size(); i += kPagesPerMessage) {
      Checkpoint::DiskPart part{d.drive, {}, {}};
      part.chunks.assign(d.chunks.begin() + static_cast<long>(i),
                         d.chunks.begin() + static_cast<long>(std::min(d.chunks.size(), i + kPagesPerMessage)));
      TANDEM_TRY(drives_[k]->read(part.chunks, buf.data()));
      TANDEM_TRY(send_disk(0, part, buf.data(), sync_disk_msgs_, sync_disk_chunks_));
    }
  }
  std::vector<uint8_t> buf(size_t{kPagesPerMessage} * mem::kPageSize);
  for (size_t i = 0; i < pages.size(); i += kPagesPerMessage) {
    const size_t n = std::min<size_t>(kPagesPerMessage, pages.size() - i);
    for (size_t k = 0; k < n; k++) {
      TANDEM_TRY(m_.ram().load(pages[i + k]));
      std::memcpy(buf.data() + k * mem::kPageSize, m_.ram().page_host(pages[i + k]), mem::kPageSize);
    }
    TANDEM_TRY(send_whole(0, std::span(pages.data() + i, n), buf.data(), sync_msgs_));
  }
  sync_pages_ += pages.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.initial_pages = sync_pages_;
    round_sent_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  return Ok();
}

Status Primary::send_checkpoint(const Checkpoint& c) {
  if (c.live) return send_live(c);
  const auto t0 = Clock::now();
  const double cpu0 = thread_cpu_ms();
  const uint64_t bytes0 = conn_->bytes_sent();
  if (c.epoch != 0) TANDEM_TRY(conn_->send(MsgType::kBegin, c.epoch));
  uint64_t msgs = c.epoch == 0 ? sync_msgs_ : 0, diff_msgs = 0;
  if (diff_) diff_->begin(c.epoch);
  TANDEM_TRY(send_pages(c.epoch, c.pages, c.data.bytes.get(), msgs, diff_msgs));
  size_t deferred = 0;
  if (c.deferred) {
    const uint8_t* data = c.deferred->finish();
    deferred = c.deferred->pages().size();
    TANDEM_TRY(send_pages(c.epoch, c.deferred->pages(), data, msgs, diff_msgs));
    std::lock_guard<std::mutex> lock(mu_);
    stats_.cow_faults += c.deferred->faults();
    deferred_busy_ = false;
  }
  if (diff_) diff_->end();
  const uint64_t page_bytes = conn_->bytes_sent() - bytes0;
  uint64_t disk_msgs = c.epoch == 0 ? sync_disk_msgs_ : 0, disk_chunks = c.epoch == 0 ? sync_disk_chunks_ : 0;
  for (const auto& d : c.disks) TANDEM_TRY(send_disk(c.epoch, d, d.data.bytes.get(), disk_msgs, disk_chunks));
  TANDEM_TRY(conn_->send(MsgType::kState, c.epoch, encode_state(c.snap)));
  End e;
  e.pages = c.pages.size() + deferred + (c.epoch == 0 ? sync_pages_ : 0);
  e.page_messages = static_cast<uint32_t>(msgs);
  e.diff_messages = static_cast<uint32_t>(diff_msgs);
  e.state_messages = 1;
  e.disk_chunks = disk_chunks;
  e.disk_messages = static_cast<uint32_t>(disk_msgs);
  TANDEM_TRY(conn_->send(MsgType::kEnd, c.epoch, encode_end(e)));
  std::lock_guard<std::mutex> lock(mu_);
  stats_.send_ms.add(ms_between(t0, Clock::now()));
  stats_.bytes.add(static_cast<double>(conn_->bytes_sent() - bytes0));
  stats_.page_bytes.add(static_cast<double>(page_bytes));
  const double cpu = thread_cpu_ms() - cpu0;
  stats_.sender_cpu_ms.add(cpu);
  stats_.sender_cpu_total_ms += cpu;
  stats_.pages_sent += c.pages.size();
  return Ok();
}

void Primary::send_loop() {
  for (;;) {
    Checkpoint c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      bool woken = cv_.wait_for(lock, std::chrono::milliseconds(options_.heartbeat_ms),
                                [&] { return quit_ || !lost_.empty() || !queue_.empty(); });
      if (quit_ || !lost_.empty()) return;
      if (!woken) {
        lock.unlock();
        if (Status st = conn_->send(MsgType::kHeartbeat, epoch_sent_); !st.ok()) {
          lose_backup(st.error().message());
          return;
        }
        continue;
      }
      c = std::move(queue_.front());
      queue_.pop_front();
    }
    if (Status st = send_checkpoint(c); !st.ok()) {
      lose_backup(st.error().message());
      return;
    }
    epoch_sent_ = c.epoch;
    if (c.data.capacity) {
      std::lock_guard<std::mutex> lock(mu_);
      if (spare_.size() < kMaxQueued + 1) spare_.push_back(std::move(c.data));
    }
  }
}

void Primary::receive_loop() {
  const uint64_t limit_ns = uint64_t{options_.heartbeat_ms} * kMissedHeartbeats * 1000000;
  for (;;) {
    auto msg = conn_->receive(static_cast<int>(options_.heartbeat_ms));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (quit_) return;
    }
    if (!msg.ok()) {
      lose_backup(msg.error().message());
      return;
    }
    if (!*msg) {
      if (now_ns() - last_heard_ns_ > limit_ns) {
        lose_backup("no message from the backup for " + std::to_string(limit_ns / 1000000) + " ms");
        return;
      }
      continue;
    }
    last_heard_ns_ = now_ns();
    const Message& m = **msg;
    if (m.type == MsgType::kHeartbeat) continue;
    if (m.type == MsgType::kError) {
      lose_backup("the backup gave up: " + decode_text(m.payload));
      return;
    }
    if (is_ft_message(m.type) && options_.on_ft_message) {
      Message own = std::move(**msg);
      if (Status st = options_.on_ft_message(std::move(own)); !st.ok()) {
        lose_backup(st.error().message());
        return;
      }
      continue;
    }
    if (m.type == MsgType::kFeedback) {
      auto f = decode_feedback(m.payload, m_.ram().page_count());
      if (!f.ok()) {
        lose_backup(f.error().message());
        return;
      }
      if (!diff_) {
        lose_backup("the backup sent diff feedback, which this primary did not ask for");
        return;
      }
      diff_->on_feedback(*f);
      continue;
    }
    if (m.type != MsgType::kAck) {
      lose_backup(std::string("unexpected ") + msg_name(m.type) + " message from the backup");
      return;
    }
    {
      // Acks are cumulative: a backup that held checkpoints for pages it
      // asked for whole commits them with a later one.
      std::lock_guard<std::mutex> lock(mu_);
      stats_.committed = m.epoch + 1;
      for (const auto& [e, at] : stun_times_)
        if (e == m.epoch) stats_.ack_ms.add(ms_between(at, Clock::now()));
    }
    acked_ = m.epoch;
    any_acked_ = true;
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
}

ReplicationStatus Primary::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  ReplicationStatus s;
  s.role = "primary";
  s.state = stopped_ ? "unprotected" : !lost_.empty() ? "backup-lost" : !synced_ ? "syncing" : "protected";
  if (arbiter_) s.arbiter = arbiter_->status();
  s.peer = options_.to.text();
  s.reason = reason_;
  s.epoch = epoch_number_;
  s.epoch_ms = options_.epoch_ms;
  const double secs = ms_between(started_, Clock::now()) / 1000.0;
  s.checkpoints = stats_.checkpoints;
  s.committed = stats_.committed;
  s.early_checkpoints = stats_.early;
  s.checkpoints_per_s = secs > 0 ? static_cast<double>(stats_.checkpoints) / secs : 0;
  s.stun_p50_ms = stats_.stun_ms.percentile(50);
  s.stun_p99_ms = stats_.stun_ms.percentile(99);
  s.send_p50_ms = stats_.send_ms.percentile(50);
  s.send_p99_ms = stats_.send_ms.percentile(99);
  s.ack_p50_ms = stats_.ack_ms.percentile(50);
  s.ack_p99_ms = stats_.ack_ms.percentile(99);
  s.dirty_pages_p50 = stats_.dirty_pages.percentile(50);
  s.dirty_pages_p99 = stats_.dirty_pages.percentile(99);
  s.bytes_p50 = stats_.bytes.percentile(50);
  s.output_held_bytes = m_.held_output_bytes();
  s.backup_lag = stats_.checkpoints - stats_.committed;
  s.last_heartbeat_ms_ago = static_cast<double>(now_ns() - last_heard_ns_) / 1e6;
  s.bytes_sent = conn_->bytes_sent();
  s.deferred_p50 = stats_.deferred_pages.percentile(50);
  s.deferred_p99 = stats_.deferred_pages.percentile(99);
  s.cow_faults = stats_.cow_faults;
  s.history = options_.history;
  if (diff_) s.diff = diff_->stats();
  s.page_bytes_p50 = stats_.page_bytes.percentile(50);
  s.sender_cpu_ms_p50 = stats_.sender_cpu_ms.percentile(50);
  s.sender_cpu_s = stats_.sender_cpu_total_ms / 1000.0;
  s.sync_pages = stats_.initial_pages;
  s.sync_rounds = stats_.sync_rounds;
  s.sync_stun_ms = stats_.first_stun_ms;
  return s;
}

}  // namespace tandem::replication
