#include "ft/comparator.h"

#include <algorithm>
#include <utility>

namespace tandem::ft {

namespace {

const char* unit_name(FlowKind k) {
  switch (k) {
    case FlowKind::arp: return "message";
    case FlowKind::other: return "frame";
    default: return "datagram";
  }
}

std::vector<Comparator::Frame> in_order(std::vector<std::pair<uint64_t, Comparator::Frame>> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Comparator::Frame> out;
  out.reserve(v.size());
  for (auto& [order, frame] : v) out.push_back(std::move(frame));
  return out;
}

}  // namespace

// A held frame as the status names it: "a 120-byte segment (FIN)".
std::string Comparator::describe_held(const Flow& f, const Held& h) {
  std::string s = "a " + group_digits(h.frame.size()) + "-byte " + (f.tcp ? "segment" : "frame");
  if (!f.tcp) return s;
  const TcpConnection::Mark& m = h.mark;
  std::string flags;
  for (auto [on, name] : {std::pair{m.syn, "SYN"}, {m.fin, "FIN"}, {m.rst, "RST"}})
    if (on) flags += flags.empty() ? name : std::string(" ") + name;
  if (m.len == 0 && flags.empty()) flags = "ACK only";
  return flags.empty() ? s : s + " (" + flags + ")";
}

Comparator::Flow& Comparator::flow(const FlowKey& key) {
  auto [it, inserted] = flows_.try_emplace(key);
  if (inserted) {
    it->second.key = key;
    if (key.kind == FlowKind::tcp) it->second.tcp = std::make_unique<TcpConnection>();
  }
  return it->second;
}

void Comparator::primary(const uint8_t* frame, size_t len, TimePoint now) {
  OutputFlow of = classify_output(frame, len);
  Flow& f = flow(of.key);
  Held h;
  h.order = next_order_++;
  h.at = now;
  h.frame.assign(frame, frame + len);
  held_frames_++;
  held_bytes_ += len;
  if (f.tcp) {
    TcpSegment seg;
    parse_tcp_segment(frame, len, &seg);  // classified as tcp: it parses
    size_t before = f.tcp->secondary_bytes();
    h.mark = f.tcp->primary(seg);  // may line up the secondary's waiting segments
    secondary_bytes_ = secondary_bytes_ - before + f.tcp->secondary_bytes();
    f.held.push_back(std::move(h));
    after_tcp(f);
  } else {
    h.content = std::move(of.content);
    f.held.push_back(std::move(h));
    f.unmatched++;
    match_datagrams(f);
  }
  touched_.insert(of.key);
}

void Comparator::secondary(const uint8_t* frame, size_t len, TimePoint) {
  OutputFlow of = classify_output(frame, len);
  Flow& f = flow(of.key);
  if (f.diverged) return;  // a resync follows: nothing more to compare
  size_t kept = f.tcp ? len : of.content.size();
  if (secondary_bytes_ + kept > cap_) {
    diverge(f, DivergenceKind::memory,
            "the secondary's unmatched output would pass the cap of " + group_digits(cap_) +
                " bytes");
    return;
  }
  if (f.tcp) {
    TcpSegment seg;
    parse_tcp_segment(frame, len, &seg);
    size_t before = f.tcp->secondary_bytes();
    f.tcp->secondary(seg);
    secondary_bytes_ = secondary_bytes_ - before + f.tcp->secondary_bytes();
    after_tcp(f);
  } else {
    secondary_bytes_ += of.content.size();
    f.s_pending.push_back(std::move(of.content));
    match_datagrams(f);
  }
  touched_.insert(of.key);
}

void Comparator::match_datagrams(Flow& f) {
  while (!f.diverged && f.unmatched > 0 && !f.s_pending.empty()) {
    Held& h = f.held[f.held.size() - f.unmatched];
    const std::vector<uint8_t>& s = f.s_pending.front();
    if (h.content != s) {
      std::string what = std::string(unit_name(f.key.kind)) + " differs";
      if (h.content.size() != s.size()) {
        what += " in length: " + group_digits(h.content.size()) + " bytes on the primary, " +
                group_digits(s.size()) + " on the secondary";
      } else {
        auto at = std::mismatch(h.content.begin(), h.content.end(), s.begin()).first;
        what += " at byte " + group_digits(static_cast<uint64_t>(at - h.content.begin()));
      }
      diverge(f, DivergenceKind::content, what);
      return;
    }
    h.matched = true;
    f.unmatched--;
    secondary_bytes_ -= s.size();
    f.s_pending.pop_front();
  }
}

void Comparator::after_tcp(Flow& f) {
  if (const auto& m = f.tcp->mismatch()) diverge(f, m->kind, m->what);
  if (f.tcp->mapped() && !f.mapping_sent) {
    f.mapping_sent = true;
    FlowMapping m{f.key.addr, f.tcp->seq_offset(), f.tcp->ts_offset()};
    if (m.seq != 0 || m.ts != 0) {
      map_.set(m);
      updates_.push_back(m);
    }
  }
}

void Comparator::diverge(Flow& f, DivergenceKind kind, const std::string& what) {
  if (f.diverged) return;
  f.diverged = true;
  divergences_[static_cast<size_t>(kind)]++;
  if (!divergence_) divergence_ = Divergence{kind, describe(f.key), describe(f.key) + ": " + what};
}

bool Comparator::held_matched(const Flow& f, const Held& h) const {
  if (f.diverged) return false;
  return f.tcp ? f.tcp->matched(h.mark) : h.matched;
}

std::vector<Comparator::Frame> Comparator::take_releasable() {
  std::vector<std::pair<uint64_t, Frame>> out;
  for (const FlowKey& key : touched_) {
    auto it = flows_.find(key);
    if (it == flows_.end()) continue;
    Flow& f = it->second;
    while (!f.held.empty() && held_matched(f, f.held.front())) {
      Held& h = f.held.front();
      matched_frames_++;
      matched_bytes_ += h.frame.size();
      held_frames_--;
      held_bytes_ -= h.frame.size();
      out.emplace_back(h.order, std::move(h.frame));
      f.held.pop_front();
    }
    maybe_remove(it);
  }
  touched_.clear();
  return in_order(std::move(out));
}

void Comparator::maybe_remove(std::map<FlowKey, Flow>::iterator it) {
  Flow& f = it->second;
  if (f.diverged || !f.held.empty()) return;
  if (f.tcp) {
    if (!f.tcp->closed()) return;
    if (map_.find(f.key.addr)) {
      map_.erase(f.key.addr);
      updates_.push_back(FlowMapping{f.key.addr, 0, 0});
    }
    secondary_bytes_ -= f.tcp->secondary_bytes();
  } else if (!f.s_pending.empty()) {
    return;
  }
  flows_.erase(it);
}

bool Comparator::to_secondary(uint8_t* frame, size_t len) {
  FlowKey key;
  key.kind = FlowKind::tcp;
  TcpSegment seg;
  if (!tcp_tuple(frame, len, false, &key.addr) || !parse_tcp_segment(frame, len, &seg)) return false;
  bool changed = map_.inbound(frame, len);
  auto it = flows_.find(key);
  if (it != flows_.end()) {
    it->second.tcp->inbound(seg);  // read before the rewrite: the client's numbers
    touched_.insert(key);
  }
  return changed;
}

const Comparator::Held* Comparator::oldest_unmatched_held(const Flow** flow) const {
  const Held* held = nullptr;
  for (const auto& [key, f] : flows_) {
    for (const Held& h : f.held) {
      if (held_matched(f, h)) continue;
      if (!held || h.at < held->at) {
        held = &h;
        *flow = &f;
      }
      break;
    }
  }
  return held;
}

std::chrono::nanoseconds Comparator::oldest_unmatched(TimePoint now, std::string* what) const {
  const Flow* flow = nullptr;
  const Held* held = oldest_unmatched_held(&flow);
  if (what && held) *what = describe(flow->key) + ": " + describe_held(*flow, *held) + " unmatched";
  if (!held || now < held->at) return std::chrono::nanoseconds(0);
  return now - held->at;
}

std::optional<Comparator::TimePoint> Comparator::oldest_unmatched_at() const {
  const Flow* flow = nullptr;
  const Held* held = oldest_unmatched_held(&flow);
  if (!held) return std::nullopt;
  return held->at;
}

bool Comparator::work_pending() const {
  if (divergence_ || !updates_.empty()) return true;
  for (const FlowKey& key : touched_) {
    auto it = flows_.find(key);
    if (it == flows_.end()) continue;
    const Flow& f = it->second;
    if (!f.held.empty() ? held_matched(f, f.held.front()) : f.tcp && f.tcp->closed() && map_.find(key.addr))
      return true;
  }
  return false;
}

std::vector<Comparator::Frame> Comparator::resynced() {
  std::vector<std::pair<uint64_t, Frame>> out;
  for (auto it = flows_.begin(); it != flows_.end();) {
    Flow& f = it->second;
    for (Held& h : f.held) out.emplace_back(h.order, std::move(h.frame));
    if (!f.tcp || !f.tcp->resynced()) {
      it = flows_.erase(it);
      continue;
    }
    f.held.clear();
    f.diverged = false;
    f.mapping_sent = true;  // offsets are 0 from now on
    ++it;
  }
  touched_.clear();
  map_.clear();
  updates_.clear();
  divergence_.reset();
  held_frames_ = held_bytes_ = secondary_bytes_ = 0;
  return in_order(std::move(out));
}

std::vector<FlowMapping> Comparator::take_mapping_updates() { return std::exchange(updates_, {}); }

ComparatorStats Comparator::stats() const {
  ComparatorStats s;
  s.matched_frames = matched_frames_;
  s.matched_bytes = matched_bytes_;
  s.held_frames = held_frames_;
  s.held_bytes = held_bytes_;
  s.secondary_bytes = secondary_bytes_;
  s.divergences = divergences_;
  return s;
}

}  // namespace tandem::ft
