#include "ft/lockstep_primary.h"

#include <unistd.h>

#include <cstdio>

#include "base/key_values.h"
#include "ft/ft_protocol.h"

namespace tandem::ft {

namespace {
using Clock = std::chrono::steady_clock;
using replication::MsgType;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
// A secondary that does not answer a resync's stop, or does not
// acknowledge its checkpoint, within these is taken for lost.
constexpr auto kStopLimit = std::chrono::seconds(2);
constexpr auto kAckLimit = std::chrono::seconds(10);

Result<unsigned> parse_ms(const std::string& key, const std::string& v, unsigned lo, unsigned hi) {
  char* end = nullptr;
  unsigned long n = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end || n < lo || n > hi)
    return Error("ft: " + key + "=" + v + ": expected milliseconds from " + std::to_string(lo) + " to " +
                 std::to_string(hi));
  return static_cast<unsigned>(n);
}
}  // namespace

Result<FtOptions> parse_ft_spec(const std::string& spec) {
  FtOptions o;
  bool have_peer = false;
  auto parts = split_key_values(spec);
  if (!parts.ok()) return parts.error().context("ft '" + spec + "'");
  for (const auto& [key, value] : *parts) {
    Result<unsigned> ms = 0u;
    if (key == "peer") {
      auto hp = replication::parse_host_port(value);
      if (!hp.ok()) return hp.error().context("ft peer");
      o.peer = *hp;
      have_peer = true;
      continue;
    }
    if (key == "heartbeat") ms = parse_ms(key, value, 10, 60000);
    else if (key == "unmatched") ms = parse_ms(key, value, 1, 60000);
    else if (key == "period") ms = parse_ms(key, value, 10, 3600000);
    else
      return Error("ft '" + spec + "': unknown option '" + key + "' (peer, heartbeat, unmatched, period)");
    if (!ms.ok()) return ms.error();
    (key == "heartbeat" ? o.heartbeat_ms : key == "unmatched" ? o.unmatched_ms : o.period_ms) = *ms;
  }
  if (!have_peer) return Error("ft '" + spec + "': peer=HOST:PORT is required");
  return o;
}

// The guest's virtio-rng bytes, from the machine's own source, each fill
// also sent to the secondary for its guest.
class LockstepPrimary::MirroredEntropy : public dev::EntropySource {
 public:
  MirroredEntropy(LockstepPrimary& owner, dev::EntropySource& inner) : owner_(owner), inner_(inner) {}
  size_t fill(uint8_t* buf, size_t len) override {
    const size_t n = inner_.fill(buf, len);
    if (n && owner_.phase_ != Phase::kSyncing && owner_.phase_ != Phase::kUnprotected && owner_.primary_) {
      (void)owner_.primary_->send_to_peer(MsgType::kFtEntropy, owner_.m_.output_epoch(),
                                          std::span<const uint8_t>(buf, n));
      std::lock_guard<std::mutex> lock(owner_.mu_);
      owner_.stats_.entropy_bytes += n;
    }
    return n;
  }

 private:
  LockstepPrimary& owner_;
  dev::EntropySource& inner_;
};

Result<std::unique_ptr<LockstepPrimary>> LockstepPrimary::start(board::Machine& m, const FtOptions& o,
                                                                replication::Arbiter* arbiter,
                                                                std::vector<FlowMaps>* world) {
  std::unique_ptr<LockstepPrimary> p(new LockstepPrimary(m, o, arbiter));
  replication::ReplicateOptions ro;
  ro.to = o.peer;
  ro.heartbeat_ms = o.heartbeat_ms;
  ro.lockstep = true;
  LockstepPrimary* self = p.get();
  ro.on_ft_message = [self](replication::Message&& msg) { return self->on_message(std::move(msg)); };
  auto primary = replication::Primary::start(m, ro, arbiter);
  if (!primary.ok()) return primary.error().context("fault tolerance");
  p->primary_ = std::move(primary).value();
  p->drive_chunks_ = p->primary_->drive_chunk_counts();
  if (world && world->size() == m.nic_count()) p->world_ = std::move(*world);
  return p;
}

LockstepPrimary::LockstepPrimary(board::Machine& m, const FtOptions& o, replication::Arbiter* arbiter)
    : m_(m), options_(o), arbiter_(arbiter), compare_(m.nic_count()), world_(m.nic_count()),
      after_ack_(m.nic_count()) {
  stats_.role = "primary";
  stats_.state = "syncing";
  stats_.peer = o.peer.text();
  m_.add_io_source(wake_.fd(), [this] {
    wake_.drain();
    tick();
  });
  hook_ = m_.add_slice_hook([this] { tick(); }, [this] { return tick_due(); });
  m_.set_input_tap([this](size_t nic, const uint8_t* f, size_t n) { return on_input(nic, f, n); });
  m_.set_output_tap([this](size_t nic, const uint8_t* f, size_t n) { return on_output(nic, f, n); });
  m_.set_console_input_tap([this](const uint8_t* d, size_t n) {
    if (phase_ != Phase::kSyncing && phase_ != Phase::kUnprotected)
      (void)primary_->send_to_peer(MsgType::kFtConsole, m_.output_epoch(), std::span<const uint8_t>(d, n));
    return true;
  });
  if (dev::EntropySource* own = m_.own_entropy_source()) {
    entropy_ = std::make_unique<MirroredEntropy>(*this, *own);
    m_.set_entropy_source(entropy_.get());
  }
}

LockstepPrimary::~LockstepPrimary() {
  // The pair ends on purpose: what is held may leave (the secondary is
  // told, and does not go live).
  if (phase_ != Phase::kUnprotected) unprotect("");
  m_.set_input_tap({});
  m_.set_output_tap({});
  m_.set_console_input_tap({});
  m_.remove_slice_hook(hook_);
  m_.remove_io_source(wake_.fd());
}

Status LockstepPrimary::on_message(replication::Message&& msg) {
  if (msg.type == MsgType::kFtOutput) {
    auto f = decode_frame(msg.payload, compare_.size());
    if (!f.ok()) return f.error().context("the secondary's output");
    std::lock_guard<std::mutex> lock(mu_);
    outputs_.push_back({msg.epoch, f->nic, std::move(f->frame)});
  } else if (msg.type == MsgType::kFtDirty) {
    auto pages = decode_dirty(msg.payload, m_.ram().page_count(), drive_chunks_);
    if (!pages.ok()) return pages.error().context("the secondary's dirty pages");
    std::lock_guard<std::mutex> lock(mu_);
    if (msg.epoch != resync_epoch_)
      return Error("dirty pages for resync " + std::to_string(msg.epoch) + ", which was not asked for (resync " +
                   std::to_string(resync_epoch_) + " is)");
    dirty_ = std::move(pages).value();
  } else {
    return Error(std::string("unexpected ") + replication::msg_name(msg.type) + " message from the secondary");
  }
  wake_.signal();
  return Ok();
}

std::vector<FlowMaps> LockstepPrimary::take_world() {
  m_.set_input_tap({});
  m_.set_output_tap({});
  return std::move(world_);
}

void LockstepPrimary::send_out(size_t nic, std::vector<uint8_t>& frame) {
  world_[nic].outbound(frame.data(), frame.size());
  m_.send_host_frame(nic, frame.data(), frame.size());
}

bool LockstepPrimary::on_input(size_t nic, const uint8_t* frame, size_t len) {
  const bool mirror = phase_ != Phase::kSyncing && phase_ != Phase::kUnprotected;
  if (!mirror && !world_[nic].size()) return true;
  std::vector<uint8_t> guest(frame, frame + len);
  world_[nic].inbound(guest.data(), guest.size());
  if (mirror) {
    std::vector<uint8_t> copy = guest;
    compare_[nic].to_secondary(copy.data(), copy.size());
    if (compare_[nic].work_pending()) due_by(Clock::now());  // a connection closed
    (void)primary_->send_to_peer(MsgType::kFtInput, m_.output_epoch(),
                                 encode_frame(static_cast<uint32_t>(nic), copy.data(), copy.size()));
    std::lock_guard<std::mutex> lock(mu_);
    stats_.input_frames++;
  }
  if (!world_[nic].size()) return true;
  m_.inject_frame(nic, guest.data(), guest.size());
  return false;
}

bool LockstepPrimary::on_output(size_t nic, const uint8_t* frame, size_t len) {
  if (phase_ == Phase::kSyncing || phase_ == Phase::kUnprotected) {
    if (!world_[nic].size()) return true;
    // Past the gates: without a valid lease it is dropped, as a full
    // queue would drop it.
    if (arbiter_ && !arbiter_->may_release()) return false;
    std::vector<uint8_t> copy(frame, frame + len);
    send_out(nic, copy);
    return false;
  }
  // Matched on arrival (the secondary ran ahead) or a mismatch: tick()
  // releases it or resyncs now; else at the unmatched bound at the latest.
  const auto now = Clock::now();
  compare_[nic].primary(frame, len, now);
  due_by(compare_[nic].work_pending() ? now : now + std::chrono::milliseconds(options_.unmatched_ms));
  return false;
}

void LockstepPrimary::release(std::vector<std::vector<uint8_t>>& frames, size_t nic, bool matched) {
  uint64_t bytes = 0;
  for (auto& f : frames) {
    bytes += f.size();
    send_out(nic, f);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (matched) {
    stats_.matched_frames += frames.size();
    stats_.matched_bytes += bytes;
  } else {
    stats_.released_frames += frames.size();
  }
  frames.clear();
}

void LockstepPrimary::unprotect(const std::string& why) {
  // A side the arbiter fenced must never show output again: the other
  // side is live.
  const bool fenced = arbiter_ && arbiter_->fenced();
  for (size_t nic = 0; nic < compare_.size(); nic++) {
    auto held = compare_[nic].resynced();
    if (fenced) {
      after_ack_[nic].clear();
      continue;
    }
    release(after_ack_[nic], nic, false);
    release(held, nic, false);
  }
  // The taps stay: world mappings still rewrite the frames.
  m_.set_console_input_tap({});
  m_.set_entropy_source(nullptr);
  if (phase_ == Phase::kStopping) m_.resume();
  phase_ = Phase::kUnprotected;
  primary_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.state = "unprotected";
  stats_.reason = why;
  if (!why.empty()) std::fprintf(stderr, "tandem: fault tolerance: %s; the VM runs on unprotected\n", why.c_str());
}

// What the comparator does not see (console output, and frames while no
// secondary runs) waits in the gates (ReplicationControl holds them under
// an arbiter) and leaves at a tick that finds the lease valid. The epochs
// cannot number these releases: they tag the mirrored input.
void LockstepPrimary::gate_uncompared() {
  if (!arbiter_) return;
  const uint64_t holds = m_.output_holds();
  if (arbiter_->fenced()) {
    if (m_.held_output_bytes()) m_.discard_held_output();
  } else if (!arbiter_->may_release()) {
    return;  // until a renewal (the arbiter's wake-up)
  } else if (m_.held_output_bytes()) {
    m_.release_all_output();
  }
  gated_holds_ = holds;
}

void LockstepPrimary::start_resync(const char* cause, const std::string& detail) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    resync_epoch_ = m_.output_epoch();
    dirty_.reset();
    stats_.resyncs[cause]++;
    stats_.state = "resyncing";
    if (!detail.empty()) stats_.first_divergence = detail;
  }
  resync_started_ = Clock::now();
  if (!primary_->send_to_peer(MsgType::kFtSync, resync_epoch_).ok()) return;  // tick() sees the loss
  m_.pause();
  phase_ = Phase::kStopping;
}

void LockstepPrimary::tick() {
  step();
  plan_next_tick(Clock::now());
}

void LockstepPrimary::due_by(Clock::time_point t) {
  const Clock::rep at = t.time_since_epoch().count();
  Clock::rep due = due_at_.load(std::memory_order_relaxed);
  while (at < due && !due_at_.compare_exchange_weak(due, at, std::memory_order_relaxed)) {
  }
}

void LockstepPrimary::plan_next_tick(Clock::time_point now) {
  Clock::time_point at = Clock::time_point::max();
  switch (primary_ ? phase_ : Phase::kUnprotected) {
    case Phase::kComparing: {
      const auto bound = std::chrono::milliseconds(options_.unmatched_ms);
      at = last_sync_ + std::chrono::milliseconds(options_.period_ms);
      for (const Comparator& c : compare_) {
        if (c.divergence() || c.work_pending()) at = now;
        else if (auto t = c.oldest_unmatched_at()) at = std::min(at, std::max(*t, last_sync_) + bound);
      }
      break;
    }
    case Phase::kStopping:
      at = resync_started_ + kStopLimit;
      break;
    case Phase::kAwaitingAck:
      at = resync_started_ + kAckLimit;
      break;
    default:
      break;
  }
  due_at_.store(at.time_since_epoch().count(), std::memory_order_relaxed);
}

// tick()'s work, branch by branch, and what makes the loop run it: the
// secondary's output and dirty pages come through wake_, acks and a lost
// link through Primary's eventfd, the arbiter's news through its own (any
// stop of the harts runs every hook). tick_due() covers the rest:
// - gate_uncompared(): output the gates took since they were last
//   emptied, once the arbiter lets it leave or fenced the VM;
// - Primary::tick(): a fenced pair stops protecting;
// - a lost or stopped Primary: unprotect(), with an arbiter once etcd
//   recorded the end of protection;
// - kSyncing: checkpoint 0 taken;
// - kComparing: a frame matched on arrival or a mismatch (the output
//   tap's due_by()), an unmatched frame's bound, the period;
// - kStopping: the stop limit (the dirty pages come as a message);
// - kAwaitingAck: the ack of the resync while output may leave, the ack
//   limit.
bool LockstepPrimary::tick_due() const {
  if (!primary_) return false;  // unprotected: ReplicationControl has the gates
  if (arbiter_ && (arbiter_->fenced() || (m_.output_holds() != gated_holds_ && arbiter_->may_release())))
    return true;
  if (primary_->peer_lost() || !primary_->active()) return !arbiter_ || arbiter_->protection_ended();
  if (phase_ == Phase::kSyncing) return primary_->synced();
  if (phase_ == Phase::kAwaitingAck) {
    const auto acked = primary_->acked();
    if (acked && *acked >= resync_epoch_ && (!arbiter_ || arbiter_->may_release())) return true;
  }
  return Clock::now().time_since_epoch().count() >= due_at_.load(std::memory_order_relaxed);
}

void LockstepPrimary::step() {
  if (!primary_) return;
  gate_uncompared();
  primary_->tick();
  const auto now = Clock::now();
  if (primary_->peer_lost() || !primary_->active()) {
    // With an arbiter, what the secondary has not got waits until etcd
    // records that this side runs on unprotected.
    if (arbiter_ && !arbiter_->protection_ended() && !arbiter_->fenced()) return;
    unprotect("secondary lost: " + primary_->status().reason);
    return;
  }
  if (phase_ == Phase::kSyncing) {
    if (!primary_->synced()) return;
    phase_ = Phase::kComparing;
    epoch_ = m_.output_epoch();
    last_sync_ = now;
    // The secondary rewrites as this side does once it goes live.
    for (size_t nic = 0; nic < world_.size(); nic++)
      for (const FlowMapping& fm : world_[nic].entries())
        (void)primary_->send_to_peer(MsgType::kFtMapping, epoch_, encode_mapping(static_cast<uint32_t>(nic), fm, true));
    std::lock_guard<std::mutex> lock(mu_);
    stats_.state = "protected";
    stats_.sync_epoch = epoch_;
    return;
  }
  std::deque<Output> outputs;
  std::optional<DirtyPayload> dirty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    outputs.swap(outputs_);
    if (phase_ == Phase::kStopping) dirty.swap(dirty_);
  }
  // The secondary's output from before the state it runs now was sent
  // is compared with nothing: that state replaced it.
  for (auto& o : outputs)
    if (o.epoch == epoch_) compare_[o.nic].secondary(o.frame.data(), o.frame.size(), now);
  for (size_t nic = 0; nic < compare_.size(); nic++) {
    for (const FlowMapping& fm : compare_[nic].take_mapping_updates())
      (void)primary_->send_to_peer(MsgType::kFtMapping, epoch_, encode_mapping(static_cast<uint32_t>(nic), fm));
    auto ready = compare_[nic].take_releasable();
    if (!arbiter_ || arbiter_->may_release()) release(ready, nic, true);
    else for (auto& f : ready) after_ack_[nic].push_back(std::move(f));  // leaves with the next resync's ack
  }
  {
    uint64_t frames = 0, bytes = 0;
    for (size_t nic = 0; nic < compare_.size(); nic++) {
      const ComparatorStats cs = compare_[nic].stats();
      frames += cs.held_frames + after_ack_[nic].size();
      bytes += cs.held_bytes;
      for (const auto& f : after_ack_[nic]) bytes += f.size();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.held_frames = frames;
    stats_.held_bytes = bytes;
    stats_.bytes_sent = primary_->bytes_sent();
  }
  switch (phase_) {
    case Phase::kComparing: {
      // Output the primary made while the secondary was still loading the
      // last resync could not be matched before: its age counts from the ack.
      const auto bound = std::chrono::milliseconds(options_.unmatched_ms);
      for (size_t nic = 0; nic < compare_.size(); nic++) {
        if (const auto& d = compare_[nic].divergence()) return start_resync("mismatch", d->description);
        std::string what;
        if (now - last_sync_ > bound && compare_[nic].oldest_unmatched(now, &what) > bound)
          return start_resync("timeout", what);
      }
      if (now - last_sync_ > std::chrono::milliseconds(options_.period_ms)) start_resync("periodic", "");
      return;
    }
    case Phase::kStopping: {
      if (!dirty) {
        if (now - resync_started_ > kStopLimit) unprotect("the secondary did not stop for a resync within 2 s");
        return;
      }
      // The stun: output held so far is what both will have once the
      // secondary loads this state; it leaves with the ack.
      for (size_t nic = 0; nic < compare_.size(); nic++)
        for (auto& f : compare_[nic].resynced()) after_ack_[nic].push_back(std::move(f));
      const uint64_t sent_before = primary_->bytes_sent();
      primary_->request_checkpoint(dirty->pages, dirty->drives);
      m_.resume();
      epoch_ = m_.output_epoch();
      phase_ = Phase::kAwaitingAck;
      std::lock_guard<std::mutex> lock(mu_);
      stats_.sync_epoch = epoch_;
      stats_.last_resync_pages = dirty->pages.size();
      stats_.last_resync_bytes = sent_before;  // made a difference at the ack
      return;
    }
    case Phase::kAwaitingAck: {
      auto acked = primary_->acked();
      if (!acked || *acked < resync_epoch_) {
        if (now - resync_started_ > kAckLimit) unprotect("the secondary did not acknowledge a resync within 10 s");
        return;
      }
      if (!arbiter_ || arbiter_->may_release())
        for (size_t nic = 0; nic < compare_.size(); nic++) release(after_ack_[nic], nic, false);
      else return;
      phase_ = Phase::kComparing;
      last_sync_ = now;
      const uint64_t sent = primary_->bytes_sent();
      std::lock_guard<std::mutex> lock(mu_);
      last_resync_at_ = now;
      stats_.state = "protected";
      stats_.last_resync_ms = ms_between(resync_started_, now);
      stats_.last_resync_bytes = sent - stats_.last_resync_bytes;
      return;
    }
    default:
      return;
  }
}

FtStatus LockstepPrimary::status() const {
  FtStatus s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
    if (last_resync_at_) s.last_resync_ago_s = std::chrono::duration<double>(Clock::now() - *last_resync_at_).count();
  }
  // Only the vCPU thread touches the comparators: their figures are
  // published by tick() (held_* below are from the last one).
  return s;
}

}  // namespace tandem::ft
