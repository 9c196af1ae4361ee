#include "cli/version.h"

#include <gtest/gtest.h>

#include <regex>

namespace tandem::cli {
namespace {

// Each library tandem links is named with a dotted version.
TEST(Version, NamesEveryLinkedLibrary) {
  std::string v = version_text();
  EXPECT_EQ(v.rfind(std::string("tandem ") + kTandemVersion + "\n", 0), 0u) << v;
  for (const char* lib : {"libfdt", "libslirp", "zstd", "lz4", "xxhash", "glib"})
    EXPECT_TRUE(std::regex_search(v, std::regex(std::string("\n  ") + lib + " [0-9]+\\.[0-9]+(\\.[0-9]+)?")))
        << lib << " missing from:\n" << v;
}

}  // namespace
}  // namespace tandem::cli
