// Helpers shared by the fuzz harnesses (tests/fuzz/README in docs/fuzzing.md).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace tandem::fuzz {

// An anonymous in-memory file holding `data`, named by /proc/self/fd/N, so
// that readers that take a path run on fuzz input without touching the disk
// (nothing is left behind, however a run ends).
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("tandem-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) abort();
    for (size_t off = 0; off < size;) {
      ssize_t n = ::write(fd_, data + off, size - off);
      if (n <= 0) abort();
      off += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// An invariant of the code under test broke: abort so that libFuzzer keeps
// the input and the regression test fails.
#define TANDEM_FUZZ_CHECK(cond)                                                 \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

}  // namespace tandem::fuzz
