#include "dev/virtio_blk.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/bytes.h"
#include "base/log.h"
#include "dev/virtio_mmio.h"

namespace tandem::dev {

namespace {
constexpr size_t kBounceSize = 64 * 1024;
constexpr uint32_t kHeaderSize = 16;

// pread/pwrite the whole range, retrying short transfers and EINTR.
bool pread_all(int fd, uint8_t* buf, size_t len, uint64_t pos) {
  while (len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
    pos += static_cast<uint64_t>(n);
  }
  return true;
}

bool pwrite_all(int fd, const uint8_t* buf, size_t len, uint64_t pos) {
  while (len > 0) {
    ssize_t n = ::pwrite(fd, buf, len, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
    pos += static_cast<uint64_t>(n);
  }
  return true;
}
}  // namespace

Result<VirtioBlk::Options> VirtioBlk::parse_spec(std::string_view spec) {
  // Split at single commas; ",," is a literal comma.
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < spec.size(); i++) {
    if (spec[i] != ',') {
      parts.back().push_back(spec[i]);
    } else if (i + 1 < spec.size() && spec[i + 1] == ',') {
      parts.back().push_back(',');
      i++;
    } else {
      parts.emplace_back();
    }
  }
  Options o;
  bool have_file = false;
  std::string where = "drive '" + std::string(spec) + "'";
  for (const std::string& part : parts) {
    size_t eq = part.find('=');
    std::string key = part.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
    if (eq == std::string::npos) return Error(where + ": '" + part + "' is not KEY=VALUE");
    if (key == "file") {
      if (value.empty()) return Error(where + ": empty file name");
      o.path = value;
      have_file = true;
    } else if (key == "readonly") {
      if (value != "on" && value != "off")
        return Error(where + ": readonly must be 'on' or 'off', not '" + value + "'");
      o.read_only = value == "on";
    } else if (key == "serial") {
      if (value.size() > kVirtioBlkIdBytes) return Error(where + ": serial is longer than 20 bytes");
      o.serial = value;
    } else {
      return Error(where + ": unknown option '" + key + "'");
    }
  }
  if (!have_file) return Error(where + ": file=PATH is missing");
  return o;
}

std::string VirtioBlk::format_spec(const Options& options) {
  auto escaped = [](const std::string& v) {
    std::string out;
    for (char ch : v) {
      out.push_back(ch);
      if (ch == ',') out.push_back(',');
    }
    return out;
  };
  std::string spec = "file=" + escaped(options.path);
  if (options.read_only) spec += ",readonly=on";
  if (!options.serial.empty()) spec += ",serial=" + escaped(options.serial);
  return spec;
}

Result<std::unique_ptr<VirtioBlk>> VirtioBlk::open(const Options& options) {
  std::string what = "open drive '" + options.path + "'";
  int fd = ::open(options.path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (!options.read_only && (err == EACCES || err == EROFS))
      return Error(what + ": " + std::strerror(err) + " (add readonly=on to use it read-only)");
    return sys_error(what, err);
  }
  off_t end = ::lseek(fd, 0, SEEK_END);  // works for block devices too
  if (end < 0) {
    int err = errno;
    ::close(fd);
    return sys_error(what + ": find its size", err);
  }
  uint64_t capacity = static_cast<uint64_t>(end) / kSectorSize;
  if (static_cast<uint64_t>(end) % kSectorSize)
    TANDEM_LOG(LogLevel::kWarn, "drive '" + options.path + "': size is not a multiple of 512; the tail is not visible");
  return std::unique_ptr<VirtioBlk>(new VirtioBlk(fd, capacity, options));
}

VirtioBlk::VirtioBlk(int fd, uint64_t capacity, const Options& options)
    : fd_(fd),
      capacity_(capacity),
      read_only_(options.read_only),
      serial_(options.serial.substr(0, kVirtioBlkIdBytes)),
      path_(options.path),
      bounce_(kBounceSize) {}

VirtioBlk::~VirtioBlk() { ::close(fd_); }

uint64_t VirtioBlk::device_features() const {
  uint64_t f = feature_bit(kVirtioBlkFSegMax) | feature_bit(kVirtioBlkFBlkSize) |
               feature_bit(kVirtioBlkFFlush);
  if (read_only_) f |= feature_bit(kVirtioBlkFRo);
  return f;
}

void VirtioBlk::read_config(uint32_t offset, uint8_t* dst, uint32_t len) const {
  uint8_t cfg[kVirtioBlkConfigSize] = {};
  store_le<uint64_t>(cfg + 0, capacity_);
  // A request is header + data + status: leave two descriptors of a full queue.
  store_le<uint32_t>(cfg + 12, queue_max_size() - 2);  // seg_max
  store_le<uint32_t>(cfg + 20, static_cast<uint32_t>(kSectorSize));  // blk_size
  std::memcpy(dst, cfg + offset, len);
}

Status VirtioBlk::queue_notify(unsigned q) {
  return transport_->serve(q, chain_, [this](const DescChain& c) { return execute(c); });
}

bool VirtioBlk::in_range(uint64_t sector, uint64_t len) const {
  uint64_t sectors = len / kSectorSize;
  return len % kSectorSize == 0 && sector <= capacity_ && sectors <= capacity_ - sector;
}

Result<uint8_t> VirtioBlk::transfer_in(const DescChain& c, uint64_t sector, uint64_t len) {
  if (!in_range(sector, len)) return kVirtioBlkSIoErr;
  mem::GuestMemory& mem = transport_->memory();
  for (uint64_t done = 0; done < len;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, bounce_.size()));
    if (!pread_all(fd_, bounce_.data(), n, sector * kSectorSize + done)) return kVirtioBlkSIoErr;
    TANDEM_TRY(write_chain(mem, c, done, bounce_.data(), n));
    done += n;
  }
  return kVirtioBlkSOk;
}

Result<uint8_t> VirtioBlk::transfer_out(const DescChain& c, uint64_t sector, uint64_t len) {
  // 5.2.6.2: a write to a read-only device fails with IOERR.
  if (read_only_ || !in_range(sector, len)) return kVirtioBlkSIoErr;
  if (write_hook_ && len > 0) write_hook_(sector * kSectorSize, len);
  mem::GuestMemory& mem = transport_->memory();
  for (uint64_t done = 0; done < len;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, bounce_.size()));
    TANDEM_TRY(read_chain(mem, c, kHeaderSize + done, bounce_.data(), n));
    if (!pwrite_all(fd_, bounce_.data(), n, sector * kSectorSize + done)) return kVirtioBlkSIoErr;
    done += n;
  }
  return kVirtioBlkSOk;
}

// 5.2.6: the header is the first 16 readable bytes and the status the last
// writable byte, however the driver split them into descriptors.
Result<VirtioCompletion> VirtioBlk::execute(const DescChain& c) {
  mem::GuestMemory& mem = transport_->memory();
  if (c.readable_len < kHeaderSize)
    return Error("request header is " + std::to_string(c.readable_len) + " bytes, not 16");
  if (c.writable_len < 1) return Error("request has no status byte");
  if (c.writable_len > UINT32_MAX) return Error("request writes more than 4 GiB");
  uint8_t hdr[kHeaderSize];
  TANDEM_TRY(read_chain(mem, c, 0, hdr, sizeof hdr));
  uint32_t type = load_le<uint32_t>(hdr);
  uint64_t sector = load_le<uint64_t>(hdr + 8);
  uint64_t in_len = c.writable_len - 1;        // data the device may write
  uint64_t out_len = c.readable_len - kHeaderSize;  // data the device reads

  uint8_t status = kVirtioBlkSOk;
  uint64_t written = 0;
  uint64_t moved = 0;  // data bytes copied, for the queue's budget
  switch (type) {
    case kVirtioBlkTIn: {
      Result<uint8_t> r = transfer_in(c, sector, in_len);
      if (!r.ok()) return r.error();
      status = *r;
      if (status == kVirtioBlkSOk) written = moved = in_len;
      break;
    }
    case kVirtioBlkTOut: {
      Result<uint8_t> r = transfer_out(c, sector, out_len);
      if (!r.ok()) return r.error();
      status = *r;
      if (status == kVirtioBlkSOk) moved = out_len;
      break;
    }
    case kVirtioBlkTFlush:
      if (::fdatasync(fd_) != 0 && !read_only_) status = kVirtioBlkSIoErr;
      break;
    case kVirtioBlkTGetId: {
      // 5.2.6: up to 20 bytes, NUL-padded when shorter.
      uint8_t id[kVirtioBlkIdBytes] = {};
      std::memcpy(id, serial_.data(), serial_.size());
      written = std::min<uint64_t>(in_len, kVirtioBlkIdBytes);
      TANDEM_TRY(write_chain(mem, c, 0, id, static_cast<size_t>(written)));
      moved = written;
      break;
    }
    default: status = kVirtioBlkSUnsupp; break;
  }
  TANDEM_TRY(write_chain(mem, c, c.writable_len - 1, &status, 1));
  return VirtioCompletion{static_cast<uint32_t>(written + 1), moved + 1};
}

Status VirtioBlk::flush() {
  if (read_only_) return Ok();
  if (::fdatasync(fd_) != 0) return sys_error("flush drive '" + path_ + "'");
  return Ok();
}

Status VirtioBlk::restore(const State& s) {
  if (s.read_only > 1) return Error("virtio-blk state: read_only is not 0 or 1");
  if (s.capacity != capacity_)
    return Error("virtio-blk state: capacity " + std::to_string(s.capacity) + " sectors, but drive '" +
                 path_ + "' has " + std::to_string(capacity_));
  if (static_cast<bool>(s.read_only) != read_only_)
    return Error("virtio-blk state: read_only " + std::to_string(s.read_only) + " differs from drive '" +
                 path_ + "'");
  return Ok();
}

}  // namespace tandem::dev
