#!/usr/bin/env bash
# Builds tandem and the default guest, then runs the whole test suite:
#   unit tests, bare-metal differential tests against QEMU, system tests
#   that boot Linux. With --sanitize: an AddressSanitizer + UBSan build in
#   build-asan/ running the unit, guest and system tests (TANDEM_GUEST_DIR
#   from guest/build.sh, as in the normal run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

if [[ "${1:-}" == "--sanitize" ]]; then
  build="$root/build-asan"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_SANITIZE=ON >/dev/null
  cmake --build "$build" -j"$jobs"
  TANDEM_GUEST_DIR=$("$root/guest/build.sh")
  export TANDEM_GUEST_DIR
  cd "$build"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" -L 'unit|guest|system'
  exit
fi

build="$root/build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$jobs"
TANDEM_GUEST_DIR=$("$root/guest/build.sh")
export TANDEM_GUEST_DIR
cd "$build"
# The soak label (ctest -L soak) is the long suspend/restore soak: not here.
ctest --output-on-failure -j"$jobs" -LE soak
