#include "cli/default_guest.h"

#include <cstdlib>
#include <filesystem>

namespace tandem::cli {

namespace fs = std::filesystem;

namespace {

std::string cache_root() {
  if (const char* d = std::getenv("TANDEM_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tandem";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/tandem";
}

bool complete(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "Image", ec) && fs::is_regular_file(dir / "initramfs.cpio.gz", ec);
}

}  // namespace

Result<GuestImage> default_guest() {
  fs::path dir;
  if (const char* g = std::getenv("TANDEM_GUEST_DIR"); g && *g) {
    dir = g;
    if (!complete(dir))
      return Error("TANDEM_GUEST_DIR='" + dir.string() + "' holds no Image and initramfs.cpio.gz");
  } else {
    std::error_code ec;
    fs::file_time_type newest{};
    for (const auto& e : fs::directory_iterator(cache_root(), ec)) {
      if (e.path().filename().string().rfind("guest-", 0) != 0 || !complete(e.path())) continue;
      auto t = fs::last_write_time(e.path() / "Image", ec);
      if (dir.empty() || t > newest) {
        dir = e.path();
        newest = t;
      }
    }
    if (dir.empty())
      return Error("no kernel given and no default guest built yet: run guest/build.sh "
                   "(or pass --kernel FILE)");
  }
  return GuestImage{(dir / "Image").string(), (dir / "initramfs.cpio.gz").string(), "console=ttyS0"};
}

}  // namespace tandem::cli
