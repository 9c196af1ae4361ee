// Feeds every file of a harness's seed corpus and of its regressions
// (crash inputs the fuzzer found, kept after the fix) to the harness's entry
// point, in the normal build: a regression crashes or fails this test.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::filesystem::path> inputs(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

void run_all(const std::string& dir, size_t min_files) {
  std::vector<std::filesystem::path> files = inputs(dir);
  ASSERT_GE(files.size(), min_files) << dir;
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0);
  }
}

// The seed corpus must exist (the fuzzer starts from it); regressions are
// whatever crashes were found.
TEST(Fuzz, SeedCorpus) { run_all(TANDEM_FUZZ_DIR "/corpus/" TANDEM_FUZZ_HARNESS, 1); }
TEST(Fuzz, Regressions) { run_all(TANDEM_FUZZ_DIR "/regressions/" TANDEM_FUZZ_HARNESS, 0); }

}  // namespace
