// `tandem --version`: tandem's version and the libraries it runs with.
#pragma once

#include <string>

namespace tandem::cli {

inline constexpr char kTandemVersion[] = "0.1";

// "tandem 0.1" and one line per linked library, each with the version its
// runtime reports (or, for libfdt, which has no version call, the version
// of the library found at build time).
std::string version_text();

}  // namespace tandem::cli
