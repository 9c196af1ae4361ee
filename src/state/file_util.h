// Helpers of the snapshot writer and reader: whole-buffer file I/O,
// durability, zero-page detection and a tiny work-sharing loop. Private to
// src/state/.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"

namespace tandem::state {

// Full-length pwrite/pread (retrying short transfers and EINTR). A read
// that meets the end of the file fails with "truncated".
Status pwrite_all(int fd, const void* data, size_t size, uint64_t offset);
Status pread_all(int fd, void* data, size_t size, uint64_t offset);
// fsync of the directory holding `path`, so that a rename into it is durable.
Status fsync_parent_dir(const std::string& path);

bool is_zero_page(const uint8_t* page);

// Calls fn(i) for every i in [0, count), spread over up to `threads`
// threads (the caller's thread is one); items are claimed one at a time,
// so uneven items balance themselves. fn returns false to stop early.
void parallel_for(unsigned threads, size_t count, const std::function<bool(size_t)>& fn);
// parallel_for() over a Status-returning fn; returns the error of the
// lowest failing item (work stops at the first failure).
Status first_error(unsigned threads, size_t count, const std::function<Status(size_t)>& fn);

}  // namespace tandem::state
