#include "board/machine_config.h"

#include <cctype>

namespace tandem::board {

Result<uint64_t> parse_size(const std::string& text) {
  auto bad = Error("bad size '" + text + "' (expected a number with an optional K, M or G suffix)");
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return bad;
  size_t pos = 0;
  unsigned long long v;
  try {
    v = std::stoull(text, &pos, 10);
  } catch (...) {
    return bad;
  }
  unsigned shift = 20;  // a bare number is MiB, as in QEMU's -m
  if (pos < text.size()) {
    if (pos + 1 != text.size() && !(pos + 2 == text.size() && (text[pos + 1] == 'B' || text[pos + 1] == 'b')))
      return bad;
    switch (std::toupper(static_cast<unsigned char>(text[pos]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'B': shift = 0; break;
      default: return bad;
    }
  }
  if (v > (~0ull >> shift)) return bad;
  return static_cast<uint64_t>(v) << shift;
}

Result<DriveConfig> parse_drive(const std::string& text) {
  DriveConfig d;
  if (text.find('=') == std::string::npos) {
    d.path = text;
    return d;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = part.find('=');
    std::string key = part.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : part.substr(eq + 1);
    if (key == "file") {
      d.path = val;
    } else if (key == "readonly") {
      if (val == "on" || val == "true") d.readonly = true;
      else if (val == "off" || val == "false") d.readonly = false;
      else return Error("drive option readonly='" + val + "': expected on or off");
    } else if (key == "format") {
      if (val != "raw") return Error("drive format '" + val + "' is not supported (only raw)");
    } else {
      return Error("unknown drive option '" + key + "' in '" + text + "'");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (d.path.empty()) return Error("drive '" + text + "' names no file (file=PATH)");
  return d;
}

}  // namespace tandem::board
