#include "dev/private_drive.h"

#include <fcntl.h>
#include <linux/fs.h>  // FICLONE
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "dev/cow_overlay.h"

namespace tandem::dev {

namespace {

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// -1 with errno set on failure.
int anonymous_fd(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  // Filesystems without O_TMPFILE: a unique name, unlinked at once.
  std::string name = dir + "/.tandem-private-XXXXXX";
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(buf.data());
  return fd;
}

}  // namespace

Result<int> create_anonymous_file(const std::string& dir) {
  int fd = anonymous_fd(dir);
  if (fd < 0) return sys_error("create a file in '" + dir + "'");
  return fd;
}

Result<std::unique_ptr<BlockBackend>> open_private_drive(const std::string& path, const PrivateDriveOptions& options) {
  int base = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (base < 0) return sys_error("open drive '" + path + "'");
  auto size = fd_size(base);
  if (!size.ok()) {
    ::close(base);
    return size.error().context("open drive '" + path + "'");
  }
  std::string dir = dir_of(path);
  int own = anonymous_fd(dir);
  if (own < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    const char* tmp = std::getenv("TMPDIR");
    dir = tmp && *tmp ? tmp : "/tmp";
    own = anonymous_fd(dir);
  }
  if (own < 0) {
    auto e = sys_error("private copy of drive '" + path + "': create a file in '" + dir + "'");
    ::close(base);
    return e;
  }
  if (options.allow_reflink && ::ioctl(own, FICLONE, base) == 0) {
    ::close(base);
    return std::unique_ptr<BlockBackend>(new RawFileBackend(own, *size, path, true, /*is_private=*/true));
  }
  auto overlay = CowOverlay::create(base, own, path);
  if (!overlay.ok()) return overlay.error();
  return std::unique_ptr<BlockBackend>(std::move(overlay).value());
}

}  // namespace tandem::dev
