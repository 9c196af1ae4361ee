#include "mem/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tandem::mem {

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(uint64_t base, uint64_t size) {
  if (size == 0 || size % kPageSize != 0)
    return Error("guest RAM size " + std::to_string(size) + " is not a positive multiple of 4 KiB");
  if (base % kPageSize != 0) return Error("guest RAM base is not page aligned");
  // MAP_NORESERVE: untouched guest RAM costs the host nothing.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return sys_error("map " + std::to_string(size >> 20) + " MiB of guest RAM");
  return std::unique_ptr<GuestMemory>(new GuestMemory(base, size, static_cast<uint8_t*>(p)));
}

GuestMemory::GuestMemory(uint64_t base, uint64_t size, uint8_t* host)
    : base_(base),
      size_(size),
      pages_(size >> kPageShift),
      host_(host),
      dirty_(pages_),
      accessed_(pages_),
      protected_(pages_),
      absent_(pages_),
      code_(pages_),
      populated_(pages_),
      history_(pages_) {}

GuestMemory::~GuestMemory() { munmap(host_, size_); }

Status GuestMemory::load(size_t page) const {
  if (!absent_.test(page)) return Ok();
  if (loader_) loader_(page);
  if (absent_.test(page)) {
    char gpa[32];
    std::snprintf(gpa, sizeof gpa, "0x%llx", static_cast<unsigned long long>(page_gpa(page)));
    return Error(std::string("guest page ") + gpa + " could not be loaded");
  }
  return Ok();
}

void GuestMemory::ensure_present(size_t page) {
  if (!absent_.test(page)) return;
  if (!load(page).ok()) {
    // The loader said why; running on would let the guest see wrong
    // memory, so end the process here, cleanly.
    std::fprintf(stderr, "tandem: fatal: guest page 0x%llx could not be loaded; stopping the VM\n",
                 static_cast<unsigned long long>(page_gpa(page)));
    std::_Exit(1);
  }
}

void GuestMemory::note_access(size_t page) {
  if (!tracing_) return;
  if (!accessed_.set(page)) {
    std::lock_guard<std::mutex> lock(trace_mu_);
    active_order_.push_back(static_cast<uint32_t>(page));
  }
}

uint8_t* GuestMemory::prepare_read(uint64_t gpa) {
  if (!contains(gpa)) return nullptr;
  size_t page = page_of(gpa);
  ensure_present(page);
  note_access(page);
  return host_ + (gpa - base_);
}

uint8_t* GuestMemory::prepare_write(uint64_t gpa) {
  if (!contains(gpa)) return nullptr;
  size_t page = page_of(gpa);
  ensure_present(page);
  if (protected_.test(page)) {
    if (write_hook_) write_hook_(page);
    protected_.clear(page);
  }
  if (code_.test(page)) {
    code_.clear(page);
    for (auto* l : listeners_) l->invalidate_code(page_gpa(page));
  }
  dirty_.set(page);
  note_access(page);
  return host_ + (gpa - base_);
}

Status GuestMemory::read(uint64_t gpa, void* dst, size_t len) {
  if (!contains(gpa, len)) return Error("guest read outside RAM at 0x" + std::to_string(gpa));
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    size_t chunk = std::min<uint64_t>(len, kPageSize - (gpa & (kPageSize - 1)));
    std::memcpy(out, prepare_read(gpa), chunk);
    gpa += chunk;
    out += chunk;
    len -= chunk;
  }
  return Ok();
}

Status GuestMemory::write(uint64_t gpa, const void* src, size_t len) {
  if (!contains(gpa, len)) return Error("guest write outside RAM at 0x" + std::to_string(gpa));
  auto* in = static_cast<const uint8_t*>(src);
  while (len > 0) {
    size_t chunk = std::min<uint64_t>(len, kPageSize - (gpa & (kPageSize - 1)));
    std::memcpy(prepare_write(gpa), in, chunk);
    gpa += chunk;
    in += chunk;
    len -= chunk;
  }
  return Ok();
}

std::vector<uint32_t> GuestMemory::end_epoch() {
  // The dirty bits go into populated_ before they are cleared, so that
  // is_populated() seen from another thread never misses a page, and
  // again after, for a bit set in between: one pass over the words.
  std::vector<uint32_t> pages = dirty_.take(&populated_);
  const auto ending = static_cast<uint32_t>(epoch_);
  for (uint32_t p : pages) {
    History& h = history_[p];
    const uint32_t age = ending - h.last;  // a never-dirtied page has bits 0
    h.bits = static_cast<uint16_t>((age >= kHistoryEpochs ? 0u : unsigned{h.bits} << age) | 1u);
    h.last = ending;
  }
  epoch_++;
  flush_tlbs();
  return pages;
}

uint16_t GuestMemory::history(size_t page) const {
  const History& h = history_[page];
  if (h.bits == 0) return 0;
  const uint64_t age = epoch_ - 1 - h.last;  // epochs ended since `last` ended
  return age >= kHistoryEpochs ? 0 : static_cast<uint16_t>(unsigned{h.bits} << age);
}

std::vector<uint32_t> GuestMemory::populated_pages() const {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < dirty_.word_count(); i++) {
    uint64_t w = dirty_.word(i);  // dirty first, as in is_populated()
    w |= populated_.word(i);
    for (; w; w &= w - 1) out.push_back(static_cast<uint32_t>(i * 64 + std::countr_zero(w)));
  }
  return out;
}

void GuestMemory::start_trace() {
  {
    std::lock_guard<std::mutex> lock(trace_mu_);
    active_order_.clear();
  }
  accessed_.clear_all();
  tracing_ = true;
  flush_tlbs();
}

std::vector<uint32_t> GuestMemory::stop_trace() {
  tracing_ = false;
  std::lock_guard<std::mutex> lock(trace_mu_);
  return active_order_;
}

std::vector<uint32_t> GuestMemory::active_pages() const {
  std::lock_guard<std::mutex> lock(trace_mu_);
  return active_order_;
}

void GuestMemory::set_write_hook(std::function<void(size_t)> hook) { write_hook_ = std::move(hook); }

void GuestMemory::protect(const std::vector<uint32_t>& pages) {
  for (uint32_t p : pages) protected_.set(p);
  flush_tlbs();
}

void GuestMemory::protect_all() {
  protected_.set_all();
  flush_tlbs();
}

void GuestMemory::set_loader(std::function<void(size_t)> loader) { loader_ = std::move(loader); }

void GuestMemory::mark_absent_all() {
  absent_.set_all();
  flush_tlbs();
}

void GuestMemory::mark_absent_only(std::span<const uint64_t> words) {
  assert(words.size() == absent_.word_count());
  for (size_t i = 0; i < words.size(); i++) {
    absent_.set_word(i, words[i]);
    if (words[i]) populated_.or_word(i, words[i]);
  }
  flush_tlbs();
}

void GuestMemory::add_listener(MemoryListener* l) { listeners_.push_back(l); }

void GuestMemory::remove_listener(MemoryListener* l) {
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), l), listeners_.end());
}

void GuestMemory::flush_tlbs() {
  for (auto* l : listeners_) l->flush_tlb();
}

}  // namespace tandem::mem
