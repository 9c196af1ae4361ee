#include "state/live_save.h"

#include <cstring>

#include "state/machine_snapshot.h"

namespace tandem::state {

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

LiveSave::LiveSave(board::Machine& m, std::unique_ptr<SnapshotWriter> writer)
    : m_(m), writer_(std::move(writer)), t0_(std::chrono::steady_clock::now()) {}

LiveSave::~LiveSave() {
  if (worker_.joinable()) worker_.join();
}

Result<std::unique_ptr<LiveSave>> LiveSave::start_suspend(board::Machine& m, const std::string& path) {
  auto writer = SnapshotWriter::create(path, m.ram());
  if (!writer.ok()) return writer.error();
  std::unique_ptr<LiveSave> s(new LiveSave(m, std::move(writer).value()));
  m.ram().start_trace();
  m.start_block_logs();
  s->dirty_log_ = m.ram().open_dirty_log("suspend");  // a write from here: another round
  // A page never populated is zero: leaving it out of the file is saving
  // it, and reading it would only cost a host page fault. If the guest
  // writes it now, it is dirty and goes into the next round.
  std::vector<uint32_t> pages = m.ram().populated_pages();
  s->pages_done_ = m.ram().page_count() - pages.size();
  s->start_round(std::move(pages));
  return s;
}

Result<std::unique_ptr<LiveSave>> LiveSave::start_snapshot(board::Machine& m, const std::string& path) {
  auto writer = SnapshotWriter::create(path, m.ram());
  if (!writer.ok()) return writer.error();
  std::unique_ptr<LiveSave> s(new LiveSave(m, std::move(writer).value()));
  auto stop = std::chrono::steady_clock::now();
  // The drives' instant is this one too: no guest write is in flight
  // between slices (virtio-blk completes requests on this thread).
  auto drives = DriveSnapshots::start(m, path);
  if (!drives.ok()) return drives.error();
  s->drives_ = std::move(drives).value();
  s->cow_ = true;
  s->cow_snap_ = capture_machine(m);
  s->cow_done_.assign(m.ram().page_count(), 0);
  LiveSave* self = s.get();
  s->cow_hook_ = m.ram().add_write_hook("snapshot save",
                                        [self](size_t page) { self->on_protected_write(page); });
  s->cow_hook_->protect_all();
  m.ram().start_trace();
  m.start_block_logs();
  s->cow_pause_ms_ = ms_since(stop);
  s->start_copy_out();
  return s;
}

// On the writer's thread (vCPU or device), before the write lands.
// The page is present: GuestMemory loads an absent page before the hook.
void LiveSave::on_protected_write(size_t page) {
  std::lock_guard<std::mutex> lock(cow_mu_);
  if (cow_done_[page]) return;
  auto copy = std::make_unique<uint8_t[]>(mem::kPageSize);
  std::memcpy(copy.get(), m_.ram().page_host(page), mem::kPageSize);
  cow_copies_[static_cast<uint32_t>(page)] = std::move(copy);
  cow_done_[page] = 1;
}

void LiveSave::start_copy_out() {
  round_ = 1;
  worker_done_ = false;
  worker_ = Thread([this] {
    mem::GuestMemory& ram = m_.ram();
    constexpr uint32_t kBatch = 1024;
    std::vector<uint8_t> staging(size_t{kBatch} * mem::kPageSize);
    std::vector<uint32_t> pages;
    std::vector<const uint8_t*> where(ram.page_count(), nullptr);
    // Pages holding code the guest has run first, then the rest: the
    // working set's head (the code the guest runs, docs/snapshot-format.md)
    // then fills the first blocks of the file instead of one page in a
    // block here and there, as suspend's last round arranges it.
    // Each code bit is read once: the hart may set more meanwhile, and
    // every page must be in the order exactly once.
    std::vector<uint32_t> order, rest;
    order.reserve(ram.page_count());
    for (uint32_t p = 0; p < ram.page_count(); p++) (ram.has_code(p) ? order : rest).push_back(p);
    order.insert(order.end(), rest.begin(), rest.end());
    Status st;
    for (size_t first = 0; first < order.size() && st.ok(); first += kBatch) {
      const size_t n = std::min<size_t>(kBatch, order.size() - first);
      pages.clear();
      // Pages a lazy restore has not loaded yet are loaded first, outside
      // cow_mu_ (loading decompresses a block; a guest write waiting on the
      // hook should not wait for that). Once present a page stays present.
      for (size_t k = 0; k < n && st.ok(); k++) st = ram.load(order[first + k]);
      if (!st.ok()) break;
      std::vector<std::unique_ptr<uint8_t[]>> taken;
      for (size_t k = 0; k < n; k++) {
        const uint32_t p = order[first + k];
        pages.push_back(p);
        std::lock_guard<std::mutex> lock(cow_mu_);
        if (auto it = cow_copies_.find(p); it != cow_copies_.end()) {
          where[p] = it->second.get();
          taken.push_back(std::move(it->second));
          cow_copies_.erase(it);
        } else if (!ram.is_populated(p)) {
          // Zero at the request (populated is sticky, and a write would
          // have come through the hook, which waits for the lock): left
          // out of the file, which reads it back as zero.
          pages.pop_back();
          cow_done_[p] = 1;
          cow_hook_->unprotect(p);
        } else {
          // Not written since the request: while we hold the lock no write
          // can land (the hook, which runs first, waits for it).
          std::memcpy(staging.data() + size_t{k} * mem::kPageSize, ram.page_host(p), mem::kPageSize);
          where[p] = staging.data() + size_t{k} * mem::kPageSize;
          cow_done_[p] = 1;
          cow_hook_->unprotect(p);
        }
      }
      st = writer_->write_pages(pages, [&](uint32_t p) { return where[p]; });
      pages_done_ += n;
    }
    worker_status_ = st;
    worker_done_ = true;
  });
}

bool LiveSave::finish_snapshot() {
  if (Status st = drives_->status(); !st.ok()) {
    cow_hook_.reset();
    drives_.reset();
    fail(st.error().context("live save"));
    return true;
  }
  if (!drives_->done()) return false;  // a drive copy is still running; the guest goes on
  cow_hook_.reset();  // every page was copied out and unprotected
  set_working_set(cow_snap_, m_, m_.ram().stop_trace(), m_.recent_blocks(kRecentCode));
  auto commit_start = std::chrono::steady_clock::now();
  if (Status st = drives_->commit(cow_snap_); !st.ok()) {
    drives_.reset();
    fail(st.error().context("live save"));
    return true;
  }
  auto stats = writer_->commit(cow_snap_);
  if (!stats.ok()) {
    drives_->discard();  // copies of a snapshot that does not exist
    drives_.reset();
    fail(stats.error());
    return true;
  }
  SaveReport r;
  r.pause_ms = cow_pause_ms_;
  r.commit_ms = ms_since(commit_start);
  r.total_ms = ms_since(t0_);
  r.file_bytes = stats->file_bytes;
  r.pages_saved = stats->pages_saved;
  r.pages_saved_twice = 0;
  r.active_pages = cow_snap_.active_pages.size();
  r.rounds = 1;
  r.drive_copies = drives_->paths();
  r.disk_bytes = drives_->bytes_total();
  r.disk_bytes_copied_early = drives_->bytes_copied_early();
  r.disk_reflink = drives_->all_reflinked();
  drives_.reset();
  result_ = r;
  writer_->release_replaced();
  finished_ = true;
  return true;
}

void LiveSave::start_round(std::vector<uint32_t> pages) {
  round_++;
  worker_done_ = false;
  worker_ = Thread([this, pages = std::move(pages)] {
    // Batches, so progress moves and a large RAM does not hold one call.
    constexpr size_t kBatch = 4096;
    Status st;
    for (size_t i = 0; i < pages.size() && st.ok(); i += kBatch) {
      size_t n = std::min(kBatch, pages.size() - i);
      st = writer_->write_pages(std::span<const uint32_t>(pages.data() + i, n));
      pages_done_ += n;
    }
    if (st.ok()) st = writer_->sync();
    worker_status_ = st;
    worker_done_ = true;
  });
}

void LiveSave::fail(const Error& e) {
  // The traces end with the save, whatever became of it.
  m_.ram().stop_trace();
  m_.take_block_logs();
  dirty_log_.reset();
  finished_ = true;
  failed_ = true;
  result_ = e;
}

bool LiveSave::tick() {
  if (finished_) return true;
  if (!worker_done_) return false;
  if (worker_.joinable()) worker_.join();  // finish_snapshot() may wait for the drive copies
  if (!worker_status_.ok()) {
    cow_hook_.reset();
    drives_.reset();
    fail(worker_status_.error().context("live save"));
    return true;
  }
  if (cow_) return finish_snapshot();
  // The guest does not run while the epoch ends (this is its thread): if
  // the stop follows, the pause counts from here.
  const auto epoch_end = std::chrono::steady_clock::now();
  std::vector<uint32_t> dirty = dirty_log_->end_epoch();
  resaved_ += dirty.size();
  if (dirty.size() > kStopThreshold && round_ < kMaxRounds) {
    start_round(std::move(dirty));
    return false;
  }
  if (!working_set_written_) {
    // One more round before the stop: the pages of the code the guest ran
    // (the hart's block log, in order), then the other pages touched so
    // far, in order of first touch, then the rest of the dirty set. Each
    // supersedes its earlier copy, so the working set fills consecutive
    // blocks, code first: a working-set restore loads the code pages before
    // the first instruction and reads the rest in the order it needs it.
    working_set_written_ = true;
    std::vector<uint32_t> pages;
    std::vector<uint8_t> listed(m_.ram().page_count(), 0);
    auto add = [&](uint32_t p) {
      if (!listed[p]) listed[p] = 1, pages.push_back(p);
    };
    // And the code the guest ran before the trace (a request served
    // before the suspend), most recent first, taken now rather than in
    // the pause: the stop adds only what the log gained since.
    recent_code_ = m_.recent_blocks(kRecentCode);
    const std::vector<uint64_t> logged = m_.block_logs();
    const std::vector<uint64_t>* code_lists[] = {&logged, &recent_code_};
    for (const std::vector<uint64_t>* code : code_lists)
      for (uint64_t gpa : *code)
        if (m_.ram().contains(gpa)) add(static_cast<uint32_t>(m_.ram().page_of(gpa)));
    for (uint32_t p : m_.ram().active_pages()) add(p);
    for (uint32_t p : dirty) add(p);
    resaved_ += pages.size() - dirty.size();  // the dirty ones are counted
    working_set_pages_ = pages.size();
    start_round(std::move(pages));
    return false;
  }
  // Stop the world: the guest has not run since the epoch ended above,
  // and does not until this returns.
  const auto stop = epoch_end;
  Status st = writer_->write_pages(dirty);
  if (st.ok()) st = flush_drives(m_);  // the disk as durable as the file that expects it
  if (st.ok()) {
    pages_done_ += dirty.size();
    Snapshot snap = capture_machine(m_);
    set_working_set(snap, m_, m_.ram().stop_trace(), recent_code_);
    auto commit_start = std::chrono::steady_clock::now();
    auto stats = writer_->commit(snap);
    if (!stats.ok()) {
      fail(stats.error());
      return true;
    }
    SaveReport r;
    r.pause_ms = ms_since(stop);
    r.commit_ms = ms_since(commit_start);
    r.total_ms = ms_since(t0_);
    r.file_bytes = stats->file_bytes;
    r.pages_saved = stats->pages_saved;
    r.pages_saved_twice = resaved_;
    r.active_pages = snap.active_pages.size();
    r.working_set_pages = working_set_pages_;
    r.rounds = round_;
    result_ = r;
    writer_->release_replaced();
    dirty_log_.reset();
    finished_ = true;
    m_.request_exit(0);
    return true;
  }
  fail(st.error().context("live save"));
  return true;
}

SaveProgress LiveSave::progress() const {
  SaveProgress p;
  p.phase = failed_ ? "failed" : finished_ ? "done" : "copying";
  p.round = round_;
  p.pages_done = pages_done_;
  p.pages_total = m_.ram().page_count();
  if (drives_) {
    p.disk_bytes_done = drives_->bytes_done();
    p.disk_bytes_total = drives_->bytes_total();
  }
  p.elapsed_ms = ms_since(t0_);
  return p;
}

}  // namespace tandem::state
