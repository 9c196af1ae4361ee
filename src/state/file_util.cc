#include "state/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include "base/thread.h"

namespace tandem::state {

Status pwrite_all(int fd, const void* data, size_t size, uint64_t offset) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write at offset " + std::to_string(offset));
    }
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Ok();
}

Status pread_all(int fd, void* data, size_t size, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read at offset " + std::to_string(offset));
    }
    if (n == 0) return Error("truncated (the file ends at offset " + std::to_string(offset) + ")");
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Ok();
}

Status fsync_parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open directory '" + dir + "'");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return sys_error("fsync directory '" + dir + "'", err);
  return Ok();
}

bool is_zero_page(const uint8_t* page) {
  // One 64-byte line at a time: a non-zero page usually shows it in the
  // first line, a zero page is read once at memory speed.
  for (size_t off = 0; off < 4096; off += 64) {
    uint64_t w[8];
    std::memcpy(w, page + off, sizeof w);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) return false;
  }
  return true;
}

void parallel_for(unsigned threads, size_t count, const std::function<bool(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      if (!fn(i)) stop.store(true, std::memory_order_relaxed);
    }
  };
  std::vector<Thread> helpers;  // on the other cores at once (base/thread.h)
  size_t extra = threads > 1 ? std::min<size_t>(threads - 1, count > 0 ? count - 1 : 0) : 0;
  for (size_t t = 0; t < extra; t++) {
    try {
      helpers.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // fewer threads: the items still all get claimed
    }
  }
  worker();
  for (auto& t : helpers) t.join();
}

Status first_error(unsigned threads, size_t count, const std::function<Status(size_t)>& fn) {
  std::mutex mu;
  size_t failed_at = SIZE_MAX;
  std::optional<Error> failure;
  parallel_for(threads, count, [&](size_t i) {
    Status st = fn(i);
    if (st.ok()) return true;
    std::lock_guard<std::mutex> lock(mu);
    if (i < failed_at) {
      failed_at = i;
      failure = st.error();
    }
    return false;
  });
  if (failure) return *failure;
  return Ok();
}

}  // namespace tandem::state
