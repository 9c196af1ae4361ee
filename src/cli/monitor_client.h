// A client of the QMP monitor (cli/monitor.h): one JSON object per line
// each way. Used by `tandem snapshot` and `tandem replication`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace tandem::cli {

class LineClient {
 public:
  ~LineClient();
  // "unix:PATH" or a bare path; reads the QMP greeting and negotiates
  // capabilities.
  Status connect(const std::string& spec);
  Status send(const nlohmann::json& j);
  // The next message (a reply or an event).
  Result<nlohmann::json> next();
  // Sends {"execute": command, "arguments": args} and returns the reply's
  // "return" (events before it are skipped), or its error.
  Result<nlohmann::json> execute(const std::string& command, const nlohmann::json& args = nlohmann::json::object());

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace tandem::cli
