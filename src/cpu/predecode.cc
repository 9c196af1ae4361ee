// Decoding ahead of the hart (hart.h, "Decoding ahead"). After a restore
// the block cache is empty and the guest's first request runs at decode
// speed: about 6,000 blocks decoded in the first 6 ms of a restored HTTP
// guest. offer_blocks() moves that work to another thread; the hart only
// checks and links what it is given.
//
// The offering thread reads guest memory that the hart may be writing, so
// it decodes from a private copy and hands the copy over with the block.
// adopt_offered() runs on the hart's thread: it claims the pages first
// (claim_code_pages: from then on every write to them is checked against
// the decoded bytes), then compares the copy with memory; a block whose bytes changed
// is dropped and will be decoded afresh when the guest gets there.
#include <algorithm>
#include <cstring>

#include "cpu/hart.h"
#include "cpu/jit_code.h"

namespace tandem::cpu {

// Every entry into a block goes through find_block() until the jump cache
// holds it: emptying the jump cache makes find_block() see each block's
// first entry, and the epoch keeps a block from being listed twice.
void Hart::start_block_log() {
  logging_ = true;
  log_epoch_++;
  block_log_.clear();
  for (auto& j : jc_) {
    j.vpc = kNoVpn;
    j.block = nullptr;
  }
  // Direct jumps between translations bypass the jump cache too; they
  // are patched in again only for targets find_block() has seen.
  if (jit_code_) jit_code_->unlink_all();
}

std::vector<uint64_t> Hart::take_block_log() {
  logging_ = false;
  return std::move(block_log_);
}

std::vector<uint64_t> Hart::recent_blocks(size_t max) const {
  std::vector<std::pair<uint64_t, uint64_t>> found;  // (last_found, gpa)
  found.reserve(table_used_);
  for (const BlockSlot& slot : table_)
    if (slot.gpa != kNoVpn && !(logging_ && slot.block->log_epoch == log_epoch_))
      found.emplace_back(slot.block->last_found, slot.gpa);
  const size_t n = std::min(max, found.size());
  std::partial_sort(found.begin(), found.begin() + n, found.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<uint64_t> out;
  out.reserve(n);
  for (size_t i = 0; i < n; i++) out.push_back(found[i].second);
  return out;
}

size_t Hart::offer_blocks(std::span<const uint64_t> gpas) {
  // Decode everything into scratch space first, then lay the blocks out in
  // one pool allocation of exactly their size. The scratch buffers stay
  // with the thread: a restore's streamer offers batch after batch.
  struct Decoded {
    uint64_t gpa;
    size_t first, n;
    uint32_t count, bytes;
  };
  static thread_local std::vector<Decoded> decoded;
  static thread_local std::vector<Insn> insns;
  decoded.clear();
  insns.clear();
  OfferBatch batch;
  uint8_t copy[kOfferBytes];
  Insn tmp[kMaxBlockInsns + 1];
  size_t pool_size = 0;
  for (uint64_t gpa : gpas) {
    if ((gpa & 1) != 0 || !ram_.contains(gpa, 2)) continue;
    const size_t page = ram_.page_of(gpa);
    if (ram_.is_absent(page)) continue;
    const size_t start = gpa & 0xfff;
    const size_t len = std::min(kOfferBytes, mem::kPageSize - start);
    std::memcpy(copy, ram_.page_host(page) + start, len);
    std::memset(copy + len, 0, kOfferBytes - len);
    if (start == 0xffe && (copy[0] & 3) == 3) continue;  // never cached (decode_crossing)
    Decoded d{gpa, insns.size(), 0, 0, 0};
    d.n = decode_insns(gpa, copy, tmp, &d.count, &d.bytes);
    insns.insert(insns.end(), tmp, tmp + d.n);
    decoded.push_back(d);
    // What the hart compares: the block's bytes, and the upper half a
    // final compressed instruction was fetched with (inside the page).
    batch.bytes.insert(batch.bytes.end(), copy, copy + checked_bytes(gpa, d.bytes));
    pool_size += block_size(d.n);
  }
  if (decoded.empty()) return 0;
  batch.pool.reset(new uint8_t[pool_size]);
  batch.blocks.reserve(decoded.size());
  uint8_t* at = batch.pool.get();
  for (const Decoded& d : decoded) {
    batch.blocks.push_back(init_block(at, d.gpa, insns.data() + d.first, d.n, d.count, d.bytes, true));
    at += block_size(d.n);
  }
  const size_t offered = decoded.size();
  std::lock_guard<std::mutex> lock(offer_mu_);
  offered_.push_back(std::move(batch));
  has_offered_.store(true, std::memory_order_release);
  return offered;
}

void Hart::adopt_offered() {
  std::vector<OfferBatch> batches;
  {
    std::lock_guard<std::mutex> lock(offer_mu_);
    batches.swap(offered_);
    has_offered_.store(false, std::memory_order_relaxed);
  }
  size_t incoming = 0;
  for (const OfferBatch& q : batches) incoming += q.blocks.size();
  table_reserve(table_used_ + incoming);
  // The pages that become code are claimed together, before their bytes
  // are compared (one exclusive section when harts have threads).
  std::vector<uint64_t> claim;
  for (const OfferBatch& q : batches)
    for (const Block* b : q.blocks) {
      const uint64_t page_gpa = b->gpa & ~uint64_t{0xfff};
      if (!code_pages_.count(page_gpa) && !ram_.is_absent(ram_.page_of(b->gpa))) claim.push_back(page_gpa);
    }
  std::sort(claim.begin(), claim.end());
  claim.erase(std::unique(claim.begin(), claim.end()), claim.end());
  claim_code_pages(claim);
  for (OfferBatch& q : batches) {
    const uint8_t* expect = q.bytes.data();
    for (Block* b : q.blocks) {
      const size_t page = ram_.page_of(b->gpa);
      const size_t n = checked_bytes(b->gpa, b->bytes);
      const uint8_t* copy = expect;
      expect += n;
      if (table_find(b->gpa) || ram_.is_absent(page) || !code_pages_.count(b->gpa & ~uint64_t{0xfff}))
        continue;  // stays in the pool, unused
      const uint8_t* host = ram_.page_host(page) + (b->gpa & 0xfff);
      if (std::memcmp(host, copy, n) != 0) continue;  // written since it was copied
      b->host = host;
      register_block(b);
      blocks_adopted_++;
    }
    pools_.push_back(std::move(q.pool));
  }
}

}  // namespace tandem::cpu
