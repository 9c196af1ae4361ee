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

void GuestMemory::release_pages(std::span<const uint32_t> pages) {
  for (size_t i = 0; i < pages.size();) {
    size_t j = i + 1;  // one madvise per run of consecutive pages
    while (j < pages.size() && pages[j] == pages[j - 1] + 1) j++;
    (void)madvise(host_ + uint64_t{pages[i]} * kPageSize, (j - i) * kPageSize, MADV_DONTNEED);
    for (size_t k = i; k < j; k++) populated_.clear(pages[k]);
    i = j;
  }
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
      populated_(pages_) {}

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

uint8_t* GuestMemory::prepare_write(uint64_t gpa, uint64_t len) {
  if (!contains(gpa)) return nullptr;
  size_t page = page_of(gpa);
  ensure_present(page);
  if (protected_.test(page)) run_write_hooks(page);
  if (code_.test(page)) {
    const uint64_t n = std::clamp<uint64_t>(len, 1, kPageSize - (gpa & (kPageSize - 1)));
    bool still_code = false;
    for (auto* l : listeners_) still_code |= l->invalidate_code(gpa, n);
    if (!still_code) code_.clear(page);
  }
  dirty_.set(page);
  note_access(page);
  return host_ + (gpa - base_);
}

void GuestMemory::load_pages(std::span<const uint32_t> pages, const uint8_t* data) {
  size_t code_pages = 0;
  for (uint32_t page : pages) code_pages += code_.test(page);
  if (code_pages > kDropCodePages) {
    for (auto* l : listeners_) l->drop_code();
    code_.clear_all();
  }
  for (size_t i = 0; i < pages.size(); i++) {
    const size_t page = pages[i];
    if (protected_.test(page)) {
      ensure_present(page);  // a hook copies what the page held
      run_write_hooks(page);
    }
    if (code_.test(page)) {
      bool still_code = false;
      for (auto* l : listeners_) still_code |= l->invalidate_code(page_gpa(page), kPageSize);
      if (!still_code) code_.clear(page);
    }
    std::memcpy(page_host(page), data + i * kPageSize, kPageSize);
    absent_.clear(page);
    populated_.set(page);
  }
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
    ExclusiveSection* ex = code_write_exclusive_ && code_.test(page_of(gpa)) ? code_write_exclusive_ : nullptr;
    if (ex) ex->begin();
    std::memcpy(prepare_write(gpa, chunk), in, chunk);
    if (ex) ex->end();
    gpa += chunk;
    in += chunk;
    len -= chunk;
  }
  return Ok();
}

void GuestMemory::run_write_hooks(size_t page) {
  // A second hart writing the page waits here until the first one's hooks
  // copied it, and then finds nothing left to do.
  std::lock_guard<std::mutex> lock(hooks_mu_);
  for (WriteHook* h : hooks_)
    if (h->pages_.test(page)) {
      h->fn_(page);
      h->pages_.clear(page);
    }
  protected_.clear(page);
}

std::unique_ptr<WriteHook> GuestMemory::add_write_hook(std::string owner,
                                                      std::function<void(size_t)> hook) {
  std::unique_ptr<WriteHook> h(new WriteHook(*this, std::move(owner), std::move(hook), pages_));
  hooks_.push_back(h.get());
  return h;
}

std::unique_ptr<DirtyLog> GuestMemory::open_dirty_log(std::string owner) {
  std::unique_ptr<DirtyLog> log(new DirtyLog(*this, std::move(owner), pages_));
  std::lock_guard<std::mutex> lock(logs_mu_);
  // What was written before it opened goes to the other logs, not to it.
  harvest(nullptr);
  logs_.push_back(log.get());
  flush_tlbs();
  return log;
}

void GuestMemory::close_dirty_log(DirtyLog* log) {
  std::lock_guard<std::mutex> lock(logs_mu_);
  logs_.erase(std::remove(logs_.begin(), logs_.end(), log), logs_.end());
}

namespace {
// Where two threads harvest faster (harvest_threads_ 0): from this many
// bitmap words (16 GiB of guest RAM), with this many dirty pages in the
// log's last epoch: fewer, and waking the worker costs more than half the
// scan; more, and the work is bound by memory, which a second core does
// not speed up (docs/performance.md, "Parallel dirty scan").
constexpr size_t kSplitMinWords = 65536;
constexpr size_t kSplitMinPages = 5000;
constexpr size_t kSplitMaxPages = 50000;
}  // namespace

bool GuestMemory::split_harvest(const DirtyLog* taker) const {
  if (harvest_threads_) return harvest_threads_ >= 2;
  return taker && dirty_.word_count() >= kSplitMinWords && taker->last_count_ >= kSplitMinPages &&
         taker->last_count_ <= kSplitMaxPages;
}

HarvestWorker* GuestMemory::worker() {
  if (!worker_) worker_ = std::make_unique<HarvestWorker>();
  return worker_.get();
}

void GuestMemory::harvest_words(size_t from, size_t to, DirtyLog* taker, std::vector<uint32_t>& out) {
  // One pass over the words. A dirty word goes into populated_ before it
  // is cleared, so that is_populated() seen from another thread never
  // misses a page, and again after, for a bit set in between.
  for (size_t i = from; i < to; i++) {
    uint64_t w = 0;
    if (const uint64_t seen = dirty_.word(i)) {
      populated_.or_word(i, seen);
      w = dirty_.take_word(i);
      populated_.or_word(i, w);
      for (DirtyLog* l : logs_)
        if (l != taker && w) l->pending_.or_word(i, w);
    }
    if (taker && taker->pending_.word(i)) w |= taker->pending_.take_word(i);
    for (; w; w &= w - 1) out.push_back(static_cast<uint32_t>(i * 64 + std::countr_zero(w)));
  }
}

std::vector<uint32_t> GuestMemory::harvest(DirtyLog* taker) {
  std::vector<uint32_t> out;
  const size_t words = dirty_.word_count();
  if (!split_harvest(taker)) {
    harvest_words(0, words, taker, out);
    return out;
  }
  // Each thread its half of the words (every bitmap is word-indexed, so
  // the halves touch no word in common); the worker's pages, all above
  // this thread's, follow them.
  const size_t mid = words / 2;
  std::vector<uint32_t> upper;
  HarvestWorker* w = worker();
  w->start([&] { harvest_words(mid, words, taker, upper); });
  harvest_words(0, mid, taker, out);
  w->wait();
  out.insert(out.end(), upper.begin(), upper.end());
  return out;
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

// --- DirtyLog ---

DirtyLog::DirtyLog(GuestMemory& mem, std::string owner, size_t pages)
    : mem_(mem), owner_(std::move(owner)), pending_(pages), history_(pages) {}

DirtyLog::~DirtyLog() { mem_.close_dirty_log(this); }

std::vector<uint32_t> DirtyLog::end_epoch() {
  std::vector<uint32_t> pages;
  {
    std::lock_guard<std::mutex> lock(mem_.logs_mu_);
    pages = mem_.harvest(this);
  }
  note_epoch(pages);
  mem_.flush_tlbs();
  return pages;
}

void DirtyLog::note_epoch(const std::vector<uint32_t>& pages) {
  const auto ending = static_cast<uint32_t>(epoch_);
  auto note = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
      History& h = history_[pages[i]];
      const uint32_t age = ending - h.last;  // a never-dirtied page has bits 0
      h.bits = static_cast<uint16_t>((age >= kHistoryEpochs ? 0u : unsigned{h.bits} << age) | 1u);
      h.last = ending;
    }
  };
  if (mem_.split_harvest(this)) {
    // Each page once in the list: the halves update different entries.
    const size_t mid = pages.size() / 2;
    HarvestWorker* w = mem_.worker();
    w->start([&] { note(mid, pages.size()); });
    note(0, mid);
    w->wait();
  } else {
    note(0, pages.size());
  }
  last_count_ = pages.size();
  epoch_++;
}

uint16_t DirtyLog::history(size_t page) const {
  const History& h = history_[page];
  if (h.bits == 0) return 0;
  const uint64_t age = epoch_ - 1 - h.last;  // epochs ended since `last` ended
  return age >= kHistoryEpochs ? 0 : static_cast<uint16_t>(unsigned{h.bits} << age);
}

// --- WriteHook ---

WriteHook::WriteHook(GuestMemory& mem, std::string owner, std::function<void(size_t)> fn,
                     size_t pages)
    : mem_(mem), owner_(std::move(owner)), fn_(std::move(fn)), pages_(pages) {}

WriteHook::~WriteHook() {
  auto& hooks = mem_.hooks_;
  hooks.erase(std::remove(hooks.begin(), hooks.end(), this), hooks.end());
}

void WriteHook::protect(std::span<const uint32_t> pages) {
  for (uint32_t p : pages) {
    pages_.set(p);
    mem_.protected_.set(p);
  }
  mem_.flush_tlbs();
}

void WriteHook::protect_all() {
  pages_.set_all();
  mem_.protected_.set_all();
  mem_.flush_tlbs();
}

}  // namespace tandem::mem
