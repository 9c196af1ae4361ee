// Splits a byte stream into top-level JSON texts, as QEMU's QMP parser
// does: an object may span several lines and several may share one line.
// It only tracks nesting and strings; nlohmann::json parses each text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tandem::cli {

class JsonStream {
 public:
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // The next complete text (an object, an array, or a bare scalar or
  // stray closing bracket, which the caller's parse then refuses), or
  // nothing until more bytes come.
  std::optional<std::string> next();
  // Bytes of an unfinished text held.
  size_t pending() const { return buf_.size(); }

 private:
  std::string buf_;
  size_t scan_ = 0;  // how far buf_ has been scanned
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

}  // namespace tandem::cli
