#include "state/live_save.h"

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
  m.ram().end_epoch();  // from here, a write marks its page for another round
  std::vector<uint32_t> all(m.ram().page_count());
  for (uint32_t i = 0; i < all.size(); i++) all[i] = i;
  s->start_round(std::move(all));
  return s;
}

void LiveSave::start_round(std::vector<uint32_t> pages) {
  round_++;
  worker_done_ = false;
  worker_ = std::thread([this, pages = std::move(pages)] {
    // Batches, so progress moves and a large RAM does not hold one call.
    constexpr size_t kBatch = 4096;
    Status st;
    for (size_t i = 0; i < pages.size() && st.ok(); i += kBatch) {
      size_t n = std::min(kBatch, pages.size() - i);
      st = writer_->write_pages(std::span<const uint32_t>(pages.data() + i, n));
      pages_done_ += n;
    }
    worker_status_ = st;
    worker_done_ = true;
  });
}

void LiveSave::fail(const Error& e) {
  finished_ = true;
  failed_ = true;
  result_ = e;
}

bool LiveSave::tick() {
  if (finished_) return true;
  if (!worker_done_) return false;
  worker_.join();
  if (!worker_status_.ok()) {
    fail(worker_status_.error().context("live save"));
    return true;
  }
  std::vector<uint32_t> dirty = m_.ram().end_epoch();
  resaved_ += dirty.size();
  if (dirty.size() > kStopThreshold && round_ < kMaxRounds) {
    start_round(std::move(dirty));
    return false;
  }
  // Stop the world: the guest does not run until this returns.
  auto stop = std::chrono::steady_clock::now();
  Status st = writer_->write_pages(dirty);
  if (st.ok()) {
    pages_done_ += dirty.size();
    Snapshot snap = capture_machine(m_);
    snap.active_pages = m_.ram().stop_trace();
    auto stats = writer_->commit(snap);
    if (!stats.ok()) {
      fail(stats.error());
      return true;
    }
    SaveReport r;
    r.pause_ms = ms_since(stop);
    r.total_ms = ms_since(t0_);
    r.file_bytes = stats->file_bytes;
    r.pages_saved = stats->pages_saved;
    r.pages_saved_twice = resaved_;
    r.active_pages = snap.active_pages.size();
    r.rounds = round_;
    result_ = r;
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
  p.elapsed_ms = ms_since(t0_);
  return p;
}

}  // namespace tandem::state
