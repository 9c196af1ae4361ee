#include "state/disk_snapshot.h"

#include <fcntl.h>

#include <filesystem>

#include "state/machine_snapshot.h"

namespace tandem::state {

std::string drive_copy_path(const std::string& snapshot_path, size_t index) {
  return snapshot_path + ".drive" + std::to_string(index);
}

Status flush_drives(board::Machine& m) {
  size_t index = 0;
  for (size_t slot = 0; slot < m.virtio_count(); slot++) {
    auto* blk = dynamic_cast<dev::VirtioBlk*>(&m.virtio_device(slot));
    if (!blk) continue;
    size_t i = index++;
    // Its content would end with this process, and the snapshot would
    // name the image under it: a suspend writes it out first.
    if (!blk->read_only() && blk->backend().is_private())
      return Error("drive " + std::to_string(i) + " runs on " + blk->backend().describe() +
                   ", which ends with this process; it must be written out first (write_out_private_drives)");
    TANDEM_TRY(blk->flush());
  }
  return Ok();
}

Status write_out_private_drives(board::Machine& m, const std::string& snapshot_path) {
  size_t index = 0;
  for (size_t slot = 0; slot < m.virtio_count(); slot++) {
    auto* blk = dynamic_cast<dev::VirtioBlk*>(&m.virtio_device(slot));
    if (!blk) continue;
    size_t i = index++;
    if (blk->read_only() || !blk->backend().is_private()) continue;
    std::string what = "drive " + std::to_string(i) + " (" + blk->backend().describe() + ")";
    std::error_code ec;
    std::string dest = std::filesystem::absolute(drive_copy_path(snapshot_path, i), ec).string();
    if (ec) return Error(what + ": '" + snapshot_path + "': " + ec.message());
    auto copy = DiskCopy::start(blk->backend(), dest, {.allow_reflink = true, .background = false});
    if (!copy.ok()) return copy.error().context(what);
    while ((*copy)->copy_next()) {
    }
    auto id = (*copy)->commit();
    if (!id.ok()) return id.error().context(what);
    int fd = ::open(dest.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return sys_error(what + ": open '" + dest + "'");
    auto file = std::make_unique<dev::RawFileBackend>(fd, id->bytes, dest);
    TANDEM_TRY(blk->replace_backend(std::move(file), dest));
  }
  return Ok();
}

Result<std::unique_ptr<DriveSnapshots>> DriveSnapshots::start(board::Machine& m, const std::string& snapshot_path,
                                                              const DiskCopy::Options& options) {
  std::unique_ptr<DriveSnapshots> d(new DriveSnapshots());
  // The board attaches the drives first, in --drive order (Machine::attach_devices).
  size_t index = 0;
  for (size_t slot = 0; slot < m.virtio_count(); slot++) {
    auto* blk = dynamic_cast<dev::VirtioBlk*>(&m.virtio_device(slot));
    if (!blk) continue;
    size_t i = index++;
    if (blk->read_only()) continue;
    auto copy = DiskCopy::start(blk->backend(), drive_copy_path(snapshot_path, i), options);
    if (!copy.ok()) return copy.error().context("drive " + std::to_string(i) + " ('" + blk->path() + "')");
    Drive drive;
    drive.index = i;
    drive.blk = blk;
    drive.copy = std::move(copy).value();
    DiskCopy* c = drive.copy.get();
    drive.hook = blk->add_write_hook([c](uint64_t offset, uint64_t len) { c->before_write(offset, len); });
    d->drives_.push_back(std::move(drive));
  }
  if (index != m.config().drives.size())
    return Error("the machine has " + std::to_string(index) + " virtio-blk devices but " +
                 std::to_string(m.config().drives.size()) + " drives configured");
  return d;
}

DriveSnapshots::~DriveSnapshots() { unhook(); }

void DriveSnapshots::unhook() {
  for (auto& d : drives_)
    if (d.hook) d.blk->remove_write_hook(std::exchange(d.hook, 0));
}

bool DriveSnapshots::done() const {
  for (const auto& d : drives_)
    if (!d.copy->done()) return false;
  return true;
}

Status DriveSnapshots::status() const {
  for (const auto& d : drives_) TANDEM_TRY(d.copy->status());
  return Ok();
}

uint64_t DriveSnapshots::bytes_total() const {
  uint64_t n = 0;
  for (const auto& d : drives_) n += d.copy->bytes_total();
  return n;
}

uint64_t DriveSnapshots::bytes_done() const {
  uint64_t n = 0;
  for (const auto& d : drives_) n += d.copy->bytes_done();
  return n;
}

uint64_t DriveSnapshots::bytes_copied_early() const {
  uint64_t n = 0;
  for (const auto& d : drives_) n += d.copy->bytes_copied_early();
  return n;
}

bool DriveSnapshots::all_reflinked() const {
  for (const auto& d : drives_)
    if (d.copy->method() != DiskCopy::Method::kReflink) return false;
  return !drives_.empty();
}

std::vector<std::string> DriveSnapshots::paths() const {
  std::vector<std::string> out;
  for (const auto& d : drives_) out.push_back(d.copy->path());
  return out;
}

Status DriveSnapshots::commit(Snapshot& snap) {
  unhook();  // every copy is complete: the guest's writes need nothing more
  Status st;
  for (auto& d : drives_) {
    auto id = d.copy->commit();
    if (id.ok()) st = record_drive_copy(snap, d.index, d.copy->path(), *id);
    else st = id.error();
    if (!st.ok()) {
      discard();
      return st.error().context("drive " + std::to_string(d.index));
    }
  }
  return Ok();
}

void DriveSnapshots::discard() {
  for (auto& d : drives_) d.copy->discard();
}

}  // namespace tandem::state
