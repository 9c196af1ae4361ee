// Result<T>: a value or an Error saying what was attempted and why.
// Host failures travel as Results; guest faults never do (they are trap
// values inside the CPU).
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem {

class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const std::string& message() const { return message_; }
  // Prefixes what the caller was doing: "load kernel 'x': <message>".
  Error context(std::string_view what) const {
    return Error(std::string(what) + ": " + message_);
  }

 private:
  std::string message_;
};

// An Error from errno: "<what>: <strerror(errno)>".
inline Error sys_error(std::string_view what, int err = errno) {
  return Error(std::string(what) + ": " + std::strerror(err));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() { return {}; }

}  // namespace tandem

// Returns the error of a failed Status/Result from the enclosing function.
#define TANDEM_TRY(expr)                          \
  do {                                            \
    auto tandem_try_result_ = (expr);             \
    if (!tandem_try_result_.ok())                 \
      return tandem_try_result_.error();          \
  } while (0)
