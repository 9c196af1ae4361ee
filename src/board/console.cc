#include "board/console.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tandem::board {

namespace {
constexpr uint8_t kEscape = 0x01;  // Ctrl-A
}

HostConsole::~HostConsole() {
  flush();
  restore_terminal();
}

Status HostConsole::open(bool use_stdin) {
  if (!use_stdin) return Ok();
  in_fd_ = STDIN_FILENO;
  if (isatty(in_fd_)) {
    if (tcgetattr(in_fd_, &saved_) != 0) return sys_error("read terminal settings of stdin");
    termios raw = saved_;
    cfmakeraw(&raw);
    raw.c_oflag |= OPOST | ONLCR;  // keep "\n" -> "\r\n" on output
    if (tcsetattr(in_fd_, TCSANOW, &raw) != 0) return sys_error("set stdin to raw mode");
    raw_ = true;
  }
  int flags = fcntl(in_fd_, F_GETFL);
  if (flags >= 0) fcntl(in_fd_, F_SETFL, flags | O_NONBLOCK);
  return Ok();
}

void HostConsole::restore_terminal() {
  if (raw_) {
    tcsetattr(in_fd_, TCSANOW, &saved_);
    raw_ = false;
  }
  if (in_fd_ >= 0) {
    int flags = fcntl(in_fd_, F_GETFL);
    if (flags >= 0) fcntl(in_fd_, F_SETFL, flags & ~O_NONBLOCK);
  }
}

void HostConsole::write(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (out_len_ == sizeof out_buf_) flush();
    out_buf_[out_len_++] = data[i];
  }
}

void HostConsole::flush() {
  if (out_len_ == 0) return;
  size_t off = 0;
  while (off < out_len_) {
    ssize_t n = ::write(STDOUT_FILENO, out_buf_ + off, out_len_ - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stdout gone: drop output rather than block the guest
    off += static_cast<size_t>(n);
  }
  out_len_ = 0;
}

bool HostConsole::read_available() {
  if (in_fd_ < 0) return false;
  uint8_t buf[256];
  for (;;) {
    ssize_t n = ::read(in_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return true;  // EAGAIN: nothing more now
    if (n == 0) {
      in_fd_ = -1;
      return false;
    }
    for (ssize_t i = 0; i < n; i++) {
      uint8_t c = buf[i];
      if (raw_ && escape_) {
        escape_ = false;
        if (c == 'x' || c == 'X') {
          quit_ = true;
          continue;
        }
        if (c != kEscape) continue;  // unknown escape: swallow
      } else if (raw_ && c == kEscape) {
        escape_ = true;
        continue;
      }
      pending_.push_back(c);
    }
  }
}

}  // namespace tandem::board
