// Guest RAM: one host mapping plus per-page tracking bits (see
// docs/architecture.md, "Memory tracking").
//
//   dirty     written since the last harvest          (always kept; each
//             client's own log is a DirtyLog, mem/dirty_log.h)
//   accessed  read, written or fetched while tracing  (working-set trace)
//   protected a write must first call the owners' write hooks
//             (copy-on-write, mem/write_hook.h)
//   absent    contents not loaded: any access must first call the loader
//   code      the CPU decoded instructions from it    (self-modifying code)
//   populated may hold non-zero bytes: dirtied in some epoch, or filled
//             by a restore; every other page is still fresh zero memory
//
// Contract with the CPU: its TLB may hold a host pointer permitting a store
// only after prepare_write() on that page since the last harvest (so the page
// is dirty, unprotected and present), and a read pointer only after
// prepare_read() (accessed when tracing, present). A store through such a
// pointer to a page holding decoded code must first be checked against the
// decoded bytes by the CPU itself (its own business: the code bit).
// Anything that re-arms a bit (a client's end_epoch, start of a trace,
// protect, mark absent) calls MemoryListener::flush_tlb(), so the next access
// takes the slow path again. Re-arming is done with the vCPU stopped or on
// the vCPU thread; the bits themselves may be read and set from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/zeroed_array.h"
#include "mem/dirty_log.h"
#include "mem/harvest_worker.h"
#include "mem/page_bitmap.h"
#include "mem/write_hook.h"

namespace tandem::mem {

inline constexpr unsigned kPageShift = 12;
inline constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;

class MemoryListener {
 public:
  virtual ~MemoryListener() = default;
  // Drop every cached translation/permission (tracking was re-armed).
  virtual void flush_tlb() = 0;
  // Bytes [gpa, gpa + len) of a page marked as code (within that page)
  // are about to be written: drop decoded code they overlap. Returns
  // whether the listener still holds decoded code from the page.
  virtual bool invalidate_code(uint64_t gpa, uint64_t len) = 0;
  // Drop all decoded code: many code pages are replaced at once
  // (load_pages), where one sweep is cheaper than page by page.
  virtual void drop_code() = 0;
};

// Harts on host threads of their own (cpu::SmpSync): while begun, no hart
// executes, so their decoded code may be changed from this thread.
class ExclusiveSection {
 public:
  virtual ~ExclusiveSection() = default;
  virtual void begin() = 0;
  virtual void end() = 0;
};

class GuestMemory {
 public:
  static Result<std::unique_ptr<GuestMemory>> create(uint64_t base, uint64_t size);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  size_t page_count() const { return pages_; }
  uint8_t* host() const { return host_; }
  bool contains(uint64_t gpa, uint64_t len = 1) const {
    return gpa >= base_ && len <= size_ && gpa - base_ <= size_ - len;
  }
  size_t page_of(uint64_t gpa) const { return (gpa - base_) >> kPageShift; }
  uint64_t page_gpa(size_t page) const { return base_ + (uint64_t{page} << kPageShift); }
  uint8_t* page_host(size_t page) const { return host_ + (page << kPageShift); }

  // Slow paths: make `gpa`'s page ready for the access, set its bits and
  // return the host address of `gpa` (nullptr when outside RAM). `len`:
  // the bytes about to be written from `gpa`, within its page (by default
  // the rest of the page); decoded code they overlap is invalidated.
  uint8_t* prepare_read(uint64_t gpa);
  uint8_t* prepare_write(uint64_t gpa, uint64_t len = kPageSize);

  // Device (DMA) access, tracked exactly like the CPU's.
  Status read(uint64_t gpa, void* dst, size_t len);
  Status write(uint64_t gpa, const void* src, size_t len);
  // With harts on threads of their own: a write to a page holding decoded
  // code invalidates it and lands within one exclusive section, so no
  // hart decodes the old bytes again in between (the CPU's own stores do
  // the same, cpu/mmu.cc). Null (the default): one thread runs the harts.
  void set_code_write_exclusive(ExclusiveSection* s) { code_write_exclusive_ = s; }

  // --- dirty tracking and modification history ---
  // A client's own dirty log (mem/dirty_log.h), empty at first: it gets
  // the pages written from now on. On the vCPU thread or with it stopped.
  std::unique_ptr<DirtyLog> open_dirty_log(std::string owner);
  // Written since the last harvest (any client's end_epoch): the bit the
  // CPU's write TLB entries stand on. Not a client's dirty set.
  const PageBitmap& dirty() const { return dirty_; }
  // Threads a harvest (and a log's history update) runs on: 1, 2 (the
  // caller and a HarvestWorker, each taking half the bitmap's words and
  // half the pages), or 0 (the default): 2 only where measurement on the
  // 2-vCPU host said it is faster, a guest of 16 GiB or more whose log
  // had 5,000 to 50,000 dirty pages last epoch (the scan of clean words
  // dominates); a bigger dirty set is bound by memory and two threads were
  // slower, a smaller one pays more to wake the worker than it saves
  // (docs/performance.md, "Parallel dirty scan").
  void set_harvest_threads(unsigned n) { harvest_threads_ = n; }

  // --- populated pages ---
  // A page never populated reads zero, so a save may skip it without
  // reading it (reading untouched memory costs a host page fault per
  // page). Sticky. Kept off the CPU's path: the dirty bits (CPU, devices,
  // the boot loader) are folded in at each harvest and read alongside until
  // then; whoever fills pages behind the tracking (a restore) marks them.
  void mark_populated(size_t page) { populated_.set(page); }
  bool is_populated(size_t page) const {
    // Dirty first: a harvest sets the sticky bit before it clears dirty.
    return dirty_.test(page) || populated_.test(page);
  }
  // The populated pages, ascending.
  std::vector<uint32_t> populated_pages() const;
  // Gives the host back the memory of `pages` (ascending, none dirty),
  // which read zero and are not populated any more: a copy that was
  // handed on (a quasi-lockstep secondary's Backup).
  void release_pages(std::span<const uint32_t> pages);

  // --- working-set trace ---
  void start_trace();
  // Stops the trace and returns the pages touched, in order of first touch.
  std::vector<uint32_t> stop_trace();
  bool tracing() const { return tracing_; }
  std::vector<uint32_t> active_pages() const;
  const PageBitmap& accessed() const { return accessed_; }

  // --- write protection (copy-on-write) ---
  // Adds an owner's hook (mem/write_hook.h); it protects pages through the
  // returned handle, and the hook runs before the first write to one of
  // them lands. On the vCPU thread or with it stopped.
  std::unique_ptr<WriteHook> add_write_hook(std::string owner, std::function<void(size_t page)> hook);
  // Pages whose next write takes the slow path for some owner's hook.
  const PageBitmap& write_protected() const { return protected_; }

  // --- absent pages (lazy restore) ---
  // The loader fills the page and calls mark_present(); it runs on the
  // accessing thread before the access.
  void set_loader(std::function<void(size_t page)> loader);
  void mark_absent_all();
  // Exactly the pages whose bits are set in `words` (64 pages a word, as
  // PageBitmap) become absent, and populated: a lazy restore's pages that
  // hold data, at one store per 64 pages.
  void mark_absent_only(std::span<const uint64_t> words);
  void mark_present(size_t page) { absent_.clear(page); }
  bool is_absent(size_t page) const { return absent_.test(page); }
  // Makes `page` present, running the loader on this thread if it is
  // absent: whoever reads page_host() directly (a save) must first call
  // this, or it reads host memory that was never loaded. Const because what
  // the guest sees does not change, only whether it is in host memory.
  // Any thread; fails when the loader could not produce the page.
  Status load(size_t page) const;
  const PageBitmap& absent() const { return absent_; }

  // --- decoded code ---
  // Marks a page the CPU decoded instructions from; returns whether it was
  // newly marked. The caller drops its own write permissions for the page
  // (cheaper than flushing every TLB); a later write calls invalidate_code
  // with the range written, and the bit stays set until no listener holds
  // code from the page.
  bool mark_code(size_t page) { return !code_.set(page); }
  bool has_code(size_t page) const { return code_.test(page); }

  // --- contents from elsewhere ---
  // Replaces pages (indices from the base; the caller checks them) with
  // `data`, kPageSize bytes each in the same order, as a resync loads a
  // peer's pages into a running VM: write hooks run and listeners drop
  // the code decoded from them as for any write, absent pages become
  // present and all of them populated, but no dirty log sees them, since
  // this guest did not write them. vCPU thread, with the hart stopped.
  // When more than kDropCodePages of them hold decoded code, listeners
  // drop all their code at once (10,000 such pages: 0.3 ms instead of
  // 3.3 ms page by page, docs/performance.md).
  static constexpr size_t kDropCodePages = 1024;
  void load_pages(std::span<const uint32_t> pages, const uint8_t* data);

  void add_listener(MemoryListener* l);
  void remove_listener(MemoryListener* l);
  void flush_tlbs();

 private:
  GuestMemory(uint64_t base, uint64_t size, uint8_t* host);
  void ensure_present(size_t page);
  void note_access(size_t page);

  uint64_t base_;
  uint64_t size_;
  size_t pages_;
  uint8_t* host_;

  PageBitmap dirty_;
  PageBitmap accessed_;
  PageBitmap protected_;  // union of the write hooks' pages (or stale: see write_hook.h)
  PageBitmap absent_;
  PageBitmap code_;
  PageBitmap populated_;  // without the bits still in dirty_

  bool tracing_ = false;
  mutable std::mutex trace_mu_;
  std::vector<uint32_t> active_order_;

  // Takes the shared dirty bits into populated_ and hands them to every
  // open log; `taker` (may be null) gets its whole pending set, returned.
  std::vector<uint32_t> harvest(DirtyLog* taker);
  // Words [from, to) of the bitmaps, appending the taker's pages to `out`.
  void harvest_words(size_t from, size_t to, DirtyLog* taker, std::vector<uint32_t>& out);
  // Whether this harvest (and `taker`'s history update) takes two threads.
  bool split_harvest(const DirtyLog* taker) const;
  // The worker, started when a harvest is first split (null until then).
  HarvestWorker* worker();
  unsigned harvest_threads_ = 0;
  std::unique_ptr<HarvestWorker> worker_;
  void close_dirty_log(DirtyLog* log);
  void run_write_hooks(size_t page);
  friend class DirtyLog;
  friend class WriteHook;

  std::mutex logs_mu_;  // the open logs, and each harvest as a whole
  std::vector<DirtyLog*> logs_;
  std::vector<WriteHook*> hooks_;  // changed on the vCPU thread
  std::mutex hooks_mu_;  // harts on several threads run hooks one at a time
  ExclusiveSection* code_write_exclusive_ = nullptr;
  std::function<void(size_t)> loader_;
  std::vector<MemoryListener*> listeners_;
};

}  // namespace tandem::mem
