#include "dev/virtio_blk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "dev_test_util.h"
#include "virtio_test_driver.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::VirtioTestDriver;

constexpr unsigned kIrq = 2;
constexpr uint64_t kImageSectors = 64;  // 32 KiB

// A temporary image whose sector s is filled with the byte (s + 1).
class TempImage {
 public:
  TempImage() {
    char tmpl[] = "/tmp/tandem-blk-XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path_ = tmpl;
    for (uint64_t s = 0; s < kImageSectors; s++) {
      std::string sector(kSectorSize, static_cast<char>(s + 1));
      EXPECT_EQ(::write(fd, sector.data(), sector.size()), static_cast<ssize_t>(sector.size()));
    }
    ::close(fd);
  }
  ~TempImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::string read(uint64_t offset, size_t len) const {
    std::string out(len, '\0');
    int fd = ::open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, out.data(), len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
    ::close(fd);
    return out;
  }

 private:
  std::string path_;
};

struct BlkTest : ::testing::Test {
  TempImage image;
  std::unique_ptr<mem::GuestMemory> ram = testing::make_ram();
  std::unique_ptr<VirtioBlk> blk;
  IrqRecorder plic;
  std::unique_ptr<VirtioMmio> dev;
  std::unique_ptr<VirtioTestDriver> drv;

  void open(bool read_only, std::string serial = "tandem-disk-0", bool snapshot = false) {
    auto b = VirtioBlk::open({image.path(), read_only, serial, false, snapshot});
    ASSERT_TRUE(b.ok()) << b.error().message();
    blk = std::move(b).value();
    dev = std::make_unique<VirtioMmio>(*ram, *blk, IrqLine(&plic, kIrq));
    drv = std::make_unique<VirtioTestDriver>(*dev, *ram);
    drv->init({64});
  }

  uint64_t header(uint32_t type, uint64_t sector) {
    uint64_t h = drv->alloc(16);
    drv->poke_le<uint32_t>(h, type);
    drv->poke_le<uint32_t>(h + 4, 0);
    drv->poke_le<uint64_t>(h + 8, sector);
    return h;
  }
  // Runs one request; returns the used length and sets `status`.
  uint32_t run(const std::vector<VirtioTestDriver::Buf>& bufs, uint64_t status_addr, uint8_t* status) {
    uint16_t head = drv->add(0, bufs);
    drv->notify(0);
    VirtioTestDriver::Used u{};
    EXPECT_TRUE(drv->next_used(0, &u));
    EXPECT_EQ(u.id, head);
    *status = drv->peek_le<uint8_t>(status_addr);
    return u.len;
  }
  uint64_t config64(uint64_t off) {
    return drv->r(kVirtioMmioConfig + off) | (uint64_t{drv->r(kVirtioMmioConfig + off + 4)} << 32);
  }
};

TEST_F(BlkTest, MissingImageIsAClearError) {
  auto b = VirtioBlk::open({"/nonexistent/disk.img", false, ""});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message(), "open drive '/nonexistent/disk.img': No such file or directory");
}

TEST_F(BlkTest, ConfigSpaceAndFeatures) {
  open(false);
  EXPECT_EQ(drv->r(kVirtioMmioDeviceId), kVirtioIdBlock);
  EXPECT_EQ(config64(0), kImageSectors) << "capacity in 512-byte sectors";
  EXPECT_EQ(drv->r(kVirtioMmioConfig + 12), 254u) << "seg_max";
  EXPECT_EQ(drv->r(kVirtioMmioConfig + 20), 512u) << "blk_size";
  uint64_t v = 0;
  EXPECT_TRUE(dev->load(kVirtioMmioConfig, 1, &v));
  EXPECT_EQ(v, kImageSectors) << "byte-wide config reads";
  uint64_t f = drv->device_features();
  EXPECT_TRUE(f & feature_bit(kVirtioBlkFFlush));
  EXPECT_FALSE(f & feature_bit(kVirtioBlkFRo));
}

TEST_F(BlkTest, ReadSectorsIntoGuestMemoryAndDirtyOnlyWrittenPages) {
  open(false);
  uint64_t h = header(kVirtioBlkTIn, 3);
  uint64_t data = drv->alloc(2 * mem::kPageSize, mem::kPageSize);  // two pages
  uint64_t st = drv->alloc_page();
  ram->open_dirty_log("test")->end_epoch();  // forget the driver's own writes

  uint8_t status = 0xff;
  uint32_t len = run({{h, 16, false}, {data, 1024, true}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSOk);
  EXPECT_EQ(len, 1025u);
  std::vector<uint8_t> got = drv->peek(data, 1024);
  for (size_t i = 0; i < 1024; i++) ASSERT_EQ(got[i], i < 512 ? 4 : 5) << i;
  EXPECT_TRUE(plic.level(kIrq));

  // The device's DMA is tracked: the data page, the status page and the
  // used ring are dirty; the header page (only read) and the second data
  // page (not reached) are not.
  EXPECT_TRUE(ram->dirty().test(ram->page_of(data)));
  EXPECT_FALSE(ram->dirty().test(ram->page_of(data + mem::kPageSize)));
  EXPECT_TRUE(ram->dirty().test(ram->page_of(st)));
  EXPECT_TRUE(ram->dirty().test(ram->page_of(drv->used_addr(0))));
  EXPECT_FALSE(ram->dirty().test(ram->page_of(h)));
}

TEST_F(BlkTest, WriteReachesTheImage) {
  open(false);
  uint64_t h = header(kVirtioBlkTOut, 10);
  uint64_t data = drv->alloc(1024);
  std::string pattern(1024, 'w');
  for (size_t i = 0; i < pattern.size(); i++) pattern[i] = static_cast<char>('a' + i % 26);
  drv->poke(data, pattern.data(), pattern.size());
  uint64_t st = drv->alloc(1);
  uint8_t status = 0xff;
  // Data split over two descriptors (any layout, 2.6.4).
  uint32_t len = run({{h, 16, false}, {data, 700, false}, {data + 700, 324, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSOk);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(image.read(10 * kSectorSize, 1024), pattern);
  EXPECT_EQ(image.read(12 * kSectorSize, 1), std::string(1, 13)) << "the next sector is untouched";
}

// snapshot=on: the guest reads back what it wrote; the image never changes.
TEST_F(BlkTest, SnapshotOnWritesAPrivateCopy) {
  open(false, "d", /*snapshot=*/true);
  EXPECT_TRUE(blk->backend().is_private());
  const std::string before = image.read(0, kImageSectors * kSectorSize);
  uint64_t data = drv->alloc(1024), back = drv->alloc(1024), st = drv->alloc(1);
  std::string pattern(1024, 'p');
  drv->poke(data, pattern.data(), pattern.size());
  uint8_t status = 0xff;
  run({{header(kVirtioBlkTOut, 3), 16, false}, {data, 1024, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSOk);
  run({{header(kVirtioBlkTIn, 2), 16, false}, {back, 1024, true}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSOk);
  std::vector<uint8_t> got = drv->peek(back, 1024);
  EXPECT_EQ(std::string(got.begin(), got.begin() + 512), std::string(512, 3)) << "sector 2 from the image";
  EXPECT_EQ(std::string(got.begin() + 512, got.end()), pattern.substr(0, 512)) << "sector 3 as written";
  EXPECT_EQ(run({{header(kVirtioBlkTFlush, 0), 16, false}, {st, 1, true}}, st, &status), 1u);
  EXPECT_EQ(status, kVirtioBlkSOk);
  EXPECT_EQ(image.read(0, kImageSectors * kSectorSize), before);
}

TEST_F(BlkTest, HeaderSplitAcrossDescriptorsAndDataWithStatus) {
  open(false);
  uint64_t h = header(kVirtioBlkTIn, 0);
  uint64_t data = drv->alloc(513);  // data and status in one buffer
  uint8_t status = 0xff;
  uint32_t len = run({{h, 8, false}, {h + 8, 8, false}, {data, 513, true}}, data + 512, &status);
  EXPECT_EQ(status, kVirtioBlkSOk);
  EXPECT_EQ(len, 513u);
  EXPECT_EQ(drv->peek(data, 1)[0], 1);
}

TEST_F(BlkTest, ReadThroughAnIndirectTable) {
  open(false);
  uint64_t h = header(kVirtioBlkTIn, 63);
  uint64_t data = drv->alloc(512), st = drv->alloc(1), table = drv->alloc(48);
  drv->add_indirect(0, table, {{h, 16, false}, {data, 512, true}, {st, 1, true}});
  drv->notify(0);
  VirtioTestDriver::Used u{};
  ASSERT_TRUE(drv->next_used(0, &u));
  EXPECT_EQ(u.len, 513u);
  EXPECT_EQ(drv->peek_le<uint8_t>(st), kVirtioBlkSOk);
  EXPECT_EQ(drv->peek(data, 1)[0], 64);
}

TEST_F(BlkTest, OutOfRangeAndMisalignedRequestsFail) {
  open(false);
  uint64_t data = drv->alloc(1024), st = drv->alloc(1);
  uint8_t status = 0;
  run({{header(kVirtioBlkTIn, 63), 16, false}, {data, 1024, true}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSIoErr) << "the second sector lies past the end";
  run({{header(kVirtioBlkTIn, UINT64_MAX), 16, false}, {data, 512, true}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSIoErr);
  run({{header(kVirtioBlkTOut, 0), 16, false}, {data, 100, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSIoErr) << "not a whole sector";
  EXPECT_FALSE(drv->status() & kVirtioStatusNeedsReset) << "I/O errors are not device failures";
}

TEST_F(BlkTest, FlushGetIdAndUnsupported) {
  open(false, "serial-123");
  uint64_t st = drv->alloc(1), id = drv->alloc(20);
  uint8_t status = 0xff;
  EXPECT_EQ(run({{header(kVirtioBlkTFlush, 0), 16, false}, {st, 1, true}}, st, &status), 1u);
  EXPECT_EQ(status, kVirtioBlkSOk);
  EXPECT_EQ(run({{header(kVirtioBlkTGetId, 0), 16, false}, {id, 20, true}, {st, 1, true}}, st, &status), 21u);
  EXPECT_EQ(status, kVirtioBlkSOk);
  std::vector<uint8_t> got = drv->peek(id, 20);
  EXPECT_EQ(std::string(got.begin(), got.begin() + 10), "serial-123");
  EXPECT_EQ(got[10], 0) << "NUL-padded";
  run({{header(11 /* DISCARD */, 0), 16, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSUnsupp);
}

TEST_F(BlkTest, ReadOnlyRejectsWrites) {
  open(true);
  EXPECT_TRUE(drv->device_features() & feature_bit(kVirtioBlkFRo));
  uint64_t data = drv->alloc(512), st = drv->alloc(1);
  std::string junk(512, 'X');
  drv->poke(data, junk.data(), junk.size());
  uint8_t status = 0;
  run({{header(kVirtioBlkTOut, 0), 16, false}, {data, 512, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSIoErr);
  EXPECT_EQ(image.read(0, 512), std::string(512, 1)) << "the image is unchanged";
  run({{header(kVirtioBlkTIn, 1), 16, false}, {data, 512, true}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSOk) << "reads still work";
}

// A snapshot's copy-before-write hook (state/disk_copy.h) must see the
// whole range of a guest write while the image still holds the old data.
TEST_F(BlkTest, WriteHookRunsBeforeTheWriteLands) {
  open(false);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  std::string seen;
  const int hook = blk->add_write_hook([&](uint64_t offset, uint64_t len) {
    calls.emplace_back(offset, len);
    seen = image.read(offset, static_cast<size_t>(len));
  });
  // A second owner (replication beside a snapshot) is called after it.
  std::vector<uint64_t> second;
  const int hook2 = blk->add_write_hook([&](uint64_t offset, uint64_t) {
    EXPECT_EQ(calls.size(), second.size() + 1) << "hooks run in the order added";
    second.push_back(offset);
  });
  uint64_t data = drv->alloc(1024), st = drv->alloc(1);
  std::string fresh(1024, 'n');
  drv->poke(data, fresh.data(), fresh.size());
  uint8_t status = 0xff;
  run({{header(kVirtioBlkTOut, 5), 16, false}, {data, 1024, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSOk);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(5 * kSectorSize, uint64_t{1024}));
  EXPECT_EQ(seen, std::string(512, 6) + std::string(512, 7)) << "the hook saw the old content";
  EXPECT_EQ(image.read(5 * kSectorSize, 1024), fresh);

  // Reads, flushes and failed writes do not call it.
  run({{header(kVirtioBlkTIn, 5), 16, false}, {data, 1024, true}, {st, 1, true}}, st, &status);
  run({{header(kVirtioBlkTFlush, 0), 16, false}, {st, 1, true}}, st, &status);
  run({{header(kVirtioBlkTOut, 63), 16, false}, {data, 1024, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(status, kVirtioBlkSIoErr);
  EXPECT_EQ(calls.size(), 1u);
  EXPECT_EQ(second, std::vector<uint64_t>{5 * kSectorSize});
  blk->remove_write_hook(hook);
  blk->remove_write_hook(hook2);
  run({{header(kVirtioBlkTOut, 0), 16, false}, {data, 512, false}, {st, 1, true}}, st, &status);
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(BlkTest, RequestWithoutHeaderOrStatusNeedsReset) {
  open(false);
  uint64_t st = drv->alloc(1);
  drv->add(0, {{drv->alloc(8), 8, false}, {st, 1, true}});
  drv->notify(0);
  EXPECT_TRUE(drv->status() & kVirtioStatusNeedsReset);
  EXPECT_TRUE(drv->isr() & kVirtioIntConfigChange);
}

TEST_F(BlkTest, StateRoundTrip) {
  open(false);
  VirtioBlk::State saved = blk->save();
  EXPECT_EQ(saved.capacity, kImageSectors);
  ASSERT_TRUE(blk->restore(saved).ok());
  EXPECT_EQ(blk->save(), saved);

  VirtioBlk::State s = saved;
  s.capacity = kImageSectors + 1;
  auto st = blk->restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("capacity"), std::string::npos) << st.error().message();
  s = saved;
  s.read_only = 1;
  st = blk->restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("read_only"), std::string::npos) << st.error().message();

  // The transport state of a live block device round-trips too.
  uint64_t data = drv->alloc(512), stb = drv->alloc(1);
  uint8_t status;
  run({{header(kVirtioBlkTIn, 0), 16, false}, {data, 512, true}, {stb, 1, true}}, stb, &status);
  VirtioMmio::State t = dev->save();
  drv->ack(kVirtioIntUsedBuffer);
  run({{header(kVirtioBlkTIn, 1), 16, false}, {data, 512, true}, {stb, 1, true}}, stb, &status);
  EXPECT_NE(dev->save(), t);
  ASSERT_TRUE(dev->restore(t).ok());
  EXPECT_EQ(dev->save(), t);
}

}  // namespace
}  // namespace tandem::dev

namespace tandem::dev {
namespace {

TEST(BlkSpec, ParsesDriveArguments) {
  auto o = VirtioBlk::parse_spec("file=/tmp/a.img");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->path, "/tmp/a.img");
  EXPECT_FALSE(o->read_only);
  o = VirtioBlk::parse_spec("file=/tmp/x,,y.img,readonly=on,serial=disk1");
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_EQ(o->path, "/tmp/x,y.img");
  EXPECT_TRUE(o->read_only);
  EXPECT_EQ(o->serial, "disk1");
}

// As QEMU users type it: format=raw and if=virtio are accepted.
TEST(BlkSpec, AcceptsFormatRawIfVirtioAndSnapshot) {
  auto o = VirtioBlk::parse_spec("file=d.img,format=raw,if=virtio,snapshot=on");
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_TRUE(o->format_raw);
  EXPECT_TRUE(o->snapshot);
  o = VirtioBlk::parse_spec("if=virtio,file=d.img,snapshot=off");
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_FALSE(o->format_raw);
  EXPECT_FALSE(o->snapshot);
}

TEST(BlkSpec, FormatParsesBack) {
  for (const char* spec : {"file=/tmp/a.img", "file=/tmp/x,,y.img,readonly=on,serial=d,,1", "file=rel.img,serial=s",
                           "file=a.img,format=raw,snapshot=on"}) {
    auto o = VirtioBlk::parse_spec(spec);
    ASSERT_TRUE(o.ok()) << spec;
    EXPECT_EQ(VirtioBlk::format_spec(*o), spec);
  }
}

TEST(BlkSpec, RejectsBadArgumentsNamingThePart) {
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"readonly=on", "drive 'readonly=on': file=PATH is missing"},
      {"file=a,readonly=yes", "drive 'file=a,readonly=yes': readonly must be 'on' or 'off', not 'yes'"},
      {"file=a,format=qcow2",
       "drive 'file=a,format=qcow2': format 'qcow2' is not supported: tandem attaches raw images only "
       "(convert with 'qemu-img convert -O raw IMAGE IMAGE.raw')"},
      {"file=a,if=ide", "drive 'file=a,if=ide': interface 'ide' is not supported: tandem's drives are virtio-blk "
                        "(if=virtio)"},
      {"file=a,snapshot=1", "drive 'file=a,snapshot=1': snapshot must be 'on' or 'off', not '1'"},
      {"file=a,cache=none", "drive 'file=a,cache=none': unknown option 'cache'"},
      {"file=a,ro", "drive 'file=a,ro': 'ro' is not KEY=VALUE"},
      {"file=", "drive 'file=': empty file name"},
  };
  for (const Case& c : cases) {
    auto o = VirtioBlk::parse_spec(c.spec);
    ASSERT_FALSE(o.ok()) << c.spec;
    EXPECT_EQ(o.error().message(), c.message);
  }
}

}  // namespace
}  // namespace tandem::dev
