// Image formats other than raw are recognised by their magic and refused
// with a message naming qemu-img convert, unless format=raw says otherwise.
#include "dev/image_format.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "dev/virtio_blk.h"

namespace tandem::dev {
namespace {

std::vector<uint8_t> head_with(const std::string& magic, size_t at = 0) {
  std::vector<uint8_t> h(kImageProbeBytes, 0);
  std::memcpy(h.data() + at, magic.data(), magic.size());
  return h;
}

TEST(ImageFormat, RecognisesTheCommonFormats) {
  struct Case {
    std::string magic;
    size_t at;
    const char* format;
  } cases[] = {
      {std::string("QFI\xfb\0\0\0\3", 8), 0, "qcow2"},
      {"KDMV", 0, "vmdk"},
      {"# Disk DescriptorFile\nversion=1\n", 0, "vmdk"},
      {"<<< Oracle VM VirtualBox Disk Image >>>\n", 0, ""},  // the text alone is not the signature
      {std::string("\x7f\x10\xda\xbe", 4), 0x40, "vdi"},
      {"vhdxfile", 0, "vhdx"},
      {"conectix", 0, "vpc"},
  };
  for (const Case& c : cases) {
    auto h = head_with(c.magic, c.at);
    EXPECT_EQ(probe_image_format(h.data(), h.size()), c.format) << c.magic;
  }
}

TEST(ImageFormat, RawHeadsAreRaw) {
  std::vector<uint8_t> zeros(kImageProbeBytes, 0);
  EXPECT_EQ(probe_image_format(zeros.data(), zeros.size()), "");
  auto mbr = head_with("\xeb\x63\x90", 0);
  mbr[510] = 0x55, mbr[511] = 0xaa;
  EXPECT_EQ(probe_image_format(mbr.data(), mbr.size()), "");
  auto short_qcow = head_with("QFI");
  EXPECT_EQ(probe_image_format(short_qcow.data(), 3), "") << "a file shorter than the magic";
  auto vdi = head_with(std::string("\x7f\x10\xda\xbe", 4), 0x40);
  EXPECT_EQ(probe_image_format(vdi.data(), 0x42), "") << "cut inside the signature";
}

// A scratch image file with the given head, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::vector<uint8_t>& head) {
    char tmpl[] = "/tmp/tandem-fmt-XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path_ = tmpl;
    std::vector<uint8_t> data(64 * 1024, 0);
    std::copy(head.begin(), head.end(), data.begin());
    EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ImageFormat, VirtioBlkRefusesAQcow2UnlessFormatRaw) {
  TempFile f(head_with(std::string("QFI\xfb\0\0\0\3", 8)));
  for (bool snapshot : {false, true}) {
    VirtioBlk::Options o;
    o.path = f.path();
    o.snapshot = snapshot;
    auto blk = VirtioBlk::open(o);
    ASSERT_FALSE(blk.ok());
    EXPECT_EQ(blk.error().message(),
              "drive '" + f.path() + "' is a qcow2 image; tandem attaches raw images only. Convert it with "
              "'qemu-img convert -O raw " + f.path() + " IMAGE.raw', or add format=raw to give the guest the "
              "file's bytes as they are");
    o.format_raw = true;
    blk = VirtioBlk::open(o);
    ASSERT_TRUE(blk.ok()) << blk.error().message();
    EXPECT_EQ((*blk)->capacity(), 128u);
  }
  for (const char* magic : {"KDMV", "vhdxfile"}) {
    TempFile g(head_with(magic));
    VirtioBlk::Options o;
    o.path = g.path();
    auto blk = VirtioBlk::open(o);
    ASSERT_FALSE(blk.ok()) << magic;
    EXPECT_NE(blk.error().message().find("qemu-img convert -O raw"), std::string::npos);
  }
  TempFile raw(head_with("just data"));
  VirtioBlk::Options o;
  o.path = raw.path();
  EXPECT_TRUE(VirtioBlk::open(o).ok());
}

}  // namespace
}  // namespace tandem::dev
