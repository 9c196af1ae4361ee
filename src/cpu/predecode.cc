// Decoding ahead of the hart (hart.h, "Decoding ahead"). After a restore
// the block cache is empty and the guest's first request runs at decode
// speed: about 6,000 blocks decoded in the first 6 ms of a restored HTTP
// guest. offer_blocks() moves that work to another thread; the hart only
// checks and links what it is given.
//
// The offering thread reads guest memory that the hart may be writing, so
// it decodes from a private copy and hands the copy over with the block.
// adopt_offered() runs on the vCPU thread: it marks the page as code first
// (from then on every store to it invalidates the page's blocks), then
// compares the copy with memory; a block whose bytes changed is dropped
// and will be decoded afresh when the guest gets there.
#include <algorithm>
#include <cstring>

#include "cpu/hart.h"

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
}

std::vector<uint64_t> Hart::take_block_log() {
  logging_ = false;
  return std::move(block_log_);
}

size_t Hart::offer_blocks(std::span<const uint64_t> gpas) {
  // Decode everything into one buffer first, then lay the blocks out in
  // one pool allocation of exactly their size.
  struct Decoded {
    uint64_t gpa;
    size_t first, n;
    uint32_t count, bytes;
  };
  std::vector<Decoded> decoded;
  std::vector<Insn> insns;
  OfferBatch batch;
  decoded.reserve(gpas.size());
  batch.bytes.reserve(gpas.size() * kOfferBytes);
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
    batch.bytes.insert(batch.bytes.end(), copy, copy + kOfferBytes);
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
  std::lock_guard<std::mutex> lock(offer_mu_);
  offered_.push_back(std::move(batch));
  has_offered_.store(true, std::memory_order_release);
  return decoded.size();
}

void Hart::adopt_offered() {
  std::vector<OfferBatch> batches;
  {
    std::lock_guard<std::mutex> lock(offer_mu_);
    batches.swap(offered_);
    has_offered_.store(false, std::memory_order_relaxed);
  }
  for (OfferBatch& q : batches) {
    for (size_t k = 0; k < q.blocks.size(); k++) {
      Block* b = q.blocks[k];
      const size_t page = ram_.page_of(b->gpa);
      const size_t start = b->gpa & 0xfff;
      // The bytes decode read: the block's, and the upper half a final
      // compressed instruction was fetched with.
      const size_t n = std::min<size_t>(b->bytes + 2, mem::kPageSize - start);
      if (table_find(b->gpa) || ram_.is_absent(page)) continue;  // stays in the pool, unused
      if (ram_.mark_code(page)) drop_write_entries_for(ram_.page_host(page));
      const uint8_t* host = ram_.page_host(page) + start;
      if (std::memcmp(host, q.bytes.data() + k * kOfferBytes, n) != 0) continue;  // written since
      b->host = host;
      register_block(b);
      blocks_adopted_++;
    }
    pools_.push_back(std::move(q.pool));
  }
}

}  // namespace tandem::cpu
