#include "state/working_set_record.h"

#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <unordered_set>

#include "state/file_util.h"
#include "state/sections.h"

namespace tandem::state {

namespace {

// The recorded entries first, then the file's own, each once.
std::vector<uint32_t> merged_pages(const RecordedWorkingSet& ws, const Snapshot& snap, uint64_t page_count) {
  std::vector<uint8_t> listed(page_count, 0);
  std::vector<uint32_t> out;
  for (const auto* list : {&ws.pages, &snap.active_pages})
    for (uint32_t p : *list)
      if (p < page_count && !listed[p]) listed[p] = 1, out.push_back(p);
  return out;
}

}  // namespace

Result<RecordStats> rewrite_working_set(const SnapshotReader& opened, const RecordedWorkingSet& ws,
                                        unsigned threads) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& path = opened.path();
  auto fail = [&](const std::string& what) { return Error("snapshot '" + path + "': " + what); };
  // One recorder per file at a time; the lock goes with the descriptor.
  if (::flock(opened.fd(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return fail("another restore is recording its working set; not written");
    return sys_error("lock snapshot '" + path + "'");
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::flock(fd, LOCK_UN); }
  } unlock{opened.fd()};
  const char* replaced = "replaced since this restore opened it; the recorded working set is not written";
  if (!opened.is_file_at(path)) return fail(replaced);

  // All of memory, every block checked, from the file the restore opened.
  auto ram = mem::GuestMemory::create(opened.ram_base(), opened.ram_size());
  if (!ram.ok()) return ram.error().context("record working set");
  TANDEM_TRY(opened.load_memory(**ram, threads));

  Snapshot snap = opened.snapshot();
  snap.active_pages = merged_pages(ws, opened.snapshot(), opened.page_count());
  std::vector<uint64_t> code;
  std::unordered_set<uint64_t> listed;
  size_t traced = 0;
  for (const auto* list : {&ws.code, &opened.snapshot().code_blocks}) {
    for (uint64_t gpa : *list) {
      if (code.size() == kMaxCodeBlocks) break;
      if (!(*ram)->contains(gpa) || gpa % 2 != 0 || !listed.insert(gpa).second) continue;
      code.push_back(gpa);
    }
    if (list == &ws.code) traced = code.size();
  }
  snap.code_blocks = std::move(code);
  snap.code_traced = static_cast<uint32_t>(traced);

  // Written beside the file under a name of its own (a save to the same
  // path writes PATH.tmp), then over it, unless it was replaced while
  // this ran: the newer file wins.
  const std::string beside = path + ".recorded";
  WriteOptions options;
  options.threads = threads;
  auto written = write_snapshot(beside, snap, **ram, options);
  if (!written.ok()) return written.error().context("record working set");
  if (!opened.is_file_at(path)) {
    ::unlink(beside.c_str());
    return fail(replaced);
  }
  if (::rename(beside.c_str(), path.c_str()) != 0) {
    Error e = sys_error("rename '" + beside + "' to '" + path + "'");
    ::unlink(beside.c_str());
    return e;
  }
  TANDEM_TRY(fsync_parent_dir(path));
  RecordStats stats;
  stats.pages = snap.active_pages.size();
  stats.code_blocks = snap.code_blocks.size();
  stats.code_traced = snap.code_traced;
  stats.file_bytes = written->file_bytes;
  stats.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace tandem::state
