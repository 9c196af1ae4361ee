#!/bin/bash
# Install every Debian (12, bookworm) package tandem needs to build, test and
# benchmark itself and to build its guest image (guest/build.sh).
# Idempotent: does nothing when all are installed. Quiet unless it fails.
# Runs apt-get as root, through sudo when not root.
set -euo pipefail

PACKAGES=(
  # tandem itself
  build-essential cmake pkg-config make
  libfdt-dev libslirp-dev libglib2.0-dev libzstd-dev liblz4-dev libxxhash-dev
  libxbyak-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 curl
  # fuzzing (tests/fuzz, bench/fuzz/run): clang and its libFuzzer runtime
  clang libclang-rt-14-dev
  # the JSON monitor
  nlohmann-json3-dev
  # the arbiter against split brain (run/backup --arbiter): the tests start
  # their own etcd; etcdctl for the system tests' checks
  etcd-server etcd-client
  # the reference VMM and the firmware the guest boots through
  qemu-system-misc opensbi
  # the guest image (guest/build.sh)
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1
  flex bison bc libssl-dev libelf-dev cpio device-tree-compiler xz-utils
  dpkg-dev
  # host busybox: handy for tests, not required by the build
  busybox
)

# One dpkg-query for all: "<package> <status>" for each known package.
declare -A installed=()
while read -r name status; do
  [[ $status == ii* ]] && installed[$name]=1
done < <(dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup-debian.sh: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/setup-debian.XXXXXX.log")
trap 'rm -f "$log"' EXIT
run() {
  if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@" >>"$log" 2>&1; then
    echo "setup-debian.sh: failed: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
run apt-get update -q
run apt-get install -y -q "${missing[@]}"
