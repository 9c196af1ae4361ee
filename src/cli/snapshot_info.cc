#include "cli/snapshot_info.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <variant>

#include "cli/args.h"
#include "state/machine_snapshot.h"
#include "state/sections.h"
#include "state/snapshot_file.h"

namespace tandem::cli {

using json = nlohmann::ordered_json;

namespace {

constexpr size_t kErrorsListed = 20;  // in the text report; --json has all

const char* const kUsage =
    "usage: tandem snapshot info [--check] [--json] FILE\n"
    "  what FILE holds: format version, machine configuration, RAM, sections,\n"
    "  memory blocks and their codecs, the working set, drives and whether\n"
    "  their copies are there and intact (size and sampled content)\n"
    "  --check  also read every memory block, compare its checksum and\n"
    "           decompress it; exit 0 if all is intact, 2 if anything is\n"
    "           damaged, 1 if FILE cannot be read (as qemu-img check)\n"
    "  --json   the report as JSON\n";

std::string size_text(uint64_t bytes);
std::string size_text(const json& bytes) { return size_text(bytes.get<uint64_t>()); }

std::string size_text(uint64_t bytes) {
  static const char* const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, v == static_cast<uint64_t>(v) ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

const char* virtio_name(const state::VirtioDeviceState& d) {
  static const char* const names[] = {"virtio-blk", "virtio-net", "virtio-rng"};
  static_assert(std::variant_size_v<state::VirtioDeviceState> == 3);
  return names[d.index()];
}

json machine_json(const state::Snapshot& s) {
  json virtio = json::array();
  for (const auto& v : s.virtio) virtio.push_back({{"slot", v.slot}, {"device", virtio_name(v.device)}});
  return {{"harts", s.harts.size()}, {"virtio", virtio}, {"network_backends", s.nics.size()}};
}

json memory_json(const state::SnapshotReader& r) {
  std::map<std::string, json> codecs;
  uint64_t stored = 0, slots = 0;
  for (size_t b = 0; b < r.block_count(); b++) {
    auto e = r.block_entry(b);
    json& c = codecs[state::SnapshotReader::encoding_name(e.encoding)];
    if (c.is_null()) c = {{"blocks", 0}, {"pages", 0}, {"stored_bytes", 0}};
    c["blocks"] = c["blocks"].get<uint64_t>() + 1;
    c["pages"] = c["pages"].get<uint64_t>() + e.page_count;
    c["stored_bytes"] = c["stored_bytes"].get<uint64_t>() + e.stored_size;
    stored += e.stored_size;
    slots += e.page_count;
  }
  return {{"blocks", r.block_count()},
          {"stored_bytes", stored},
          {"pages_stored", r.stored_page_count()},
          {"pages_zero", r.page_count() - r.stored_page_count()},
          {"superseded_copies", slots - r.stored_page_count()},
          {"codecs", codecs}};
}

json working_set_json(const state::Snapshot& s) {
  return {{"active_pages", s.active_pages.size()},
          {"active_bytes", s.active_pages.size() * mem::kPageSize},
          {"code_blocks", s.code_blocks.size()},
          {"code_blocks_traced", s.code_traced}};
}

json drive_json(const state::SnapshotDrive& d) {
  json j = {{"index", d.index},      {"spec", d.spec},       {"path", d.path},
            {"read_only", d.read_only}, {"copy", d.copy},     {"present", d.present},
            {"problem", d.problem.empty() ? json(nullptr) : json(d.problem)}};
  if (d.copy) j["copy_bytes"] = d.copy_bytes;
  if (d.present) j["file_bytes"] = d.file_bytes;
  // Only a copy has a recorded identity to be intact against.
  j["intact"] = d.copy ? json(d.problem.empty()) : json(nullptr);
  return j;
}

// Every memory block read, its checksum compared and decompressed.
json check_memory(const state::SnapshotReader& r, std::vector<std::string>& errors) {
  std::vector<uint8_t> pages;
  uint64_t bad = 0;
  for (size_t b = 0; b < r.block_count(); b++) {
    if (Status st = r.unpack_block_to(b, pages); !st.ok()) {
      bad++;
      errors.push_back(st.error().message());
    }
  }
  return {{"blocks_checked", r.block_count()}, {"blocks_damaged", bad}};
}

}  // namespace

SnapshotInfo inspect_snapshot(const std::string& path, bool check) {
  SnapshotInfo info;
  info.report = {{"file", path}};
  // errno is taken at once, and st is read only when stat() filled it.
  struct stat st;
  const char* why = nullptr;
  if (::stat(path.c_str(), &st) != 0)
    why = std::strerror(errno);
  else if (S_ISDIR(st.st_mode))
    why = "is a directory";
  else if (!S_ISREG(st.st_mode))
    why = "is not a regular file";
  if (why) {
    info.report["error"] = "snapshot '" + path + "': " + why;
    info.verdict = 1;
    return info;
  }
  auto opened = state::SnapshotReader::open(path);
  if (!opened.ok()) {
    // A file that opens but is refused is damaged (or foreign); one that
    // does not open is unreadable.
    info.report["error"] = opened.error().message();
    info.verdict = opened.error().message().rfind("open snapshot", 0) == 0 ? 1 : 2;
    if (check) info.report["check"] = {{"errors", {opened.error().message()}}, {"intact", false}};
    return info;
  }
  const state::SnapshotReader& r = **opened;
  const state::Snapshot& s = r.snapshot();
  json& j = info.report;
  j["file_bytes"] = r.file_size();
  j["format_version"] = r.format_version();
  j["ram"] = {{"base", r.ram_base()}, {"bytes", r.ram_size()}, {"pages", r.page_count()}};
  j["machine"] = machine_json(s);
  json config = json::array();
  for (const auto& [k, v] : s.config) config.push_back({{"key", k}, {"value", v}});
  j["config"] = config;
  json sections = json::array();
  for (const auto& e : r.sections())
    sections.push_back(
        {{"name", state::section_name(e.kind, e.instance)}, {"version", e.version}, {"bytes", e.length}});
  j["sections"] = sections;
  j["memory"] = memory_json(r);
  j["working_set"] = working_set_json(s);

  std::vector<std::string> errors;
  json drives = json::array();
  auto listed = state::snapshot_drives(s, path);
  if (listed.ok()) {
    for (const auto& d : *listed) {
      drives.push_back(drive_json(d));
      if (!d.problem.empty()) errors.push_back("drive " + std::to_string(d.index) + ": " + d.problem);
    }
  } else {
    errors.push_back(listed.error().message());
  }
  j["drives"] = drives;
  if (check) {
    json c = check_memory(r, errors);
    c["errors"] = errors;
    c["intact"] = errors.empty();
    j["check"] = c;
    if (!errors.empty()) info.verdict = 2;
  }
  return info;
}

std::string format_snapshot_info(const json& j) {
  std::string out;
  auto line = [&](const std::string& label, const std::string& text) {
    std::string head = label + ":";
    head.resize(std::max<size_t>(head.size(), 15), ' ');
    out += head + " " + text + "\n";
  };
  auto n = [](const json& v) { return std::to_string(v.get<uint64_t>()); };
  if (j.contains("error")) {
    line("file", j["file"].get<std::string>());
    line("error", j["error"].get<std::string>());
  } else {
    line("file", j["file"].get<std::string>() + " (" + size_text(j["file_bytes"]) + ")");
    line("format version", n(j["format_version"]));
    char base[32];
    std::snprintf(base, sizeof base, "0x%llx", static_cast<unsigned long long>(j["ram"]["base"].get<uint64_t>()));
    line("RAM", size_text(j["ram"]["bytes"]) + " at " + base + " (" + n(j["ram"]["pages"]) + " pages)");
    const json& m = j["machine"];
    std::string machine = n(m["harts"]) + " hart(s)";
    for (const auto& v : m["virtio"]) machine += ", " + v["device"].get<std::string>() + " in slot " + n(v["slot"]);
    machine += ", " + n(m["network_backends"]) + " network backend(s)";
    line("machine", machine);
    const json& mem = j["memory"];
    line("memory", n(mem["pages_stored"]) + " pages stored in " + n(mem["blocks"]) + " blocks, " +
                       size_text(mem["stored_bytes"]) + " on disk; " + n(mem["pages_zero"]) + " pages zero; " +
                       n(mem["superseded_copies"]) + " superseded copies");
    for (const auto& [codec, c] : mem["codecs"].items())
      line("  " + codec, n(c["blocks"]) + " blocks, " + n(c["pages"]) + " pages, " + size_text(c["stored_bytes"]));
    const json& ws = j["working_set"];
    line("working set", n(ws["active_pages"]) + " active pages (" + size_text(ws["active_bytes"]) + "), " +
                            n(ws["code_blocks"]) + " code blocks (" + n(ws["code_blocks_traced"]) + " traced)");
    out += "configuration:\n";
    for (const auto& e : j["config"]) line("  " + e["key"].get<std::string>(), e["value"].get<std::string>());
    out += "sections:\n";
    for (const auto& e : j["sections"])
      line("  " + e["name"].get<std::string>(), "version " + n(e["version"]) + ", " + size_text(e["bytes"]));
    out += j["drives"].empty() ? "drives:         none\n" : "drives:\n";
    for (const auto& d : j["drives"]) {
      std::string text = d["path"].get<std::string>();
      text += d["copy"].get<bool>() ? " (the snapshot's copy, " + size_text(d["copy_bytes"]) + ")"
                                    : " (in place, not a copy)";
      if (d["read_only"].get<bool>()) text += ", read-only";
      if (!d["problem"].is_null()) text += ": " + d["problem"].get<std::string>();
      else if (d["copy"].get<bool>()) text += ": present, intact (size and sampled blocks)";
      else text += ": present, " + size_text(d["file_bytes"]);
      line("  drive " + n(d["index"]), text);
    }
  }
  if (j.contains("check")) {
    const json& c = j["check"];
    if (c.contains("blocks_checked"))
      line("check", n(c["blocks_checked"]) + " memory blocks read, " + n(c["blocks_damaged"]) + " damaged");
    const auto& errors = c["errors"];
    // A file refused as a whole said why above.
    for (size_t i = 0; i < errors.size() && i < kErrorsListed && !j.contains("error"); i++)
      line("  error", errors[i].get<std::string>());
    if (errors.size() > kErrorsListed) line("  ...", std::to_string(errors.size() - kErrorsListed) + " more errors");
    out += c["intact"].get<bool>() ? "No errors were found in the snapshot.\n"
                                   : std::to_string(errors.size()) + " error(s) found: the snapshot is damaged.\n";
  }
  return out;
}

int snapshot_info_command(int argc, char** argv, int first) {
  bool check = false, as_json = false;
  std::string file;
  Args args(argc, argv, first);
  while (!args.done()) {
    std::string f = args.next_flag();
    if (f == "--help" || f == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (f == "--check") {
      check = true;
    } else if (f == "--json") {
      as_json = true;
    } else if (!args.is_flag(f) && file.empty()) {
      file = f;
    } else {
      std::fprintf(stderr, "tandem: unexpected argument '%s'\n%s", f.c_str(), kUsage);
      return 2;
    }
  }
  if (file.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  SnapshotInfo info = inspect_snapshot(file, check);
  if (as_json) std::printf("%s\n", info.report.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  else if (!info.report.contains("error") || check) std::fputs(format_snapshot_info(info.report).c_str(), stdout);
  // Without --check a report that failed is an error message; with it the
  // report says it (stdout).
  if (info.report.contains("error") && !check)
    std::fprintf(stderr, "tandem: %s\n", info.report["error"].get<std::string>().c_str());
  if (check) return info.verdict;
  return info.report.contains("error") ? 1 : 0;
}

}  // namespace tandem::cli
