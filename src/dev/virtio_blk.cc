#include "dev/virtio_blk.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/bytes.h"
#include "base/log.h"
#include "dev/image_format.h"
#include "dev/private_drive.h"
#include "dev/virtio_mmio.h"

namespace tandem::dev {

namespace {
constexpr size_t kBounceSize = 64 * 1024;
constexpr uint32_t kHeaderSize = 16;

Result<bool> on_off(const std::string& where, const std::string& key, const std::string& value) {
  if (value != "on" && value != "off") return Error(where + ": " + key + " must be 'on' or 'off', not '" + value + "'");
  return value == "on";
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
    } else if (key == "readonly" || key == "snapshot") {
      auto on = on_off(where, key, value);
      if (!on.ok()) return on.error();
      (key == "readonly" ? o.read_only : o.snapshot) = *on;
    } else if (key == "format") {
      if (value != "raw")
        return Error(where + ": format '" + value + "' is not supported: tandem attaches raw images only " +
                     "(convert with 'qemu-img convert -O raw IMAGE IMAGE.raw')");
      o.format_raw = true;
    } else if (key == "if") {
      if (value != "virtio")
        return Error(where + ": interface '" + value +
                     "' is not supported: tandem's drives are virtio-blk (if=virtio)");
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
  if (options.format_raw) spec += ",format=raw";
  if (options.snapshot) spec += ",snapshot=on";
  return spec;
}

Result<std::unique_ptr<VirtioBlk>> VirtioBlk::open(const Options& options) {
  std::unique_ptr<BlockBackend> backend;
  if (options.snapshot && !options.read_only) {
    auto copy = open_private_drive(options.path);
    if (!copy.ok()) return copy.error();
    backend = std::move(copy).value();
  } else {
    std::string what = "open drive '" + options.path + "'";
    int fd = ::open(options.path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (!options.read_only && (err == EACCES || err == EROFS))
        return Error(what + ": " + std::strerror(err) + " (add readonly=on to use it read-only)");
      return sys_error(what, err);
    }
    auto size = fd_size(fd);
    if (!size.ok()) {
      ::close(fd);
      return size.error().context(what);
    }
    backend = std::make_unique<RawFileBackend>(fd, *size, options.path);
  }
  if (!options.format_raw) TANDEM_TRY(check_raw_image(*backend, options.path));
  if (backend->size() % kSectorSize)
    TANDEM_LOG(LogLevel::kWarn, "drive '" + options.path + "': size is not a multiple of 512; the tail is not visible");
  return std::unique_ptr<VirtioBlk>(new VirtioBlk(std::move(backend), options));
}

std::unique_ptr<VirtioBlk> VirtioBlk::open(const Options& options, std::shared_ptr<BlockBackend> backend) {
  return std::unique_ptr<VirtioBlk>(new VirtioBlk(std::move(backend), options));
}

VirtioBlk::VirtioBlk(std::shared_ptr<BlockBackend> backend, const Options& options)
    : backend_(std::move(backend)),
      capacity_(backend_->size() / kSectorSize),
      read_only_(options.read_only),
      serial_(options.serial.substr(0, kVirtioBlkIdBytes)),
      options_(options),
      bounce_(kBounceSize) {
  if (read_only_) options_.snapshot = false;  // nothing to keep private
  // Checked (or declared) raw: a snapshot of this drive says so, and its
  // restore does not probe content the guest wrote (a guest may well put
  // a qcow2 header on its own disk).
  options_.format_raw = true;
}

VirtioBlk::~VirtioBlk() = default;

Status VirtioBlk::replace_backend(std::unique_ptr<BlockBackend> backend, const std::string& path) {
  if (backend->size() != backend_->size())
    return Error("drive '" + path + "' is " + std::to_string(backend->size()) + " bytes, not " +
                 std::to_string(backend_->size()));
  backend_ = std::move(backend);
  options_.path = path;
  options_.snapshot = backend_->is_private();
  return Ok();
}

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
    if (!backend_->read(bounce_.data(), n, sector * kSectorSize + done).ok()) return kVirtioBlkSIoErr;
    TANDEM_TRY(write_chain(mem, c, done, bounce_.data(), n));
    done += n;
  }
  return kVirtioBlkSOk;
}

Result<uint8_t> VirtioBlk::transfer_out(const DescChain& c, uint64_t sector, uint64_t len) {
  // 5.2.6.2: a write to a read-only device fails with IOERR.
  if (read_only_ || !in_range(sector, len)) return kVirtioBlkSIoErr;
  if (len > 0)
    for (auto& [id, hook] : write_hooks_) hook(sector * kSectorSize, len);
  mem::GuestMemory& mem = transport_->memory();
  for (uint64_t done = 0; done < len;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, bounce_.size()));
    TANDEM_TRY(read_chain(mem, c, kHeaderSize + done, bounce_.data(), n));
    if (!backend_->write(bounce_.data(), n, sector * kSectorSize + done).ok()) return kVirtioBlkSIoErr;
    done += n;
  }
  return kVirtioBlkSOk;
}

// 5.2.6: the header is the first 16 readable bytes and the status the last
// writable byte, however the driver split them into descriptors.
int VirtioBlk::add_write_hook(WriteHook hook) {
  write_hooks_.emplace_back(++next_hook_id_, std::move(hook));
  return next_hook_id_;
}

void VirtioBlk::remove_write_hook(int id) {
  std::erase_if(write_hooks_, [id](const auto& h) { return h.first == id; });
}

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
      if (!read_only_ && !backend_->flush().ok()) status = kVirtioBlkSIoErr;
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
  return backend_->flush();
}

Status VirtioBlk::check(const State& s) const {
  if (s.read_only > 1) return Error("virtio-blk state: read_only is not 0 or 1");
  if (s.capacity != capacity_)
    return Error("virtio-blk state: capacity " + std::to_string(s.capacity) + " sectors, but drive '" +
                 path() + "' has " + std::to_string(capacity_));
  if (static_cast<bool>(s.read_only) != read_only_)
    return Error("virtio-blk state: read_only " + std::to_string(s.read_only) + " differs from drive '" +
                 path() + "'");
  return Ok();
}

// Capacity and read-only come from the drive, not from the state.
Status VirtioBlk::restore(const State& s) { return check(s); }

}  // namespace tandem::dev
