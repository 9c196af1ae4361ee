#!/usr/bin/env bash
# From a fresh Debian 12 machine to a shell in the default guest:
# installs the Debian packages tandem needs (sudo if not root), builds
# tandem and the default guest (cached), then boots it. Extra arguments go
# to `tandem run` (e.g. --net user,hostfwd=tcp:127.0.0.1:8080-:80).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -eq 0 ]]; then
  bash "$root/scripts/setup-debian.sh"
else
  sudo bash "$root/scripts/setup-debian.sh"
fi
echo "quickstart: building tandem" >&2
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)" >/dev/null
echo "quickstart: building the default guest (about 6 minutes the first time)" >&2
TANDEM_GUEST_DIR=$("$root/guest/build.sh")
export TANDEM_GUEST_DIR
echo "quickstart: booting; type 'poweroff -f' in the guest or Ctrl-A x to quit" >&2
exec "$root/build/tandem" run "$@"
