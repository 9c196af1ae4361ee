// Decoded code per guest page, kept coherent with stores (hart.h,
// "decoded code per page"). Each page holding blocks has a bitmap of the
// halfwords their instructions were decoded from. Only a write overlapping
// one of them drops blocks, and only the blocks it overlaps; any other
// write to the page (data next to code: firmware, RTOS images, JITs) goes
// through a code write TLB entry after its first slow-path store.
#include <algorithm>

#include "cpu/hart.h"
#include "cpu/jit_code.h"
#include "cpu/smp_sync.h"

namespace tandem::cpu {

void Hart::mark_halfwords(uint64_t* halfwords, uint64_t offset, uint64_t len) {
  if (len == 0) return;
  const uint64_t first = offset >> 1, last = (offset + len - 1) >> 1;
  for (uint64_t w = first >> 6; w <= last >> 6; ++w) halfwords[w] |= halfword_mask(w, first, last);
}

void Hart::register_block(Block* b) {
  table_insert(b->gpa, b);
  const uint64_t page_gpa = b->gpa & ~uint64_t{0xfff};
  auto it = code_pages_.find(page_gpa);
  if (it == code_pages_.end()) {
    claim_code_pages({&page_gpa, 1});
    it = code_pages_.find(page_gpa);
  }
  // The halfwords are marked before the block can run, so a store
  // through a code write entry sees them at once.
  CodePage& cp = it->second;
  cp.blocks.push_back(b);
  mark_halfwords(cp.halfwords, b->gpa & 0xfff, b->bytes);
}

// The peers' stores to the pages must reach GuestMemory from now on
// (set_peers), and ours through code write entries. With harts on threads
// the peers stand between blocks meanwhile, so none of their stores is
// half done, and the bytes read after this are the ones later writes are
// checked against.
void Hart::claim_code_pages(std::span<const uint64_t> page_gpas) {
  if (sync_) sync_->begin();
  std::vector<const uint8_t*> fresh, marked;
  for (uint64_t page_gpa : page_gpas) {
    if (!code_pages_.try_emplace(page_gpa).second) continue;
    const size_t page = ram_.page_of(page_gpa);
    fresh.push_back(ram_.page_host(page));
    if (ram_.mark_code(page)) marked.push_back(ram_.page_host(page));
  }
  drop_write_entries_for(marked);
  if (!fresh.empty())
    for (Hart* p : peers_) p->drop_store_entries_for(fresh);
  if (sync_) sync_->end();
}

// GuestMemory calls this before the write lands, for every write to a page
// marked as code: the hart's own slow-path stores, device DMA and
// page-table A/D updates.
bool Hart::invalidate_code(uint64_t gpa, uint64_t len) {
  auto it = code_pages_.find(gpa & ~uint64_t{0xfff});
  if (it == code_pages_.end()) return false;
  if (it->second.blocks.empty()) {  // claimed, but no block was registered
    code_pages_.erase(it);
    return false;
  }
  if (overlaps_code(it->second.halfwords, gpa & 0xfff, len)) unregister_blocks(gpa, len);
  return code_pages_.count(gpa & ~uint64_t{0xfff}) != 0;
}

// Drops the blocks of gpa's page whose bytes overlap [gpa, gpa + len),
// then clears the halfwords they covered and marks again those of the
// blocks left that share them (blocks may overlap: one can start at a
// branch target inside another).
void Hart::unregister_blocks(uint64_t gpa, uint64_t len) {
  auto it = code_pages_.find(gpa & ~uint64_t{0xfff});
  CodePage& cp = it->second;
  uint64_t lo = mem::kPageSize, hi = 0;  // page offsets the dropped blocks covered
  std::erase_if(cp.blocks, [&](Block* b) {
    if (b->gpa >= gpa + len || gpa >= b->gpa + b->bytes) return false;
    lo = std::min<uint64_t>(lo, b->gpa & 0xfff);
    hi = std::max<uint64_t>(hi, (b->gpa & 0xfff) + b->bytes);
    table_erase(b->gpa);
    if (b == cur_block_) cur_block_dead_ = true;
    // No jump-cache entry matches a block without host bytes; the entries
    // are cleared when dead blocks are freed, between blocks and a batch at
    // a time: a pass over the jump cache per write cost a Linux boot 20 %
    // more host instructions (kernel pages once holding code, reused for
    // data, lose a block or two per store).
    b->host = nullptr;
    // Direct jumps into its translation would skip that test.
    if (b->jit) jit_code_->unlink_into(reinterpret_cast<const uint8_t*>(b->jit) + JitCode::kLinkOffset);
    dead_.push_back(b);
    return true;
  });
  if (dead_.size() >= kDeadBatch) attention_.fetch_or(kAttnDead, std::memory_order_relaxed);
  if (cp.blocks.empty()) {
    drop_code_write_entries(cp.halfwords);
    code_pages_.erase(it);
    return;
  }
  const uint64_t first = lo >> 1, last = (hi - 1) >> 1;
  for (uint64_t w = first >> 6; w <= last >> 6; ++w) cp.halfwords[w] &= ~halfword_mask(w, first, last);
  for (const Block* b : cp.blocks) {
    const uint64_t start = b->gpa & 0xfff;
    if (start < hi && lo < start + b->bytes) mark_halfwords(cp.halfwords, start, b->bytes);
  }
}

}  // namespace tandem::cpu
