#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <string>

namespace tandem {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
const char* const kNames[] = {"error", "warning", "info", "debug"};
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log_message(LogLevel level, std::string_view message) {
  std::string line = "tandem: ";
  line += kNames[static_cast<int>(level)];
  line += ": ";
  line += message;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tandem
