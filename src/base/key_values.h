// Option specs of the form "key=value,key=value" (--replicate, --arbiter).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace tandem {

// The spec's parts in order, split at commas and each at its first '=';
// a part without '=' (an empty spec too) is an error naming the part.
inline Result<std::vector<std::pair<std::string, std::string>>> split_key_values(const std::string& spec) {
  std::vector<std::pair<std::string, std::string>> parts;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string part = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string::npos) return Error("'" + part + "' is not KEY=VALUE");
    parts.emplace_back(part.substr(0, eq), part.substr(eq + 1));
  }
  return parts;
}

}  // namespace tandem
