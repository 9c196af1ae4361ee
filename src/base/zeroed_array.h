// A fixed-size array that starts all zero and costs nothing until touched.
// std::vector<T>(n, 0) writes every byte, so each 4 KiB of it costs a host
// page fault before anything uses it; calloc of a large size maps fresh
// zero pages instead, which are only faulted in where written. For the
// per-page arrays of a big guest that is most of their cost: 1 GiB of RAM
// has 262,144 pages, and zeroing its per-page arrays up front took 0.8 ms
// of the 3.3 ms before a restored guest's first instruction.
#pragma once

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
  explicit ZeroedArray(size_t n) : data_(static_cast<T*>(std::calloc(n ? n : 1, sizeof(T)))), size_(n) {
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
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t size_ = 0;
};

}  // namespace tandem
