#include "cli/version.h"

#include <glib.h>
#include <lz4.h>
#include <slirp/libslirp.h>
#include <xxhash.h>
#include <zstd.h>

namespace tandem::cli {

namespace {

// The version a runtime reports, and the headers' when they differ (a
// shared library upgraded under the binary).
std::string line(const std::string& name, const std::string& runtime, const std::string& headers) {
  std::string s = "  " + name + " " + runtime;
  if (runtime != headers) s += " (built with " + headers + ")";
  return s + "\n";
}

std::string dotted(unsigned major, unsigned minor, unsigned micro) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
}

}  // namespace

std::string version_text() {
  unsigned xxh = XXH_versionNumber();  // major * 10000 + minor * 100 + release
  return std::string("tandem ") + kTandemVersion + "\n" +
         "  libfdt " TANDEM_LIBFDT_VERSION "\n" +
         line("libslirp", slirp_version_string(), SLIRP_VERSION_STRING) +
         line("zstd", ZSTD_versionString(), ZSTD_VERSION_STRING) +
         line("lz4", LZ4_versionString(), LZ4_VERSION_STRING) +
         line("xxhash", dotted(xxh / 10000, xxh / 100 % 100, xxh % 100),
              dotted(XXH_VERSION_MAJOR, XXH_VERSION_MINOR, XXH_VERSION_RELEASE)) +
         line("glib", dotted(glib_major_version, glib_minor_version, glib_micro_version),
              dotted(GLIB_MAJOR_VERSION, GLIB_MINOR_VERSION, GLIB_MICRO_VERSION));
}

}  // namespace tandem::cli
