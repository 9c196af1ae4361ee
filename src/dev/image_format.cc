#include "dev/image_format.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace tandem::dev {

namespace {

struct Magic {
  const char* format;  // as qemu-img names it
  size_t offset;
  std::string_view bytes;
};

// From each format's specification: qcow2 header "QFI\xfb" (also qcow
// version 1); VMDK sparse extent "KDMV" and its text descriptor; VDI's
// signature 0xbeda107f (little-endian) at 0x40; VHDX file identifier
// "vhdxfile"; a dynamic VHD starts with its footer copy "conectix" (a
// fixed VHD is raw data with the footer at the end: left as raw).
constexpr Magic kMagics[] = {
    {"qcow2", 0, std::string_view("QFI\xfb", 4)},
    {"vmdk", 0, "KDMV"},
    {"vmdk", 0, "# Disk DescriptorFile"},
    {"vdi", 0x40, std::string_view("\x7f\x10\xda\xbe", 4)},
    {"vhdx", 0, "vhdxfile"},
    {"vpc", 0, "conectix"},
};

}  // namespace

std::string probe_image_format(const uint8_t* head, size_t len) {
  for (const Magic& m : kMagics)
    if (len >= m.offset + m.bytes.size() && std::memcmp(head + m.offset, m.bytes.data(), m.bytes.size()) == 0)
      return m.format;
  return "";
}

Status check_raw_image(BlockBackend& drive, const std::string& path) {
  uint8_t head[kImageProbeBytes];
  size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof head, drive.size()));
  Status st = drive.read(head, n, 0);
  if (!st.ok()) return st.error().context("read drive '" + path + "'");
  std::string format = probe_image_format(head, n);
  if (format.empty()) return Ok();
  return Error("drive '" + path + "' is a " + format +
               " image; tandem attaches raw images only. Convert it with 'qemu-img convert -O raw " + path +
               " IMAGE.raw', or add format=raw to give the guest the file's bytes as they are");
}

}  // namespace tandem::dev
