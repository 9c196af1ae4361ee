// `tandem snapshot info [--check] [--json] FILE`: what a snapshot file
// holds, as `qemu-img info` shows an image (format version, machine, RAM,
// sections, memory blocks and their codecs, working set, drives), and
// with --check whether every checksum holds, as `qemu-img check`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tandem::cli {

struct SnapshotInfo {
  // {"file": ..., "format_version": ..., ...}; {"file", "error"} when the
  // file cannot be read or is refused; with a check, also "check".
  nlohmann::ordered_json report;
  // qemu-img check's exit codes: 0 intact, 1 not read (missing,
  // unreadable), 2 damaged (refused by the reader, a memory block that
  // fails its checksum or does not decompress, a drive copy missing or
  // changed).
  int verdict = 0;
};

SnapshotInfo inspect_snapshot(const std::string& path, bool check);

// The report as `snapshot info` prints it for people.
std::string format_snapshot_info(const nlohmann::ordered_json& report);

int snapshot_info_command(int argc, char** argv, int first);

}  // namespace tandem::cli
