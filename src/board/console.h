// The host side of the guest console: stdout for output, stdin for input.
// On a terminal stdin goes to raw mode and Ctrl-A x quits (as in QEMU);
// Ctrl-A Ctrl-A sends one Ctrl-A. Piped stdin is passed through as is.
#pragma once

#include <termios.h>

#include <cstddef>
#include <cstdint>
#include <deque>

#include "base/result.h"

namespace tandem::board {

class HostConsole {
 public:
  HostConsole() = default;
  ~HostConsole();
  HostConsole(const HostConsole&) = delete;
  HostConsole& operator=(const HostConsole&) = delete;

  Status open(bool use_stdin);
  void write(const uint8_t* data, size_t len);
  void flush();

  // -1 once stdin is closed (or not used).
  int input_fd() const { return in_fd_; }
  // Reads what stdin has now; returns false when it reached end of file.
  bool read_available();
  std::deque<uint8_t>& pending_input() { return pending_; }
  bool quit_requested() const { return quit_; }

 private:
  void restore_terminal();

  int in_fd_ = -1;
  bool raw_ = false;
  bool escape_ = false;
  bool quit_ = false;
  termios saved_{};
  std::deque<uint8_t> pending_;
  uint8_t out_buf_[4096];
  size_t out_len_ = 0;
};

}  // namespace tandem::board
