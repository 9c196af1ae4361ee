// Decoded code per guest page, kept coherent with stores (hart.h,
// "decoded code per page"). Each page holding blocks has a bitmap of the
// halfwords their instructions were decoded from. Only a write overlapping
// one of them drops blocks, and only the blocks it overlaps; any other
// write to the page (data next to code: firmware, RTOS images, JITs) goes
// through a code write TLB entry after its first slow-path store.
#include <algorithm>

#include "cpu/hart.h"

namespace tandem::cpu {

void Hart::mark_halfwords(uint64_t* halfwords, uint64_t offset, uint64_t len) {
  if (len == 0) return;
  for (uint64_t h = offset >> 1; h <= (offset + len - 1) >> 1; ++h) halfwords[h >> 6] |= uint64_t{1} << (h & 63);
}

void Hart::register_block(Block* b) {
  table_insert(b->gpa, b);
  // The halfwords are marked before the block can run, so a store
  // through a code write entry sees them at once.
  CodePage& cp = code_pages_.try_emplace(b->gpa & ~uint64_t{0xfff}).first->second;
  cp.blocks.push_back(b);
  mark_halfwords(cp.halfwords, b->gpa & 0xfff, b->bytes);
}

// GuestMemory calls this before the write lands, for every write to a page
// marked as code: the hart's own slow-path stores, device DMA and
// page-table A/D updates.
bool Hart::invalidate_code(uint64_t gpa, uint64_t len) {
  auto it = code_pages_.find(gpa & ~uint64_t{0xfff});
  if (it == code_pages_.end()) return false;
  if (overlaps_code(it->second.halfwords, gpa & 0xfff, len)) unregister_blocks(gpa, len);
  return code_pages_.count(gpa & ~uint64_t{0xfff}) != 0;
}

// Drops the blocks of gpa's page whose bytes overlap [gpa, gpa + len),
// then recomputes the page's halfwords from the blocks left (blocks may
// overlap: one can start at a branch target inside another).
void Hart::unregister_blocks(uint64_t gpa, uint64_t len) {
  const uint64_t page = gpa & ~uint64_t{0xfff};
  auto it = code_pages_.find(page);
  CodePage& cp = it->second;
  // Every block of the page that overlaps the range goes, so "in the page
  // and overlapping" also finds the jump-cache entries to clear.
  auto overlaps = [&](const Block* b) { return b->gpa < gpa + len && gpa < b->gpa + b->bytes; };
  std::erase_if(cp.blocks, [&](Block* b) {
    if (!overlaps(b)) return false;
    table_erase(b->gpa);
    if (b == cur_block_) cur_block_dead_ = true;
    dead_.push_back(b);  // freed between blocks: it may be executing now
    return true;
  });
  has_dead_ = true;
  for (auto& j : jc_)
    if (j.block && (j.block->gpa & ~uint64_t{0xfff}) == page && overlaps(j.block)) {
      j.vpc = kNoVpn;
      j.block = nullptr;
    }
  if (cp.blocks.empty()) {
    drop_code_write_entries(cp.halfwords);
    code_pages_.erase(it);
    return;
  }
  std::fill(std::begin(cp.halfwords), std::end(cp.halfwords), 0);
  for (const Block* b : cp.blocks) mark_halfwords(cp.halfwords, b->gpa & 0xfff, b->bytes);
}

}  // namespace tandem::cpu
