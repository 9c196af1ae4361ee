// A fixed-size array that starts all zero and costs nothing until touched.
// std::vector<T>(n, 0) writes every byte, so each 4 KiB of it costs a host
// page fault before anything uses it; fresh anonymous memory (mmap, for
// any size worth it, whatever malloc's thresholds: tandem raises them,
// cli/main.cc) is zero pages that are only faulted in where written. For the
// per-page arrays of a big guest that is most of their cost: 1 GiB of RAM
// has 262,144 pages, and zeroing its per-page arrays up front took 0.8 ms
// of the 3.3 ms before a restored guest's first instruction.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace tandem {

template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>,
                "all-zero bytes must be a valid T");

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t n) : size_(n) {
    const size_t bytes = (n ? n : 1) * sizeof(T);
    if (bytes < kMapFrom) {
      data_ = std::unique_ptr<T, Release>(static_cast<T*>(std::calloc(1, bytes)), Release{});
    } else {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED) data_ = std::unique_ptr<T, Release>(static_cast<T*>(p), Release{bytes});
    }
    if (!data_) throw std::bad_alloc();
  }

  size_t size() const { return size_; }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](size_t i) { return data_.get()[i]; }
  const T& operator[](size_t i) const { return data_.get()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }

 private:
  static constexpr size_t kMapFrom = 64 * 1024;
  struct Release {
    size_t mapped_bytes = 0;  // 0: from calloc
    void operator()(T* p) const {
      if (mapped_bytes)
        munmap(p, mapped_bytes);
      else
        std::free(p);
    }
  };
  std::unique_ptr<T, Release> data_;
  size_t size_ = 0;
};

}  // namespace tandem
