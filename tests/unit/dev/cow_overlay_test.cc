// The copy-on-write overlay and the private drive around it: reads come
// from the image until a chunk is written, partial writes keep the rest
// of their chunk, the image never changes, and the VM's file goes with
// the backend.
#include "dev/cow_overlay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dev/private_drive.h"

namespace tandem::dev {
namespace {

constexpr uint64_t kChunk = CowOverlay::kChunkSize;
// Three and a bit chunks: the last one is short.
constexpr uint64_t kImageBytes = 3 * kChunk + 3 * 4096 + 512;

class OverlayTest : public ::testing::Test {
 protected:
  OverlayTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tandem-overlay-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    image_path_ = dir_ + "/image.raw";
    std::mt19937_64 rng(7);
    image_.resize(kImageBytes);
    for (auto& b : image_) b = static_cast<uint8_t>(rng());
    std::ofstream(image_path_, std::ios::binary)
        .write(reinterpret_cast<const char*>(image_.data()), static_cast<std::streamsize>(image_.size()));
  }
  ~OverlayTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<CowOverlay> make_overlay() {
    int base = ::open(image_path_.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(base, 0);
    auto own = create_anonymous_file(dir_);
    EXPECT_TRUE(own.ok()) << own.error().message();
    auto o = CowOverlay::create(base, *own, image_path_);
    EXPECT_TRUE(o.ok()) << o.error().message();
    return std::move(o).value();
  }
  std::vector<uint8_t> image_file() const {
    std::ifstream in(image_path_, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<uint8_t> read_all(BlockBackend& d) {
    std::vector<uint8_t> out(d.size());
    EXPECT_TRUE(d.read(out.data(), out.size(), 0).ok());
    return out;
  }
  size_t files_in_dir() const {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) n++;
    return n;
  }

  std::string dir_, image_path_;
  std::vector<uint8_t> image_;
};

TEST_F(OverlayTest, ReadsThroughToTheImageUntilWritten) {
  auto o = make_overlay();
  EXPECT_EQ(o->size(), kImageBytes);
  EXPECT_EQ(read_all(*o), image_);
  std::vector<uint8_t> part(5000);
  ASSERT_TRUE(o->read(part.data(), part.size(), kChunk - 100).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), image_.begin() + kChunk - 100)) << "across a chunk boundary";
  EXPECT_EQ(o->chunks_overlaid(), 0u);
  std::vector<uint8_t> past(2);
  EXPECT_FALSE(o->read(past.data(), 2, kImageBytes - 1).ok());
}

TEST_F(OverlayTest, PartialChunkWriteKeepsTheRestOfTheChunk) {
  auto o = make_overlay();
  std::vector<uint8_t> want = image_;
  std::vector<uint8_t> w(512, 0xab);
  ASSERT_TRUE(o->write(w.data(), w.size(), kChunk + 1000).ok());
  std::copy(w.begin(), w.end(), want.begin() + kChunk + 1000);
  EXPECT_EQ(o->chunks_overlaid(), 1u);
  EXPECT_TRUE(o->overlaid(1));
  EXPECT_FALSE(o->overlaid(0));
  EXPECT_EQ(read_all(*o), want);
  // A second write into the overlaid chunk lands on the first one's copy.
  std::vector<uint8_t> w2(100, 0xcd);
  ASSERT_TRUE(o->write(w2.data(), w2.size(), kChunk + 1400).ok());
  std::copy(w2.begin(), w2.end(), want.begin() + kChunk + 1400);
  EXPECT_EQ(read_all(*o), want);
  EXPECT_EQ(image_file(), image_) << "the image never changes";
}

TEST_F(OverlayTest, WritesAcrossChunksAndIntoTheShortLastChunk) {
  auto o = make_overlay();
  std::vector<uint8_t> want = image_;
  // From the middle of chunk 0 through the whole of chunk 1 into chunk 2.
  std::vector<uint8_t> w(2 * kChunk, 0x11);
  ASSERT_TRUE(o->write(w.data(), w.size(), kChunk / 2).ok());
  std::copy(w.begin(), w.end(), want.begin() + kChunk / 2);
  // The last chunk, partly, up to the end of the drive.
  std::vector<uint8_t> tail(700, 0x22);
  ASSERT_TRUE(o->write(tail.data(), tail.size(), kImageBytes - tail.size()).ok());
  std::copy(tail.begin(), tail.end(), want.end() - static_cast<long>(tail.size()));
  EXPECT_EQ(o->chunks_overlaid(), 4u);
  EXPECT_EQ(read_all(*o), want);
  EXPECT_FALSE(o->write(tail.data(), 2, kImageBytes - 1).ok()) << "past the end";
  EXPECT_EQ(image_file(), image_);
}

// Many random writes and reads against a model: every read sees the last
// write, for as long as the overlay is open; closing it leaves nothing
// behind (the file has no name).
TEST_F(OverlayTest, KeepsWritesUntilClosedAndLeavesNoFile) {
  std::vector<uint8_t> model = image_;
  {
    auto o = make_overlay();
    std::mt19937_64 rng(42);
    for (int i = 0; i < 400; i++) {
      uint64_t off = rng() % kImageBytes;
      size_t len = static_cast<size_t>(1 + rng() % std::min<uint64_t>(3 * kChunk / 2, kImageBytes - off));
      if (rng() % 2) {
        std::vector<uint8_t> w(len, static_cast<uint8_t>(i));
        ASSERT_TRUE(o->write(w.data(), len, off).ok());
        std::copy(w.begin(), w.end(), model.begin() + static_cast<long>(off));
      } else {
        std::vector<uint8_t> r(len);
        ASSERT_TRUE(o->read(r.data(), len, off).ok());
        ASSERT_TRUE(std::equal(r.begin(), r.end(), model.begin() + static_cast<long>(off))) << "op " << i;
      }
    }
    EXPECT_EQ(read_all(*o), model);
    EXPECT_EQ(files_in_dir(), 1u) << "the overlay file has no name";
  }
  EXPECT_EQ(files_in_dir(), 1u);
  EXPECT_EQ(image_file(), image_);
}

// The private drive: a reflink where the filesystem can (btrfs, xfs), else
// an overlay; either way the same content and the image untouched.
TEST_F(OverlayTest, PrivateDriveLeavesTheImageAlone) {
  for (bool reflink : {false, true}) {
    auto d = open_private_drive(image_path_, {.allow_reflink = reflink});
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_TRUE((*d)->is_private());
    if (!reflink) {
      EXPECT_NE((*d)->describe().find("private overlay of"), std::string::npos);
    }
    EXPECT_EQ((*d)->whole_file_fd() >= 0, (*d)->describe().find("reflink") != std::string::npos);
    std::vector<uint8_t> w(4096, 0x5a);
    ASSERT_TRUE((*d)->write(w.data(), w.size(), 8192).ok());
    ASSERT_TRUE((*d)->flush().ok());
    std::vector<uint8_t> want = image_;
    std::copy(w.begin(), w.end(), want.begin() + 8192);
    EXPECT_EQ(read_all(**d), want);
    EXPECT_EQ(image_file(), image_);
    EXPECT_EQ(files_in_dir(), 1u);
  }
  auto missing = open_private_drive(dir_ + "/nope.raw");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("nope.raw': No such file"), std::string::npos) << missing.error().message();
}

}  // namespace
}  // namespace tandem::dev
