#include "dev/plic.h"

#include <string>

namespace tandem::dev {

Plic::Plic(unsigned harts)
    : enable_(2 * harts, Bits{}),
      threshold_(2 * harts, 0),
      out_(2 * harts),
      out_level_(2 * harts, 0) {}

void Plic::connect(unsigned ctx, IrqLine line) {
  std::lock_guard<std::mutex> lock(mu_);
  out_.at(ctx) = line;
  update(true);
}

void Plic::set_irq(unsigned line, bool level) {
  if (line == 0 || line >= kPlicSources) return;  // source 0 does not exist
  std::lock_guard<std::mutex> lock(mu_);
  if (test(level_, line) == level) return;
  put(level_, line, level);
  update();
}

bool Plic::pending(unsigned src) const {
  std::lock_guard<std::mutex> lock(mu_);
  return src < kPlicSources && ((pending_word(src / 32) >> (src % 32)) & 1);
}

unsigned Plic::best(unsigned ctx) const {
  unsigned id = 0;
  uint32_t prio = threshold_[ctx];
  for (unsigned w = 0; w < kPlicWords; w++) {
    uint32_t cand = pending_word(w) & enable_[ctx][w];
    while (cand) {
      unsigned src = w * 32 + static_cast<unsigned>(__builtin_ctz(cand));
      cand &= cand - 1;
      if (priority_[src] > prio) {  // strictly greater: keeps the lowest ID on ties
        prio = priority_[src];
        id = src;
      }
    }
  }
  return id;
}

unsigned Plic::claim(unsigned ctx) {
  unsigned src = best(ctx);
  // The claim clears the pending bit; the gateway forwards no new request
  // for the source until its completion (PLIC spec "Interrupt Claim
  // Process", "Interrupt Gateways").
  if (src) put(claimed_, src, true);
  update();
  return src;
}

void Plic::complete(unsigned ctx, uint32_t src) {
  // A completion for a source not enabled for the context is silently
  // ignored (PLIC spec "Interrupt Completion"); Linux relies on this.
  if (src == 0 || src >= kPlicSources || !test(enable_[ctx], src)) return;
  put(claimed_, src, false);
  update();  // a still-high level is pending again
}

void Plic::update(bool force) {
  for (unsigned ctx = 0; ctx < out_.size(); ctx++) {
    bool level = best(ctx) != 0;
    if (!force && out_level_[ctx] == level) continue;
    out_level_[ctx] = level;
    out_[ctx].set(level);
  }
}

bool Plic::load(uint64_t offset, unsigned size, uint64_t* value) {
  *value = 0;
  if (size != 4 || offset % 4) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (offset < kPlicPendingBase) {
    uint64_t src = offset / 4;
    if (src < kPlicSources) *value = priority_[src];
  } else if (offset < kPlicEnableBase) {
    uint64_t w = (offset - kPlicPendingBase) / 4;
    if (w < kPlicWords) *value = pending_word(static_cast<unsigned>(w));
  } else if (offset < kPlicContextBase) {
    uint64_t ctx = (offset - kPlicEnableBase) / kPlicEnableStride;
    uint64_t w = (offset - kPlicEnableBase) % kPlicEnableStride / 4;
    if (ctx < enable_.size() && w < kPlicWords) *value = enable_[ctx][w];
  } else {
    uint64_t ctx = (offset - kPlicContextBase) / kPlicContextStride;
    uint64_t reg = (offset - kPlicContextBase) % kPlicContextStride;
    if (ctx >= threshold_.size()) return true;
    if (reg == kPlicThreshold) *value = threshold_[ctx];
    if (reg == kPlicClaimComplete) *value = claim(static_cast<unsigned>(ctx));
  }
  return true;
}

bool Plic::store(uint64_t offset, unsigned size, uint64_t value) {
  if (size != 4 || offset % 4) return false;
  uint32_t v = static_cast<uint32_t>(value);
  std::lock_guard<std::mutex> lock(mu_);
  if (offset < kPlicPendingBase) {
    uint64_t src = offset / 4;
    if (src == 0 || src >= kPlicSources) return true;  // source 0: hardwired zero
    priority_[src] = v & kPlicPriorityMask;            // WARL
    update();
  } else if (offset < kPlicEnableBase) {
    // Pending bits are read-only.
  } else if (offset < kPlicContextBase) {
    uint64_t ctx = (offset - kPlicEnableBase) / kPlicEnableStride;
    uint64_t w = (offset - kPlicEnableBase) % kPlicEnableStride / 4;
    if (ctx >= enable_.size() || w >= kPlicWords) return true;
    enable_[ctx][w] = w == 0 ? v & ~1u : v;  // source 0 cannot be enabled
    update();
  } else {
    uint64_t ctx = (offset - kPlicContextBase) / kPlicContextStride;
    uint64_t reg = (offset - kPlicContextBase) % kPlicContextStride;
    if (ctx >= threshold_.size()) return true;
    if (reg == kPlicThreshold) {
      threshold_[ctx] = v & kPlicPriorityMask;
      update();
    } else if (reg == kPlicClaimComplete) {
      complete(static_cast<unsigned>(ctx), v);
    }
  }
  return true;
}

Plic::State Plic::save() const {
  std::lock_guard<std::mutex> lock(mu_);
  return State{priority_, level_, claimed_, enable_, threshold_};
}

Status Plic::check(const State& s) const {
  if (s.enable.size() != enable_.size())
    return Error("plic state: enable has " + std::to_string(s.enable.size()) +
                 " contexts, expected " + std::to_string(enable_.size()));
  if (s.threshold.size() != threshold_.size())
    return Error("plic state: threshold has " + std::to_string(s.threshold.size()) +
                 " contexts, expected " + std::to_string(threshold_.size()));
  if (s.priority[0] != 0) return Error("plic state: priority[0] must be 0");
  for (unsigned i = 0; i < kPlicSources; i++)
    if (s.priority[i] > kPlicPriorityMask)
      return Error("plic state: priority[" + std::to_string(i) + "] = " +
                   std::to_string(s.priority[i]) + " exceeds 7");
  for (size_t c = 0; c < s.threshold.size(); c++) {
    if (s.threshold[c] > kPlicPriorityMask)
      return Error("plic state: threshold[" + std::to_string(c) + "] exceeds 7");
    if (s.enable[c][0] & 1) return Error("plic state: enable[" + std::to_string(c) + "] has source 0");
  }
  if ((s.level[0] | s.claimed[0]) & 1) return Error("plic state: level/claimed has source 0");
  return Ok();
}

Status Plic::restore(const State& s) {
  TANDEM_TRY(check(s));
  std::lock_guard<std::mutex> lock(mu_);
  priority_ = s.priority;
  level_ = s.level;
  claimed_ = s.claimed;
  enable_ = s.enable;
  threshold_ = s.threshold;
  update(true);
  return Ok();
}

}  // namespace tandem::dev
