// virtio block device (virtio 1.1 section 5.2) backed by a raw image file,
// used in place or through a private copy (dev/private_drive.h).
// Requests complete synchronously when the driver notifies the queue.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dev/block_backend.h"
#include "dev/virtio_device.h"
#include "dev/virtio_mmio.h"
#include "dev/virtio_queue.h"

namespace tandem::dev {

inline constexpr uint32_t kVirtioIdBlock = 2;

// Feature bits (5.2.3).
inline constexpr unsigned kVirtioBlkFSizeMax = 1;
inline constexpr unsigned kVirtioBlkFSegMax = 2;
inline constexpr unsigned kVirtioBlkFRo = 5;
inline constexpr unsigned kVirtioBlkFBlkSize = 6;
inline constexpr unsigned kVirtioBlkFFlush = 9;

// struct virtio_blk_config (5.2.4), the fields we fill:
//   0 le64 capacity (512-byte sectors)   8 le32 size_max   12 le32 seg_max
//  16 geometry (le16 cylinders, u8 heads, u8 sectors)   20 le32 blk_size
inline constexpr uint32_t kVirtioBlkConfigSize = 24;

// struct virtio_blk_req (5.2.6): le32 type, le32 reserved, le64 sector,
// data, u8 status (the last device-writable byte).
inline constexpr uint32_t kVirtioBlkTIn = 0;
inline constexpr uint32_t kVirtioBlkTOut = 1;
inline constexpr uint32_t kVirtioBlkTFlush = 4;
inline constexpr uint32_t kVirtioBlkTGetId = 8;
inline constexpr uint8_t kVirtioBlkSOk = 0;
inline constexpr uint8_t kVirtioBlkSIoErr = 1;
inline constexpr uint8_t kVirtioBlkSUnsupp = 2;
inline constexpr uint32_t kVirtioBlkIdBytes = 20;
inline constexpr uint64_t kSectorSize = 512;

class VirtioBlk : public VirtioDevice {
 public:
  struct Options {
    std::string path;
    bool read_only = false;
    std::string serial;  // GET_ID answer, at most 20 bytes used
    // format=raw: attach the file even if its head looks like another
    // image format (dev/image_format.h).
    bool format_raw = false;
    // snapshot=on (as QEMU's): the VM writes a private copy and the
    // file never changes (dev/private_drive.h).
    bool snapshot = false;
  };
  // Guest-visible facts of the image, checked against the file on restore.
  struct State {
    uint64_t capacity = 0;   // sectors
    uint32_t read_only = 0;  // VIRTIO_BLK_F_RO offered
    bool operator==(const State&) const = default;
  };

  // Parses the --drive argument: "file=PATH[,readonly=on|off][,serial=ID]
  // [,format=raw][,if=virtio][,snapshot=on|off]" (",," stands for a comma
  // inside a value, as in QEMU). Other formats and interfaces are refused.
  static Result<Options> parse_spec(std::string_view spec);
  // The inverse of parse_spec(): a spec that parses back to `options`.
  static std::string format_spec(const Options& options);
  static Result<std::unique_ptr<VirtioBlk>> open(const Options& options);
  // The same on a backend already open (a private copy kept over a guest
  // reboot: Machine::create's `keep`); `options` must be the ones it was
  // opened with.
  static std::unique_ptr<VirtioBlk> open(const Options& options, std::shared_ptr<BlockBackend> backend);
  ~VirtioBlk() override;
  VirtioBlk(const VirtioBlk&) = delete;
  VirtioBlk& operator=(const VirtioBlk&) = delete;

  uint32_t device_id() const override { return kVirtioIdBlock; }
  const char* name() const override { return "virtio-blk"; }
  uint64_t device_features() const override;
  unsigned queue_count() const override { return 1; }
  uint32_t config_size() const override { return kVirtioBlkConfigSize; }
  void read_config(uint32_t offset, uint8_t* dst, uint32_t len) const override;
  Status queue_notify(unsigned q) override;

  uint64_t capacity() const { return capacity_; }
  bool read_only() const { return read_only_; }
  const std::string& path() const { return options_.path; }
  // The drive's spec as it runs now (format_spec of its options, with
  // format=raw: it was taken as raw; after replace_backend(), the new
  // file's).
  std::string spec() const { return format_spec(options_); }
  // Where the drive's bytes are, for host-side work on them (a snapshot's
  // copy of the drive).
  BlockBackend& backend() { return *backend_; }
  const std::shared_ptr<BlockBackend>& shared_backend() const { return backend_; }
  // Makes every completed write durable (fdatasync of the image; nothing
  // for a private copy).
  Status flush();
  // Between requests: the drive runs on `backend` from now on, a raw file
  // used in place at `path` holding the same content (a suspend writes a
  // private copy out this way). It must have the same size.
  Status replace_backend(std::unique_ptr<BlockBackend> backend, const std::string& path);

  // Hooks called, in the order added, with the byte range of each guest
  // write (VIRTIO_BLK_T_OUT) before any of it reaches the image, on the
  // thread serving the queue: a snapshot preserves the old content there
  // (copy-before-write), replication marks the range for its checkpoint.
  using WriteHook = std::function<void(uint64_t offset, uint64_t len)>;
  int add_write_hook(WriteHook hook);
  void remove_write_hook(int id);

  State save() const { return State{capacity_, read_only_}; }
  // Whether restore(s) would accept `s`; changes nothing.
  Status check(const State& s) const;
  Status restore(const State& s);

 private:
  VirtioBlk(std::shared_ptr<BlockBackend> backend, const Options& options);
  // Executes one request; returns the bytes written into the chain and
  // moved in all. An Error is a malformed request (the device then needs a
  // reset); host I/O failures become VIRTIO_BLK_S_IOERR.
  Result<VirtioCompletion> execute(const DescChain& chain);
  // Data phase of IN/OUT: the request status, or an Error for guest faults.
  Result<uint8_t> transfer_in(const DescChain& chain, uint64_t sector, uint64_t len);
  Result<uint8_t> transfer_out(const DescChain& chain, uint64_t sector, uint64_t len);
  bool in_range(uint64_t sector, uint64_t len) const;

  std::shared_ptr<BlockBackend> backend_;
  uint64_t capacity_;
  bool read_only_;
  std::string serial_;
  Options options_;
  DescChain chain_;              // reused between requests
  std::vector<std::pair<int, WriteHook>> write_hooks_;
  int next_hook_id_ = 0;
  std::vector<uint8_t> bounce_;  // file <-> guest copies go through it
};

}  // namespace tandem::dev
