#include "cli/args.h"

namespace tandem::cli {

Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; i++) args_.emplace_back(argv[i]);
}

std::string Args::next_flag() {
  std::string a = args_[i_++];
  has_inline_ = false;
  size_t eq = a.find('=');
  if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
    inline_value_ = a.substr(eq + 1);
    has_inline_ = true;
    a = a.substr(0, eq);
  }
  return a;
}

Result<std::string> Args::value(const std::string& flag) {
  if (has_inline_) {
    has_inline_ = false;
    return inline_value_;
  }
  if (done()) return Error("option " + flag + " needs a value");
  return args_[i_++];
}

}  // namespace tandem::cli
