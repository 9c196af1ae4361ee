// The copy of a writable drive at a snapshot instant (state/disk_copy.h)
// and how a snapshot names and checks it (state/machine_snapshot.h).
#include "state/disk_copy.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "state/machine_snapshot.h"
#include "test_util.h"

namespace tandem::state {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;
constexpr uint64_t kChunk = DiskCopy::kChunkSize;

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

bool exists(const std::string& path) { return std::filesystem::exists(path); }

// The drive image: a file the test writes the way VirtioBlk does.
struct Image {
  std::string path;
  int fd = -1;
  Image(const std::string& p, const std::vector<uint8_t>& content) : path(p) {
    write_bytes(path, content);
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    EXPECT_GE(fd, 0);
  }
  ~Image() { ::close(fd); }
  void write(uint64_t off, size_t len, uint8_t byte) const {
    std::vector<uint8_t> data(len, byte);
    ASSERT_EQ(::pwrite(fd, data.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
  }
};

constexpr DiskCopy::Options kStepwise{.allow_reflink = false, .background = false};

TEST(DiskCopy, CopyBeforeWriteKeepsTheInstant) {
  TempDir dir;
  const uint64_t size = 20 * kChunk + 1000;  // a partial last chunk
  const auto original = random_bytes(size, 1);
  Image image(dir.file("disk.img"), original);
  std::string dest = dir.file("vm.snap.drive0");
  auto c = DiskCopy::start(image.fd, dest, kStepwise);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ((*c)->method(), DiskCopy::Method::kCopy);
  EXPECT_TRUE(exists(dest + ".tmp"));
  EXPECT_FALSE(exists(dest)) << "the final name appears only at commit";

  ASSERT_TRUE((*c)->copy_next());
  EXPECT_EQ((*c)->bytes_done(), DiskCopy::kBatchChunks * kChunk);
  auto guest_write = [&](uint64_t off, size_t len, uint8_t byte) {
    (*c)->before_write(off, len);  // what VirtioBlk's hook does first
    image.write(off, len, byte);
  };
  guest_write(100, 5000, 0xaa);                 // chunk 0: already copied
  guest_write(15 * kChunk + 10, 2 * kChunk, 0xbb);  // chunks 15 (copied), 16 and 17 (not yet)
  guest_write(size - 900, 900, 0xcc);           // the last chunk
  guest_write(16 * kChunk, 100, 0xdd);          // chunk 16 again: preserved once, not twice
  EXPECT_EQ((*c)->bytes_copied_early(), 2 * kChunk + 1000);
  while ((*c)->copy_next()) {
  }
  ASSERT_TRUE((*c)->done());
  ASSERT_TRUE((*c)->status().ok()) << (*c)->status().error().message();
  EXPECT_EQ((*c)->bytes_done(), size);
  auto id = (*c)->commit();
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(id->bytes, size);
  EXPECT_FALSE(exists(dest + ".tmp"));
  EXPECT_TRUE(read_bytes(dest) == original) << "the copy holds the content of the instant";
  EXPECT_FALSE(read_bytes(image.path) == original) << "the image has the later writes";
  EXPECT_TRUE(check_drive_identity(dest, *id).ok());
}

// Why the hook must run before the write: without it a chunk the copier
// reaches later holds the later write.
TEST(DiskCopy, AWriteThatSkipsTheHookReachesTheCopy) {
  TempDir dir;
  const auto original = random_bytes(4 * kChunk, 2);
  Image image(dir.file("disk.img"), original);
  auto c = DiskCopy::start(image.fd, dir.file("copy"), kStepwise);
  ASSERT_TRUE(c.ok());
  image.write(3 * kChunk, 10, 0xee);
  while ((*c)->copy_next()) {
  }
  ASSERT_TRUE((*c)->commit().ok());
  auto got = read_bytes(dir.file("copy"));
  EXPECT_FALSE(got == original);
  EXPECT_EQ(got[3 * kChunk], 0xee);
}

TEST(DiskCopy, ConcurrentWritesNeverReachTheCopy) {
  TempDir dir;
  const uint64_t size = 8 * 1024 * 1024 + 512;
  const auto original = random_bytes(size, 3);
  Image image(dir.file("disk.img"), original);
  auto c = DiskCopy::start(image.fd, dir.file("copy"), {.allow_reflink = false, .background = true});
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::mt19937_64 rng(4);
  for (int i = 0; i < 2000; i++) {
    uint64_t off = rng() % size;
    size_t len = static_cast<size_t>(std::min<uint64_t>(1 + rng() % (256 * 1024), size - off));
    (*c)->before_write(off, len);
    image.write(off, len, static_cast<uint8_t>(i));
  }
  while (!(*c)->done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE((*c)->status().ok()) << (*c)->status().error().message();
  ASSERT_TRUE((*c)->commit().ok());
  EXPECT_TRUE(read_bytes(dir.file("copy")) == original);
  std::printf("copied ahead of the copier: %llu of %llu bytes\n",
              static_cast<unsigned long long>((*c)->bytes_copied_early()), static_cast<unsigned long long>(size));
}

TEST(DiskCopy, ZeroBlocksStayHoles) {
  TempDir dir;
  std::string src = dir.file("sparse.img");
  int fd = ::open(src.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 16 << 20), 0);
  std::vector<uint8_t> data(4096, 0x5a);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 5 << 20), 4096);
  auto c = DiskCopy::start(fd, dir.file("copy"), kStepwise);
  ASSERT_TRUE(c.ok());
  while ((*c)->copy_next()) {
  }
  ASSERT_TRUE((*c)->commit().ok());
  EXPECT_TRUE(read_bytes(dir.file("copy")) == read_bytes(src));
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("copy").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 16 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "zero blocks were written out";
  ::close(fd);
}

TEST(DiskCopy, ReflinkOrCopyKeepsTheInstant) {
  TempDir dir;
  const auto original = random_bytes(3 * kChunk + 4096, 5);
  Image image(dir.file("disk.img"), original);
  auto c = DiskCopy::start(image.fd, dir.file("copy"), {});
  ASSERT_TRUE(c.ok()) << c.error().message();
  (*c)->before_write(kChunk, 4096);
  image.write(kChunk, 4096, 0x11);
  while (!(*c)->done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE((*c)->commit().ok());
  EXPECT_TRUE(read_bytes(dir.file("copy")) == original);
  std::printf("method: %s\n", (*c)->method() == DiskCopy::Method::kReflink ? "reflink" : "copy");
}

TEST(DiskCopy, CopiesNotCommittedAreRemoved) {
  TempDir dir;
  Image image(dir.file("disk.img"), random_bytes(2 * kChunk, 6));
  {
    auto c = DiskCopy::start(image.fd, dir.file("copy"), {.allow_reflink = false, .background = true});
    ASSERT_TRUE(c.ok());
  }
  EXPECT_FALSE(exists(dir.file("copy.tmp")));
  EXPECT_FALSE(exists(dir.file("copy")));
  auto c = DiskCopy::start(image.fd, dir.file("copy"), kStepwise);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->commit().ok()) << "not finished yet";
  while ((*c)->copy_next()) {
  }
  ASSERT_TRUE((*c)->commit().ok());
  EXPECT_TRUE(exists(dir.file("copy")));
  (*c)->discard();
  EXPECT_FALSE(exists(dir.file("copy")));
}

TEST(DiskCopy, UnwritableDestinationIsAClearError) {
  TempDir dir;
  Image image(dir.file("disk.img"), random_bytes(kChunk, 7));
  auto c = DiskCopy::start(image.fd, dir.file("no/such/dir/copy"), {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("create drive copy '" + dir.file("no/such/dir/copy.tmp") + "'"),
            std::string::npos)
      << c.error().message();
  // A restored VM runs on FILE.drive0; saving to FILE again must not
  // replace the file it is writing.
  c = DiskCopy::start(image.fd, image.path, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("that is the drive itself"), std::string::npos) << c.error().message();
  EXPECT_FALSE(exists(image.path + ".tmp"));
}

TEST(DriveIdentity, RefusesMissingTruncatedAndForeignCopies) {
  TempDir dir;
  std::string path = dir.file("copy");
  const auto content = random_bytes(1 << 20, 8);
  write_bytes(path, content);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  auto id = drive_identity(fd);
  ::close(fd);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->bytes, 1u << 20);
  EXPECT_TRUE(check_drive_identity(path, *id).ok());

  write_bytes(path, content, content.size() - 4096);
  Status st = check_drive_identity(path, *id);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "its copy '" + path +
                                      "' is 1044480 bytes, but the snapshot's was 1048576 (truncated, or not this "
                                      "snapshot's copy)");

  auto other = content;
  other[0] ^= 1;  // the first block is always sampled (as is the last)
  write_bytes(path, other);
  st = check_drive_identity(path, *id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("does not hold the snapshot's content"), std::string::npos)
      << st.error().message();
  other = content;
  other.back() ^= 1;
  write_bytes(path, other);
  EXPECT_FALSE(check_drive_identity(path, *id).ok());

  ::unlink(path.c_str());
  st = check_drive_identity(path, *id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("its copy '" + path + "' is missing"), std::string::npos)
      << st.error().message();
}

TEST(DriveConfig, SnapshotNamesItsCopyRelativeToItsDirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("a"));
  std::string copy = dir.file("a/vm.snap.drive0");
  write_bytes(copy, random_bytes(1 << 20, 9));
  int fd = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
  auto id = drive_identity(fd);
  ::close(fd);
  ASSERT_TRUE(id.ok());

  Snapshot s;
  s.config = {{"ram_size", "1048576"},
              {"drive", "file=/elsewhere/disk.img,serial=s1"},
              {"drive", "file=/ro,,1.img,readonly=on"}};
  ASSERT_TRUE(record_drive_copy(s, 0, copy, *id).ok());
  EXPECT_EQ(*s.config_value("drive"), "file=vm.snap.drive0,serial=s1") << "the file name alone";
  EXPECT_FALSE(record_drive_copy(s, 2, copy, *id).ok()) << "there is no drive 2";

  auto c = config_from_snapshot(s, dir.file("a/vm.snap"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->drives.size(), 2u);
  EXPECT_EQ(c->drives[0], "file=" + copy + ",serial=s1,snapshot=on") << "the restored VM writes a private copy";
  EXPECT_EQ(c->drives[1], "file=/ro,,1.img,readonly=on") << "a read-only drive stays as it was";

  // The snapshot and its copy moved together: found in the new place.
  std::filesystem::rename(dir.file("a"), dir.file("b"));
  c = config_from_snapshot(s, dir.file("b/vm.snap"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->drives[0], "file=" + dir.file("b/vm.snap.drive0") + ",serial=s1,snapshot=on");

  // Moved without it: refused before any machine runs on a wrong disk.
  c = config_from_snapshot(s, dir.file("a/vm.snap"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("drive 0: its copy '" + copy + "' is missing"), std::string::npos)
      << c.error().message();

  ASSERT_EQ(::truncate(dir.file("b/vm.snap.drive0").c_str(), 4096), 0);
  c = config_from_snapshot(s, dir.file("b/vm.snap"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("is 4096 bytes, but the snapshot's was 1048576"), std::string::npos)
      << c.error().message();

  for (const char* bad : {"index=0,bytes=12", "index=x,bytes=1,sample=2", "index=0,bytes=1,sample=2,color=red",
                          "index=7,bytes=1,sample=2"}) {
    Snapshot t = s;
    for (auto& [k, v] : t.config)
      if (k == "drive_copy") v = bad;
    EXPECT_FALSE(config_from_snapshot(t, dir.file("b/vm.snap")).ok()) << bad;
  }
}

// What `tandem snapshot info` lists: each drive, the file a restore
// would open, and whether a copy is there and still the snapshot's.
TEST(DriveConfig, SnapshotDrivesSayWhereEachDriveIsAndWhetherItsCopyHolds) {
  TempDir dir;
  std::string copy = dir.file("vm.snap.drive0");
  write_bytes(copy, random_bytes(1 << 20, 3));
  int fd = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
  auto id = drive_identity(fd);
  ::close(fd);
  ASSERT_TRUE(id.ok());
  Snapshot s;
  s.config = {{"ram_size", "1048576"}, {"drive", "file=/x/disk.img"}, {"drive", "file=" + copy + ",readonly=on"}};
  ASSERT_TRUE(record_drive_copy(s, 0, copy, *id).ok());

  auto drives = snapshot_drives(s, dir.file("vm.snap"));
  ASSERT_TRUE(drives.ok()) << drives.error().message();
  ASSERT_EQ(drives->size(), 2u);
  const SnapshotDrive& d0 = (*drives)[0];
  EXPECT_TRUE(d0.copy && d0.present && d0.problem.empty()) << d0.problem;
  EXPECT_EQ(d0.path, copy) << "found next to the snapshot";
  EXPECT_EQ(d0.copy_bytes, 1u << 20);
  EXPECT_EQ(d0.file_bytes, 1u << 20);
  const SnapshotDrive& d1 = (*drives)[1];
  EXPECT_FALSE(d1.copy);
  EXPECT_TRUE(d1.read_only && d1.present && d1.problem.empty()) << d1.problem;

  // Changed: the sampled blocks differ. Gone: missing, by name.
  auto changed = random_bytes(1 << 20, 4);
  write_bytes(copy, changed);
  drives = snapshot_drives(s, dir.file("vm.snap"));
  ASSERT_TRUE(drives.ok());
  EXPECT_NE((*drives)[0].problem.find("does not hold the snapshot's content"), std::string::npos)
      << (*drives)[0].problem;
  ::unlink(copy.c_str());
  drives = snapshot_drives(s, dir.file("vm.snap"));
  ASSERT_TRUE(drives.ok());
  EXPECT_FALSE((*drives)[0].present);
  EXPECT_NE((*drives)[0].problem.find("is missing"), std::string::npos) << (*drives)[0].problem;
  EXPECT_NE((*drives)[1].problem.find("No such file"), std::string::npos) << "an image in place, gone";

  // A malformed record is refused, as a restore refuses it.
  for (auto& [k, v] : s.config)
    if (k == "drive_copy") v = "index=9,bytes=1,sample=2";
  EXPECT_FALSE(snapshot_drives(s, dir.file("vm.snap")).ok());
}

}  // namespace
}  // namespace tandem::state
