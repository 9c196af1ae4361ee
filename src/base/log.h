// Minimal leveled logging to stderr. Library code logs diagnostics; it
// never prints instead of returning an error.
#pragma once

#include <string_view>

namespace tandem {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, std::string_view message);

}  // namespace tandem

#define TANDEM_LOG(level, msg)                                   \
  do {                                                           \
    if (static_cast<int>(level) <= static_cast<int>(::tandem::log_level())) \
      ::tandem::log_message(level, msg);                         \
  } while (0)
