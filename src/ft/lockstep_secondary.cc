#include "ft/lockstep_secondary.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "board/entropy.h"
#include "ft/ft_protocol.h"
#include "net/tcp_header.h"
#include "state/machine_snapshot.h"

namespace tandem::ft {

namespace {
using Clock = std::chrono::steady_clock;
using replication::MsgType;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

// virtio-rng bytes as the primary's guest got them, in the same order;
// when the secondary's guest asks first (it runs ahead), the host's.
class LockstepSecondary::ReplayedEntropy : public dev::EntropySource {
 public:
  size_t fill(uint8_t* buf, size_t len) override {
    size_t n = 0;
    while (n < len && !bytes_.empty()) {
      buf[n++] = bytes_.front();
      bytes_.pop_front();
    }
    if (n < len && !live_) underruns += len - n;
    while (n < len) {
      const size_t got = host_.fill(buf + n, len - n);
      if (!got) break;
      n += got;
    }
    return n;
  }
  void add(const std::vector<uint8_t>& b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  void clear() { bytes_.clear(); }
  void go_live() { live_ = true; }
  uint64_t underruns = 0;

 private:
  std::deque<uint8_t> bytes_;
  board::HostEntropy host_;
  bool live_ = false;
};

LockstepSecondary::LockstepSecondary(const SecondaryOptions& o) : options_(o) {}

Result<std::unique_ptr<LockstepSecondary>> LockstepSecondary::listen(const SecondaryOptions& o) {
  std::unique_ptr<LockstepSecondary> s(new LockstepSecondary(o));
  LockstepSecondary* self = s.get();
  replication::BackupOptions bo;
  bo.listen = o.listen;
  bo.nets = o.nets;
  bo.drive_dir = o.drive_dir;
  bo.heartbeat_ms = o.heartbeat_ms;
  bo.arbiter = o.arbiter;
  bo.lockstep = true;
  bo.on_commit = [self](uint64_t epoch, std::span<const uint32_t> pages, const mem::GuestMemory& ram,
                        const state::Snapshot& st) { self->on_commit(epoch, pages, ram, st); };
  bo.on_ft_message = [self](replication::Message&& m) { return self->on_message(std::move(m)); };
  auto b = replication::Backup::listen(bo);
  if (!b.ok()) return b.error().context("secondary");
  s->backup_ = std::move(b).value();
  s->stats_.role = "secondary";
  s->stats_.state = "standby";
  s->serving_ = Thread([self] {
    auto r = self->backup_->serve();
    std::lock_guard<std::mutex> lock(self->mu_);
    self->ended_ = true;
    self->lost_at_ = Clock::now();
    if (!r.ok()) self->build_error_ = r.error().message();
    self->stats_.reason = self->backup_->lost_reason();
    self->cv_.notify_all();
    self->wake_.signal();
  });
  return s;
}

LockstepSecondary::~LockstepSecondary() {
  request_stop();
  serving_.join();
  if (machine_) {
    machine_->remove_slice_hook(hook_);
    machine_->remove_io_source(wake_.fd());
    machine_->set_entropy_source(nullptr);
  }
  log_.reset();
}

void LockstepSecondary::request_stop() { backup_->request_stop(); }

Result<board::Machine*> LockstepSecondary::wait_for_machine() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return built_ || ended_ || !build_error_.empty(); });
  if (!build_error_.empty()) return Error(build_error_);
  if (!built_) return static_cast<board::Machine*>(nullptr);
  return machine_.get();
}

Status LockstepSecondary::build_machine(std::span<const uint32_t> pages, const mem::GuestMemory& ram,
                                        const state::Snapshot& s) {
  // Its drives are the Backup's copies: the guest writes them between
  // resyncs, each resync's commit writes the primary's chunks (while the
  // guest is stopped).
  auto config = backup_->vm_config(s);
  if (!config.ok()) return config.error();
  auto m = board::Machine::create_empty(*config);
  if (!m.ok()) return m.error();
  mem::GuestMemory& own = (*m)->ram();
  for (uint32_t p : pages) {
    std::memcpy(own.page_host(p), ram.page_host(p), mem::kPageSize);
    own.mark_populated(p);
  }
  TANDEM_TRY(state::apply_machine(s, **m));
  machine_ = std::move(m).value();
  board::Machine& vm = *machine_;
  log_ = vm.ram().open_dirty_log("fault tolerance");
  drive_logs_ = replication::log_writable_drives(vm);
  pair_.resize(vm.nic_count());
  world_.resize(vm.nic_count());
  entropy_ = std::make_unique<ReplayedEntropy>();
  vm.set_entropy_source(entropy_.get());
  vm.set_input_tap([this](size_t nic, const uint8_t* f, size_t n) { return on_input(nic, f, n); });
  vm.set_output_tap([this](size_t nic, const uint8_t* f, size_t n) { return on_output(nic, f, n); });
  vm.set_console_input_tap([this](const uint8_t*, size_t) { return live_; });
  // Its console output is the primary's twin: shown only once live (tick()
  // discards it until then).
  vm.hold_output(true);
  // tick()'s work comes through wake_ (commits, a resync's request,
  // mirrored items, the end), but for the console output its guest makes
  // before it is live, which tick() discards.
  hook_ = vm.add_slice_hook([this] { tick(); },
                            [this] { return !live_ && machine_->output_holds() != discarded_holds_; });
  vm.add_io_source(wake_.fd(), [this] {
    wake_.drain();
    tick();
  });
  return Ok();
}

void LockstepSecondary::on_commit(uint64_t epoch, std::span<const uint32_t> pages, const mem::GuestMemory& ram,
                                  const state::Snapshot& s) {
  if (!machine_) {
    Status st = build_machine(pages, ram, s);
    std::lock_guard<std::mutex> lock(mu_);
    if (!st.ok()) {
      build_error_ = "secondary: cannot run the VM from the primary's state: " + st.error().message();
      backup_->request_stop();
    } else {
      built_ = true;
      applied_ = epoch + 1;
      stats_.state = "running";
      stats_.sync_epoch = applied_;
    }
    cv_.notify_all();
    return;
  }
  Commit c{epoch, {pages.begin(), pages.end()}, std::vector<uint8_t>(pages.size() * mem::kPageSize), s};
  for (size_t i = 0; i < pages.size(); i++)
    std::memcpy(c.data.data() + i * mem::kPageSize, ram.page_host(pages[i]), mem::kPageSize);
  {
    std::lock_guard<std::mutex> lock(mu_);
    commits_.push_back(std::move(c));
  }
  wake_.signal();
}

Status LockstepSecondary::on_message(replication::Message&& m) {
  // Before the first sync ends (the primary sends from its stun on) the
  // NIC count is not known yet: tick() checks those items.
  const size_t nics = machine_ ? pair_.size() : SIZE_MAX;
  Item item{Item::Kind::kInput, m.epoch, 0, {}};
  switch (m.type) {
    case MsgType::kFtInput: {
      auto f = decode_frame(m.payload, nics);
      if (!f.ok()) return f.error().context("mirrored input");
      item.nic = f->nic;
      item.bytes = std::move(f->frame);
      break;
    }
    case MsgType::kFtConsole:
      item.kind = Item::Kind::kConsole;
      item.bytes = std::move(m.payload);
      break;
    case MsgType::kFtEntropy:
      item.kind = Item::Kind::kEntropy;
      item.bytes = std::move(m.payload);
      break;
    case MsgType::kFtMapping: {
      auto mp = decode_mapping(m.payload, nics);
      if (!mp.ok()) return mp.error().context("TCP mapping");
      item.kind = Item::Kind::kMapping;
      item.nic = mp->nic;
      item.bytes = std::move(m.payload);
      break;
    }
    case MsgType::kFtSync: {
      std::lock_guard<std::mutex> lock(mu_);
      sync_request_ = m.epoch;
      wake_.signal();
      return Ok();
    }
    default:
      return Error(std::string("unexpected ") + replication::msg_name(m.type) + " message from the primary");
  }
  std::lock_guard<std::mutex> lock(mu_);
  items_.push_back(std::move(item));
  wake_.signal();
  return Ok();
}

bool LockstepSecondary::on_input(size_t nic, const uint8_t* frame, size_t len) {
  if (!live_) return false;  // a secondary's guest hears only what the primary's does
  if (!live_maps_[nic].size()) return true;
  std::vector<uint8_t> copy(frame, frame + len);
  live_maps_[nic].inbound(copy.data(), copy.size());
  machine_->inject_frame(nic, copy.data(), copy.size());
  return false;
}

bool LockstepSecondary::on_output(size_t nic, const uint8_t* frame, size_t len) {
  if (live_) {
    if (!live_maps_[nic].size()) return true;
    std::vector<uint8_t> copy(frame, frame + len);
    send_live(nic, copy);
    return false;
  }
  // Not to the world: to the primary, to be compared. A frame that cannot
  // go is output the primary will miss; its timeout then resyncs.
  unreleased_.push(Clock::now(), nic, frame, len);
  (void)backup_->send_to_primary(MsgType::kFtOutput, applied_,
                                 encode_frame(static_cast<uint32_t>(nic), frame, len));
  return false;
}

// Past the gates (a live secondary's own frames, rewritten into the
// world's TCP numbers): without a valid lease dropped, as a full queue
// would drop it.
void LockstepSecondary::send_live(size_t nic, std::vector<uint8_t>& frame) {
  if (arbiter() && !arbiter()->may_release()) return;
  live_maps_[nic].outbound(frame.data(), frame.size());
  machine_->send_host_frame(nic, frame.data(), frame.size());
}

// A client's segment sent to the primary's host just before it died is
// lost (a bridge forwards to the port it learned the guest on until the
// announcement). The guest's last pure ACK of a connection, sent twice
// more, makes three duplicates: the client's fast retransmit (RFC 5681
// 3.2) sends it again now instead of after its timeout. `sent`: frames
// send_live() sent (rewritten), oldest first.
size_t LockstepSecondary::repeat_last_acks(const std::vector<RecentFrames::Frame>& sent) {
  // Per connection (addresses and ports): its last frame and where its
  // TCP header is.
  std::map<std::string, std::pair<const RecentFrames::Frame*, net::TcpLocation>> last;
  for (const RecentFrames::Frame& f : sent) {
    net::TcpLocation at;
    if (f.nic >= machine_->nic_count() || !net::find_tcp(f.bytes.data(), f.bytes.size(), &at)) continue;
    const uint8_t* ip = f.bytes.data() + net::kEthHeader;
    std::string key(reinterpret_cast<const char*>(at.ipv6 ? ip + 8 : ip + 12), at.ipv6 ? 32 : 8);
    key.append(reinterpret_cast<const char*>(f.bytes.data() + at.tcp), 4);
    last[key] = {&f, at};
  }
  size_t n = 0;
  for (const auto& [key, entry] : last) {
    const auto& [f, at] = entry;
    const uint8_t flags = f->bytes[at.tcp + 13];
    if (at.payload_len != 0 || flags != net::kTcpAck) continue;
    if (arbiter() && !arbiter()->may_release()) break;
    for (int i = 0; i < 2; i++, n++) machine_->send_host_frame(f->nic, f->bytes.data(), f->bytes.size());
  }
  return n;
}

Status LockstepSecondary::apply(Commit& c) {
  board::Machine& vm = *machine_;
  TANDEM_TRY(state::load_pages_live(vm, c.pages, c.data.data()));
  // The secondary's network backends are its own, not the primary's.
  TANDEM_TRY(state::apply_machine(c.state, vm, {.backends = false}));
  (void)log_->end_epoch();  // the loaded pages are the primary's, not written here
  for (auto& d : drive_logs_) (void)d->take();  // (the commit wrote the chunks past the guest)
  for (auto& map : pair_) map.clear();  // both guests' TCP state is the primary's now
  entropy_->clear();
  unreleased_.clear();  // sent from the replaced state: the primary's output stands
  applied_ = c.epoch + 1;
  return Ok();
}

void LockstepSecondary::tick() {
  if (!machine_) return;
  board::Machine& vm = *machine_;
  if (!live_) {
    discarded_holds_ = vm.output_holds();
    if (vm.held_output_bytes()) vm.discard_held_output();
  }
  std::deque<Commit> commits;
  std::optional<uint64_t> sync;
  bool ended;
  {
    std::lock_guard<std::mutex> lock(mu_);
    commits.swap(commits_);
    sync.swap(sync_request_);
    ended = ended_;
  }
  for (Commit& c : commits) {
    const auto t0 = Clock::now();
    if (Status st = apply(c); !st.ok()) {
      // Half applied: this VM is neither the primary's nor its own.
      std::fprintf(stderr, "tandem: secondary: cannot load resync %llu: %s; stopping\n",
                   static_cast<unsigned long long>(c.epoch), st.error().message().c_str());
      backup_->request_stop();
      vm.request_exit(1);
      return;
    }
    if (stopped_) vm.resume();
    stopped_ = false;
    std::lock_guard<std::mutex> lock(mu_);
    stats_.state = "running";
    stats_.sync_epoch = applied_;
    stats_.resyncs["loaded"]++;
    stats_.last_resync_pages = c.pages.size();
    stats_.last_resync_ms = ms_since(t0);
  }
  if (sync && !live_) {
    vm.pause();
    stopped_ = true;
    std::vector<uint32_t> dirty = log_->end_epoch();
    std::vector<replication::DriveChunks> chunks;
    for (auto& d : drive_logs_) chunks.push_back({d->index(), d->take()});
    (void)backup_->send_to_primary(MsgType::kFtDirty, *sync, encode_dirty(dirty, chunks));
    std::lock_guard<std::mutex> lock(mu_);
    stats_.state = "resyncing";
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!items_.empty()) {
      Item& it = items_.front();
      if (it.epoch > applied_) break;  // waits for the resync that starts its epoch
      if (it.epoch == applied_ && (it.kind == Item::Kind::kConsole || it.kind == Item::Kind::kEntropy ||
                                   it.nic < vm.nic_count())) {
        if (it.kind == Item::Kind::kInput) {
          vm.inject_frame(it.nic, it.bytes.data(), it.bytes.size());
          stats_.input_frames++;
        } else if (it.kind == Item::Kind::kConsole) {
          vm.inject_console_input(it.bytes.data(), it.bytes.size());
        } else if (it.kind == Item::Kind::kEntropy) {
          entropy_->add(it.bytes);
          stats_.entropy_bytes += it.bytes.size();
        } else if (auto mp = decode_mapping(it.bytes, pair_.size()); mp.ok()) {
          (mp->world ? world_ : pair_)[mp->nic].set(mp->mapping);
        }
      }
      items_.pop_front();
    }
    stats_.entropy_underruns = entropy_->underruns;
  }
  if (ended && !live_ && !exiting_) {
    if (backup_->went_live()) {
      go_live();
    } else {
      std::string why;
      {
        std::lock_guard<std::mutex> lock(mu_);
        why = !build_error_.empty()    ? build_error_
              : !stats_.reason.empty() ? stats_.reason
                                       : "the primary ended the pair";
        stats_.state = "stopped";
      }
      std::fprintf(stderr, "tandem: secondary: %s; the secondary's VM stops\n", why.c_str());
      exiting_ = true;  // (ticks run until the loop sees the request)
      vm.request_exit(build_error_.empty() ? 0 : 1);
    }
  }
}

void LockstepSecondary::go_live() {
  board::Machine& vm = *machine_;
  live_ = true;
  if (stopped_) vm.resume();  // no resync came: its own state stands
  stopped_ = false;
  entropy_->go_live();
  drive_logs_.clear();  // its writes are its own from now on
  live_maps_ = world_;
  for (size_t i = 0; i < live_maps_.size(); i++) live_maps_[i].add(pair_[i]);
  vm.set_entropy_source(nullptr);
  // Around the primary's last message, what this guest sent may never
  // have left (the primary held its twin until both matched): the world
  // gets it now rather than after the guest's retransmission timer (200
  // ms and more). Duplicates among it are TCP's to drop.
  const auto since = backup_->last_heard() - 3 * std::chrono::milliseconds(options_.heartbeat_ms);
  size_t resent = 0;
  std::vector<RecentFrames::Frame> out = unreleased_.take_since(since);
  for (RecentFrames::Frame& f : out) {
    if (f.nic >= vm.nic_count()) continue;
    send_live(f.nic, f.bytes);
    resent++;
  }
  resent += repeat_last_acks(out);
  // With an arbiter, ReplicationControl releases output while the lease
  // this side took is valid.
  if (!arbiter()) vm.hold_output(false);
  for (size_t i = 0; i < vm.nic_count(); i++) {
    auto f = replication::rarp_announce(vm.nic_mac(i));
    vm.send_host_frame(i, f.data(), f.size());
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.state = "live";
  stats_.resent_frames = resent;
  std::fprintf(stderr,
               "tandem: secondary: primary lost (%s); live %.1f ms after the loss was seen (%zu frames its guest "
               "sent around the primary's last message sent again)\n",
               stats_.reason.c_str(), ms_since(lost_at_), resent);
}

std::vector<FlowMaps> LockstepSecondary::hand_over() {
  board::Machine& vm = *machine_;
  vm.set_input_tap({});
  vm.set_output_tap({});
  vm.set_console_input_tap({});
  return std::move(live_maps_);
}

FtStatus LockstepSecondary::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  FtStatus s = stats_;
  s.peer = options_.listen.text();
  return s;
}

}  // namespace tandem::ft
