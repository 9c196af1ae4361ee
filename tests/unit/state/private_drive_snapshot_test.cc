// Snapshots of a VM whose drive is a private copy (dev/private_drive.h: a
// restore's default, run --snapshot): a save copies what the guest sees
// (read through the overlay), a suspend writes the drive out first, and
// the image under the overlay never changes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "bare_machine.h"
#include "dev/cow_overlay.h"
#include "dev/private_drive.h"
#include "state/disk_snapshot.h"
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

void put(std::vector<uint8_t>& model, dev::BlockBackend& d, uint64_t off, size_t len, uint8_t byte) {
  std::vector<uint8_t> w(len, byte);
  ASSERT_TRUE(d.write(w.data(), len, off).ok());
  std::fill(model.begin() + static_cast<long>(off), model.begin() + static_cast<long>(off + len), byte);
}

// A save's copy of an overlaid drive is the drive as the guest sees it at
// the instant: overlaid chunks from the overlay, the rest from the image,
// writes after the instant kept out (copy-before-write through the overlay).
TEST(PrivateDriveSnapshot, CopyOfAnOverlayHoldsTheGuestsViewAtTheInstant) {
  TempDir dir;
  const uint64_t size = 20 * kChunk + 1000;
  const auto image = random_bytes(size, 3);
  write_bytes(dir.file("base"), image);
  auto drive = dev::open_private_drive(dir.file("base"), {.allow_reflink = false});
  ASSERT_TRUE(drive.ok()) << drive.error().message();
  dev::BlockBackend& d = **drive;
  std::vector<uint8_t> view = image;
  put(view, d, 2 * kChunk + 7, 3000, 0x11);  // overlaid before the instant
  put(view, d, 17 * kChunk, kChunk, 0x22);
  const std::vector<uint8_t> instant = view;

  auto c = DiskCopy::start(d, dir.file("vm.snap.drive0"), {.allow_reflink = true, .background = false});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ((*c)->method(), DiskCopy::Method::kCopy) << "an overlay is no one file to reflink";
  ASSERT_TRUE((*c)->copy_next());
  auto guest_write = [&](uint64_t off, size_t len, uint8_t byte) {
    (*c)->before_write(off, len);
    put(view, d, off, len, byte);
  };
  guest_write(100, 5000, 0xaa);              // chunk 0: copied already
  guest_write(17 * kChunk + 5, 100, 0xbb);   // an overlaid chunk not copied yet
  guest_write(19 * kChunk + 9, 9000, 0xcc);  // image chunks not copied yet
  while ((*c)->copy_next()) {
  }
  ASSERT_TRUE((*c)->status().ok()) << (*c)->status().error().message();
  auto id = (*c)->commit();
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_TRUE(read_bytes(dir.file("vm.snap.drive0")) == instant);
  std::vector<uint8_t> now(size);
  ASSERT_TRUE(d.read(now.data(), size, 0).ok());
  EXPECT_TRUE(now == view) << "the guest keeps its later writes";
  EXPECT_TRUE(read_bytes(dir.file("base")) == image) << "the image under the overlay never changes";
}

struct MachineWithPrivateDrive : ::testing::Test {
  TempDir dir;
  std::vector<uint8_t> image = random_bytes(8 * kChunk, 5);
  std::unique_ptr<board::Machine> m;
  dev::VirtioBlk* blk = nullptr;

  void SetUp() override {
    write_bytes(dir.file("disk.img"), image);
    board::MachineConfig c = testing::config();
    c.drives = {"file=" + dir.file("disk.img") + ",snapshot=on"};
    auto made = board::Machine::create(c);
    ASSERT_TRUE(made.ok()) << made.error().message();
    m = std::move(made).value();
    for (size_t slot = 0; slot < m->virtio_count(); slot++)
      if (auto* b = dynamic_cast<dev::VirtioBlk*>(&m->virtio_device(slot))) blk = b;
    ASSERT_NE(blk, nullptr);
    ASSERT_TRUE(blk->backend().is_private());
  }
};

// A suspend ends the process, and the private copy with it: flush_drives
// (the suspend's last step) refuses it until write_out_private_drives has
// moved the VM onto FILE.driveN, which the snapshot then names.
TEST_F(MachineWithPrivateDrive, SuspendWritesTheDriveOutFirst) {
  std::vector<uint8_t> view = image;
  put(view, blk->backend(), 3 * kChunk + 512, 4096, 0x77);
  Status st = flush_drives(*m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("drive 0 runs on a private"), std::string::npos) << st.error().message();

  std::string snap = dir.file("vm.snap");
  ASSERT_TRUE(write_out_private_drives(*m, snap).ok());
  EXPECT_TRUE(read_bytes(snap + ".drive0") == view);
  EXPECT_FALSE(blk->backend().is_private());
  EXPECT_EQ(blk->spec(), "file=" + snap + ".drive0,format=raw");
  // The VM goes on on that file, in place, until the suspend stops it.
  put(view, blk->backend(), 0, 512, 0x99);
  ASSERT_TRUE(flush_drives(*m).ok());
  EXPECT_TRUE(read_bytes(snap + ".drive0") == view);
  Snapshot s = capture_machine(*m);
  EXPECT_EQ(*s.config_value("drive"), "file=" + snap + ".drive0,format=raw");
  EXPECT_TRUE(read_bytes(dir.file("disk.img")) == image);
}

// A save (the VM goes on) copies the drive as the guest sees it and names
// the copy as the snapshot's own; the VM keeps its private copy.
TEST_F(MachineWithPrivateDrive, SaveCopiesThePrivateDrive) {
  std::vector<uint8_t> view = image;
  put(view, blk->backend(), 5 * kChunk - 100, 300, 0x44);
  std::string snap = dir.file("vm.snap");
  Snapshot s = capture_machine(*m);
  auto drives = DriveSnapshots::start(*m, snap);
  ASSERT_TRUE(drives.ok()) << drives.error().message();
  ASSERT_FALSE((*drives)->empty());
  while (!(*drives)->done()) std::this_thread::yield();  // the copier thread
  ASSERT_TRUE((*drives)->status().ok()) << (*drives)->status().error().message();
  // An overlay is copied; a private reflink (btrfs, xfs) is reflinked again.
  EXPECT_EQ((*drives)->all_reflinked(), blk->backend().whole_file_fd() >= 0);
  ASSERT_TRUE((*drives)->commit(s).ok());
  EXPECT_EQ(*s.config_value("drive"), "file=vm.snap.drive0,format=raw") << "the snapshot's own copy, not snapshot=on";
  EXPECT_TRUE(read_bytes(snap + ".drive0") == view);
  EXPECT_TRUE(blk->backend().is_private()) << "the VM keeps writing its private copy";
  auto c = config_from_snapshot(s, snap);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->drives[0], "file=" + snap + ".drive0,format=raw,snapshot=on") << "restored privately by default";
  EXPECT_TRUE(read_bytes(dir.file("disk.img")) == image);
}

}  // namespace
}  // namespace tandem::state
