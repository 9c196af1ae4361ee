#include "cli/json_stream.h"

namespace tandem::cli {

namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
}  // namespace

std::optional<std::string> JsonStream::next() {
  // Whitespace between texts is dropped.
  if (depth_ == 0 && !in_string_) {
    size_t start = 0;
    while (start < buf_.size() && is_space(buf_[start])) start++;
    buf_.erase(0, start);
    scan_ = 0;
  }
  for (; scan_ < buf_.size(); scan_++) {
    char c = buf_[scan_];
    if (in_string_) {
      if (escape_) escape_ = false;
      else if (c == '\\') escape_ = true;
      else if (c == '"') in_string_ = false;
      if (in_string_ || depth_ > 0) continue;
      // A bare string at top level ends at its closing quote.
      std::string text = buf_.substr(0, scan_ + 1);
      buf_.erase(0, scan_ + 1);
      scan_ = 0;
      return text;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      depth_++;
    } else if (c == '}' || c == ']') {
      // A stray closer at top level is a text of its own (refused later).
      if (depth_ > 0) depth_--;
      if (depth_ == 0) {
        std::string text = buf_.substr(0, scan_ + 1);
        buf_.erase(0, scan_ + 1);
        scan_ = 0;
        return text;
      }
    } else if (depth_ == 0 && is_space(c)) {
      // A bare scalar (a number, true, ...) ends at whitespace.
      std::string text = buf_.substr(0, scan_);
      buf_.erase(0, scan_ + 1);
      scan_ = 0;
      return text;
    }
  }
  return std::nullopt;
}

}  // namespace tandem::cli
