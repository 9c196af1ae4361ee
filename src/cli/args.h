// A small argv reader shared by tandem's subcommands: "--flag value",
// "--flag=value" and "-m value", with errors that name the flag.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace tandem::cli {

class Args {
 public:
  Args(int argc, char** argv, int first);
  bool done() const { return i_ >= args_.size(); }
  // The next argument, split at '=' for "--flag=value" forms.
  std::string next_flag();
  // The value of the current flag: the "=value" part or the next argument.
  Result<std::string> value(const std::string& flag);
  // Whether the current flag came as "--flag=value" (for flags whose value
  // is optional).
  bool has_inline_value() const { return has_inline_; }
  bool is_flag(const std::string& a) const { return a.size() > 1 && a[0] == '-'; }

 private:
  std::vector<std::string> args_;
  size_t i_ = 0;
  std::string inline_value_;
  bool has_inline_ = false;
};

}  // namespace tandem::cli
