#include "state/restore.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "state/machine_snapshot.h"
#include "state/working_set_record.h"

namespace tandem::state {

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// The calling thread runs only on a core, and reads only from a disk,
// that nothing else wants (SCHED_IDLE; the idle I/O class, when the kernel
// has it: ioprio_set has no glibc wrapper).
void become_idle() {
  sched_param idle{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
  constexpr int kWhoProcess = 1, kClassIdle = 3, kClassShift = 13;
  syscall(SYS_ioprio_set, kWhoProcess, 0, kClassIdle << kClassShift);  // 0: this thread
}
}  // namespace

Result<RestoreMode> parse_restore_mode(std::string_view text) {
  if (text == "eager") return RestoreMode::kEager;
  if (text == "lazy") return RestoreMode::kLazy;
  if (text == "working-set") return RestoreMode::kWorkingSet;
  return Error("unknown restore mode '" + std::string(text) + "' (expected eager, lazy or working-set)");
}

const char* restore_mode_name(RestoreMode mode) {
  switch (mode) {
    case RestoreMode::kEager: return "eager";
    case RestoreMode::kLazy: return "lazy";
    default: return "working-set";
  }
}

Result<std::unique_ptr<Restore>> Restore::open(const std::string& path, RestoreMode mode,
                                               const std::function<void(board::MachineConfig&)>& adjust,
                                               const SnapshotReader::Progress& progress) {
  std::unique_ptr<Restore> r(new Restore());
  r->mode_ = mode;
  r->t0_ = std::chrono::steady_clock::now();
  Restore* self = r.get();
  // A helper thread works beside this one (made first, so that it has
  // started on the other core by the time it has work; help()).
  if (mode != RestoreMode::kEager) r->helper_ = Thread([self] { self->help(); });
  auto reader = SnapshotReader::open(path);
  if (!reader.ok()) return reader.error();
  r->reader_ = std::move(reader).value();
  const Snapshot& snap = r->reader_->snapshot();
  // Room for the code the guest ran while it was saved and as much again:
  // the block cache fills in milliseconds after a restore.
  r->expected_blocks_ = 2 * snap.code_blocks.size();
  r->advance(kTableKnown);
  auto config = config_from_snapshot(snap, path);
  if (!config.ok()) return config.error().context("snapshot '" + path + "'");
  if (adjust) adjust(*config);
  auto machine = board::Machine::create_empty(*config);
  if (!machine.ok()) return machine.error().context("restore '" + path + "'");
  r->machine_ = std::move(machine).value();
  mem::GuestMemory& ram = r->machine_->ram();
  if (r->reader_->ram_base() != ram.base() || r->reader_->ram_size() != ram.size())
    return Error("snapshot '" + path + "': its RAM layout differs from the machine's");

  if (mode == RestoreMode::kEager) {
    TANDEM_TRY(r->reader_->load_memory(ram, 2, progress));
    r->prefetched_ = ram.page_count();
  } else {
    // Fresh anonymous memory reads as zero: elided pages need no loading.
    // The stored pages are absent; they count as populated too (not
    // loaded yet but not zero either: a save of this machine must load and
    // read them, GuestMemory::load, not skip them as zero).
    ram.mark_absent_only(r->reader_->stored_pages());
    r->absent_left_ = r->reader_->stored_page_count();
    r->page_claim_ = ZeroedArray<uint8_t>(ram.page_count());  // kUnclaimed
    ram.set_loader([self](size_t page) { self->on_absent(page); });
    if (mode == RestoreMode::kWorkingSet) {
      // The head of the working set, before the first instruction, on two
      // threads: the pages of the code the guest ran while it was saved
      // (its block log; suspend wrote them first, so they fill the first
      // blocks of the working set), else the first active pages. The
      // streamer decodes that code and loads the rest from start().
      std::vector<uint32_t> blocks;
      std::vector<uint8_t> listed(r->reader_->block_count(), 0);
      ZeroedArray<uint8_t> seen(ram.page_count());
      size_t head = 0;
      auto add = [&](uint32_t p) {
        if (p >= ram.page_count() || seen[p]) return;
        seen[p] = 1;
        head++;
        if (!ram.is_absent(p)) return;
        uint32_t b = r->reader_->block_of(p);
        if (!listed[b]) listed[b] = 1, blocks.push_back(b);
      };
      for (size_t i = 0; i < snap.code_traced && head < kWorkingSetHead; i++)
        add(static_cast<uint32_t>(ram.page_of(snap.code_blocks[i])));
      for (size_t i = 0; i < snap.active_pages.size() && head < kWorkingSetHead && snap.code_traced == 0; i++)
        add(snap.active_pages[i]);
      r->head_blocks_ = std::move(blocks);
    }
    r->advance(kHeadKnown);
  }
  TANDEM_TRY(apply_machine(snap, *r->machine_));
  return r;
}

Restore::~Restore() {
  stop_ = true;
  head_next_ = head_blocks_.size();
  advance(kAbandoned);
  helper_.join();
  recorder_.join();
  if (record_hook_ && machine_) machine_->remove_slice_hook(record_hook_);
  if (machine_) machine_->ram().set_loader(nullptr);
}

// Copies the pages of `block` that are still absent into RAM, each page
// once: a page is copied only by the thread that moved its claim from
// kUnclaimed to kCopying, and only while absent, so nothing can have
// written it yet. Several threads may work on one block at once (each
// decompresses its own copy); none waits for another except a toucher
// whose very page another thread is copying at that moment (one 4 KiB
// memcpy). So the idle-priority streamer, preempted in the middle of a
// block, holds up nobody: a toucher copies the block's other pages
// itself. (Claiming whole blocks made a touching guest wait for a
// preempted streamer: first answers 5 ms late in half the restores of a
// 1 GiB memtouch guest.)
Status Restore::load_block_safely(size_t block, Why why, int64_t needed) {
  mem::GuestMemory& ram = machine_->ram();
  auto pages = reader_->block_pages(block);
  auto mine = [&](uint32_t p) {  // a page of this block no one copies yet
    return p < ram.page_count() && reader_->block_of(p) == block &&
           claim(p).load(std::memory_order_acquire) == kUnclaimed;
  };
  if (std::none_of(pages.begin(), pages.end(), mine)) {
    wait_present(needed);
    return Ok();
  }
  static thread_local std::vector<uint8_t> data;
  TANDEM_TRY(reader_->unpack_block_to(block, data));
  uint64_t n = 0;
  auto copy = [&](size_t i) {
    const uint32_t p = pages[i];
    if (!mine(p)) return;
    uint8_t expect = kUnclaimed;
    if (!claim(p).compare_exchange_strong(expect, kCopying, std::memory_order_acq_rel)) return;
    std::memcpy(ram.page_host(p), data.data() + i * mem::kPageSize, mem::kPageSize);
    ram.mark_present(p);
    claim(p).store(kCopied, std::memory_order_release);
    n++;
  };
  for (size_t i = 0; i < pages.size() && needed >= 0; i++)
    if (pages[i] == needed) copy(i);  // what the guest waits for, first
  for (size_t i = 0; i < pages.size(); i++) copy(i);
  absent_left_ -= n;
  if (why == Why::kPrefetch) prefetched_ += n;
  if (why == Why::kOnDemand) on_demand_ += n;
  if (why == Why::kStream) streamed_ += n;
  if (absent_left_ == 0 && resident_ms_ < 0) resident_ms_ = ms_since(t0_);
  wait_present(needed);
  return Ok();
}

// Another thread is copying this page now: a memcpy away.
void Restore::wait_present(int64_t page) const {
  if (page < 0) return;
  while (machine_->ram().is_absent(static_cast<size_t>(page))) sched_yield();
}

void Restore::on_absent(size_t page) {
  Status st = load_block_safely(reader_->block_of(static_cast<uint32_t>(page)), Why::kOnDemand,
                                static_cast<int64_t>(page));
  if (!st.ok()) {
    // The guest cannot go on without this page; GuestMemory stops the
    // process with the page's address once we return.
    std::fprintf(stderr, "tandem: restore: %s\n", st.error().message().c_str());
  }
}

// Warms the restored machine behind the running guest. First, at normal
// priority, decodes the logged code ahead for the hart (cpu/predecode.cc);
// then, at SCHED_IDLE, loads the working set in order of first touch and
// then every other block.
void Restore::stream() {
  auto load = [&](size_t b) {
    Status st = load_block_safely(b, Why::kStream);
    if (!st.ok()) stop_vm(st.error());
    return st.ok();
  };
  mem::GuestMemory& ram = machine_->ram();
  const std::vector<uint32_t>& active = reader_->snapshot().active_pages;
  const std::vector<uint64_t>& code = reader_->snapshot().code_blocks;
  std::vector<uint64_t> batch;
  auto offer = [&] {
    // Every hart decodes its own copy (each keeps its own blocks).
    for (size_t h = 0; h < machine_->hart_count(); h++) blocks_offered_ += machine_->hart(h).offer_blocks(batch);
    batch.clear();
  };
  // At normal priority, only what would otherwise cost the guest most:
  // decoding. The code blocks in the order the guest entered them (their
  // pages are in: the head loaded them, or they are loaded here first).
  // Data pages wait for the idle-priority part below: loading them here
  // as well competed with a busy guest and its clients for the cores and
  // was slower than lazy for a computing guest (1G memtouch: 13.1 against
  // 12.6 ms to the first answer; 12.6 without it).
  for (size_t c = 0; c < code.size() && !stop_; c++) {
    const size_t p = ram.page_of(code[c]);  // inside RAM: checked by the reader
    if (ram.is_absent(p) && !load(reader_->block_of(static_cast<uint32_t>(p)))) return;
    batch.push_back(code[c]);
    if (batch.size() == kOfferBatch || c + 1 == code.size()) offer();
  }
  // Only on a core nothing else wants: the guest, and whatever serves it
  // on this host, come first. Touches are served by the toucher anyway.
  become_idle();
  for (uint32_t p : active) {
    if (stop_) return;
    if (p >= ram.page_count() || !ram.is_absent(p)) continue;
    if (!load(reader_->block_of(p))) return;
  }
  working_set_ms_ = ms_since(t0_);
  for (size_t b = 0; b < reader_->block_count() && !stop_ && absent_left_ > 0; b++)
    if (!load(b)) return;
}

// A background thread found the file damaged: the VM stops with the error
// (load_error()), as it does when a touch finds a bad block.
void Restore::stop_vm(const Error& e) {
  std::lock_guard<std::mutex> lock(mu_);
  load_error_ = e.message();
  machine_->request_exit(1);  // takes effect at the next slice end
}

// Lazy: reads nothing the guest does not touch, but a damaged file must
// not go unnoticed because the guest has not touched the damage yet.
// After the start, at idle priority, every block's checksum is checked
// once (from the page cache: milliseconds for a file of a few MiB).
void Restore::verify() {
  // Not while the guest starts: even at idle priority, reading and
  // hashing the file delayed a restored HTTP guest's first answer by
  // 1.3-1.8 ms (cache and memory traffic beside the guest's).
  for (int i = 0; i < kVerifyDelayMs && !stop_; i++) usleep(1000);
  become_idle();
  for (size_t b = 0; b < reader_->block_count() && !stop_; b++) {
    Status st = reader_->verify_block(b);
    if (!st.ok()) return stop_vm(st.error());
  }
}

void Restore::advance(int stage) {
  stage_.store(stage, std::memory_order_release);
  stage_.notify_all();
}

// The helper thread, from open() to the end: the block cache's table once
// the file is read (while the machine is built), the head of the working
// set with the caller's thread, then, once the guest runs, stream() or
// verify(). It sleeps between stages rather than spin: while it runs, each
// munmap or mprotect of the setting-up thread costs a TLB flush on its
// core too, and spinning made reading a 1 GiB guest's file 1.3 ms slower
// (2.5 against 1.3 ms); waking it takes 0.1 ms.
void Restore::help() {
  auto wait_for = [&](int stage) {
    int now;
    while ((now = stage_.load(std::memory_order_acquire)) < stage && now != kAbandoned)
      stage_.wait(now, std::memory_order_acquire);
    return now != kAbandoned;
  };
  if (!wait_for(kTableKnown)) return;
  block_table_ = cpu::Hart::make_block_table(expected_blocks_);
  table_made_.store(true, std::memory_order_release);
  if (!wait_for(kHeadKnown)) return;
  load_head();
  if (!wait_for(kRunning)) return;
  if (mode_ == RestoreMode::kWorkingSet) stream();
  if (mode_ == RestoreMode::kLazy) verify();
}

// Takes the head's blocks one at a time until none is left; the first
// failure ends it for every thread. head_busy_ counts the threads in
// here: one that comes in after the last block was taken does nothing.
void Restore::load_head() {
  head_busy_++;
  for (size_t i; (i = head_next_.fetch_add(1)) < head_blocks_.size();) {
    Status st = load_block_safely(head_blocks_[i], Why::kPrefetch);
    if (st.ok()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (!head_error_) head_error_ = st.error();
    head_next_ = head_blocks_.size();
    break;
  }
  head_busy_--;
}

Status Restore::start() {
  if (helper_.joinable()) {
    load_head();
    while (head_busy_.load() > 0 || !table_made_.load(std::memory_order_acquire)) sched_yield();
    machine_->hart(0).use_block_table(std::move(block_table_));
    std::lock_guard<std::mutex> lock(mu_);
    if (head_error_) return *head_error_;  // the guest has not run: nothing to stop
  }
  first_instruction_ms_ = ms_since(t0_);
  if (mode_ == RestoreMode::kEager) resident_ms_ = working_set_ms_ = first_instruction_ms_;
  if (mode_ == RestoreMode::kWorkingSet && absent_left_ == 0) resident_ms_ = first_instruction_ms_;
  if (record_window_ms_ > 0) start_recording();
  advance(kRunning);  // the helper streams (working-set) or verifies (lazy)
  return Ok();
}

// The trace is the live save's (GuestMemory's accessed bits, the hart's
// block log): it sees every page the guest touches, loaded or not, so it
// records the same in any mode. The window is checked between slices.
void Restore::start_recording() {
  machine_->ram().start_trace();
  machine_->start_block_logs();
  record_t0_ = std::chrono::steady_clock::now();
  record_state_ = kRecording;
  auto due = [this] { return record_state_ == kRecording && ms_since(record_t0_) >= record_window_ms_; };
  record_hook_ = machine_->add_slice_hook([this, due] {
    if (due()) end_recording();
  }, due);
}

void Restore::end_recording() {
  if (record_state_ != kRecording) return;
  RecordedWorkingSet ws;
  ws.pages = machine_->ram().stop_trace();
  ws.code = machine_->take_block_logs();
  recorded_pages_ = ws.pages.size();
  recorded_code_ = ws.code.size();
  const double window = ms_since(record_t0_);
  record_state_ = kRecordWriting;
  recorder_ = Thread([this, ws = std::move(ws), window] {
    become_idle();  // the guest runs on; this is for the restores after it
    auto done = rewrite_working_set(*reader_, ws);
    if (!done.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      record_error_ = done.error();
      record_state_ = kRecordFailed;
      return;
    }
    std::fprintf(stderr,
                 "tandem: recorded the working set of '%s': %llu pages and %llu code blocks in the guest's "
                 "first %.0f ms; the file lists %llu pages first now (%.1f MiB, rewritten in %.0f ms)\n",
                 reader_->path().c_str(), static_cast<unsigned long long>(recorded_pages_),
                 static_cast<unsigned long long>(recorded_code_), window,
                 static_cast<unsigned long long>(done->pages), done->file_bytes / 1048576.0, done->ms);
    record_state_ = kRecordWritten;
  });
}

Status Restore::finish_recording() {
  end_recording();
  recorder_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (record_error_) return *record_error_;
  return Ok();
}

RestoreReport Restore::report() const {
  RestoreReport r;
  r.mode = mode_;
  r.pages_not_loaded = absent_left_;
  r.first_instruction_ms = first_instruction_ms_;
  r.resident_ms = resident_ms_;
  r.working_set_ms = working_set_ms_;
  r.active_pages = reader_->snapshot().active_pages.size();
  r.pages_prefetched = prefetched_;
  r.pages_on_demand = on_demand_;
  r.pages_streamed = streamed_;
  r.blocks_offered = blocks_offered_;
  static const char* const kRecordNames[] = {"off", "recording", "writing", "written", "failed"};
  const int rs = record_state_;
  r.record_status = kRecordNames[rs];
  if (rs >= kRecordWriting) r.recorded_pages = recorded_pages_, r.recorded_code_blocks = recorded_code_;
  if (rs == kRecordFailed) {
    std::lock_guard<std::mutex> lock(mu_);
    r.record_error = record_error_->message();
  }
  return r;
}

std::string Restore::load_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return load_error_;
}

}  // namespace tandem::state
