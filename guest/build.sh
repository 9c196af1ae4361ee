#!/bin/bash
# Build tandem's default guest: a riscv64 Linux 6.1 `Image` and a busybox
# `initramfs.cpio.gz`, from Debian packages only (guest/README.md).
#
#   dir=$(guest/build.sh)   # stdout: the directory holding both files
#
# Results are cached outside the tree, keyed by a hash of the recipe:
#   ${TANDEM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tandem}/
#     kernel-<hash>/   Image + config       (guest/kernel.config, lib/kernel.sh)
#     busybox-<hash>/  static busybox       (lib/busybox.sh, Debian source)
#     guest-<hash>/    Image + initramfs    (everything under guest/)
# so editing /init or a workload rebuilds only the initramfs (seconds), and
# editing the kernel fragment does not rebuild busybox.
#
# Environment: TANDEM_CACHE_DIR (cache root), TANDEM_GUEST_JOBS (make -j,
# default nproc). Progress goes to stderr, one line per step.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
umask 022

SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TANDEM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tandem}
JOBS=${TANDEM_GUEST_JOBS:-$(nproc)}
START_SECONDS=$SECONDS

# Fixed timestamps so that the same recipe gives the same bytes where the
# tools allow it (kernel version string, busybox banner, cpio mtimes).
export SOURCE_DATE_EPOCH=1704067200  # 2024-01-01 00:00:00 UTC
export KBUILD_BUILD_TIMESTAMP="Mon Jan  1 00:00:00 UTC 2024"
export KBUILD_BUILD_USER=tandem KBUILD_BUILD_HOST=tandem KBUILD_BUILD_VERSION=1
export KCONFIG_NOTIMESTAMP=1
export LC_ALL=C TZ=UTC

log() { printf 'guest/build.sh: [%4ds] %s\n' $((SECONDS - START_SECONDS)) "$*" >&2; }
die() { printf 'guest/build.sh: error: %s\n' "$*" >&2; exit 1; }

# --- prerequisites --------------------------------------------------------

need_cmd() {  # need_cmd COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 ||
    die "'$1' not found: install the Debian package '$2' (scripts/setup-debian.sh)"
}
need_file() {  # need_file PATH DEBIAN_PACKAGE
  [[ -e $1 ]] || die "'$1' not found: install the Debian package '$2' (scripts/setup-debian.sh)"
}
pkg_version() {  # pkg_version PACKAGE -> installed version, or die
  local v
  v=$(dpkg-query -W -f '${db:Status-Abbrev}${Version}' "$1" 2>/dev/null) || v=
  [[ $v == ii* ]] || die "Debian package '$1' is not installed (scripts/setup-debian.sh)"
  printf '%s\n' "${v#ii }" | tr -d ' '
}

[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "TANDEM_GUEST_JOBS must be a positive integer (got '$JOBS')"

# Everything a cache lookup needs.
need_cmd dpkg-query dpkg
need_cmd sha256sum coreutils
need_cmd apt-cache apt
need_cmd riscv64-linux-gnu-gcc gcc-riscv64-linux-gnu
LINUX_SOURCE_TARBALL=/usr/src/linux-source-6.1.tar.xz
need_file "$LINUX_SOURCE_TARBALL" linux-source-6.1

# Toolchain identity: it is part of every key (compiler, binutils, libc).
# One substitution per assignment, so that a failing one stops the script.
TOOLCHAIN=
for pkg in gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross; do
  version=$(pkg_version "$pkg")
  TOOLCHAIN+="$pkg=$version"$'\n'
done
version=$(riscv64-linux-gnu-gcc --version | sed -n 1p)
TOOLCHAIN+=$version
LINUX_SOURCE_VERSION=$(pkg_version linux-source-6.1)

# The busybox source version apt would fetch (Debian's "Source: busybox
# (VERSION)" when the binary was rebuilt without a source change).
busybox_source_version() {
  local show src ver
  show=$(apt-cache show --no-all-versions busybox 2>/dev/null) || show=
  ver=$(sed -n 's/^Version: //p' <<<"$show" | head -n1)
  src=$(sed -n 's/^Source: busybox (\(.*\))$/\1/p' <<<"$show" | head -n1)
  [[ -n $ver ]] || die "apt knows no 'busybox' package: run 'apt-get update' (scripts/setup-debian.sh)"
  printf '%s\n' "${src:-$ver}"
}
BUSYBOX_VERSION=$(busybox_source_version)

# --- recipe snapshot and hashes ---------------------------------------------

# remove_tree DIR : rm -rf, several at a time; a kernel tree is 80,000 files
# and a serial rm waits on the disk for each.
remove_tree() {
  [[ -d $1 ]] || return 0
  find "$1" -mindepth 2 -maxdepth 2 -print0 | xargs -0 -r -P 4 -n 32 rm -rf -- &&
    rm -rf -- "$1"
}

# Build from a private copy of the recipe (every file under guest/ except
# documentation and tests/), so that an edit during a long build cannot end
# up in a cache entry filed under the old hash.
RECIPE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tandem-guest-recipe.XXXXXX")
WORK=
BUILD_LOG=
cleanup() {
  local rc=$?
  if ((rc != 0)) && [[ -n $BUILD_LOG && -s $BUILD_LOG ]]; then
    cp "$BUILD_LOG" "$CACHE_ROOT/last-failure.log" 2>/dev/null || true
    {
      echo "---- last lines of the build log ($CACHE_ROOT/last-failure.log) ----"
      tail -n 40 "$BUILD_LOG"
    } >&2
  fi
  [[ -n $WORK ]] && remove_tree "$WORK"
  rm -rf "$RECIPE_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# guest/tests/ checks a built guest and is not part of the recipe.
mapfile -t GUEST_FILES < <(cd "$SOURCE_DIR" &&
  find . \( -path ./tests -o -name '*.md' \) -prune -o -type f -printf '%P\n' | sort)
(cd "$SOURCE_DIR" && cp --parents -- "${GUEST_FILES[@]}" "$RECIPE_DIR/")
GUEST_DIR=$RECIPE_DIR

# hash_recipe NAME [FILE...] : short hash of a label, the toolchain and the
# given files (path relative to guest/ and contents) plus any extra lines on
# stdin.
hash_recipe() {
  local name=$1 f
  shift
  {
    printf 'recipe %s\n%s\n' "$name" "$TOOLCHAIN"
    cat
    for f in "$@"; do
      printf 'file %s %s\n' "${f#"$GUEST_DIR"/}" "$(sha256sum <"$f" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -c1-16
}

KERNEL_KEY=$(hash_recipe kernel "$GUEST_DIR/lib/kernel.sh" "$GUEST_DIR/kernel.config" \
  <<<"linux-source-6.1=$LINUX_SOURCE_VERSION")
BUSYBOX_KEY=$(hash_recipe busybox "$GUEST_DIR/lib/busybox.sh" \
  <<<"busybox-source=$BUSYBOX_VERSION")
# The guest entry depends on every file of the recipe.
GUEST_KEY=$(hash_recipe guest "${GUEST_FILES[@]/#/$GUEST_DIR/}" \
  <<<"kernel=$KERNEL_KEY busybox=$BUSYBOX_KEY")

KERNEL_OUT=$CACHE_ROOT/kernel-$KERNEL_KEY
BUSYBOX_OUT=$CACHE_ROOT/busybox-$BUSYBOX_KEY
GUEST_OUT=$CACHE_ROOT/guest-$GUEST_KEY

guest_complete() { [[ -f $GUEST_OUT/Image && -f $GUEST_OUT/initramfs.cpio.gz ]]; }

if guest_complete; then
  log "cache hit: $GUEST_OUT"
  printf '%s\n' "$GUEST_OUT"
  exit 0
fi

# --- building ---------------------------------------------------------------

mkdir -p "$CACHE_ROOT"
CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd)
KERNEL_OUT=$CACHE_ROOT/kernel-$KERNEL_KEY
BUSYBOX_OUT=$CACHE_ROOT/busybox-$BUSYBOX_KEY
GUEST_OUT=$CACHE_ROOT/guest-$GUEST_KEY

# One build at a time per cache root; a second caller waits, then finds the
# entry the first one made.
need_cmd flock util-linux
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
  log "waiting for another guest build in $CACHE_ROOT"
  flock 9
fi
if guest_complete; then
  log "cache hit: $GUEST_OUT"
  printf '%s\n' "$GUEST_OUT"
  exit 0
fi
# Holding the lock, any leftover work directory is from a dead build.
rm -rf "$CACHE_ROOT"/.work-*

WORK=$(mktemp -d "$CACHE_ROOT/.work-XXXXXX")
BUILD_LOG=$WORK/build.log
: >"$BUILD_LOG"

# step DESCRIPTION COMMAND... : log the step, run it with its output in the
# build log, fail with the step's name.
step() {
  local what=$1
  shift
  log "$what"
  printf '\n==== %s\n' "$what" >>"$BUILD_LOG"
  "$@" >>"$BUILD_LOG" 2>&1 || die "step failed: $what"
}

# publish TMPDIR DEST : move a finished entry into place in one rename, so a
# cache entry is either complete or absent.
publish() {
  sync -f "$1" 2>/dev/null || true
  mv -T "$1" "$2"
}

# shellcheck source=lib/kernel.sh
source "$GUEST_DIR/lib/kernel.sh"
# shellcheck source=lib/busybox.sh
source "$GUEST_DIR/lib/busybox.sh"

if [[ -f $BUSYBOX_OUT/busybox ]]; then
  log "busybox: cached $BUSYBOX_OUT"
else
  build_busybox "$WORK/busybox" "$WORK/busybox-out"
  publish "$WORK/busybox-out" "$BUSYBOX_OUT"
fi

if [[ -f $KERNEL_OUT/Image ]]; then
  log "kernel: cached $KERNEL_OUT"
else
  build_kernel "$WORK/linux" "$WORK/kernel-out"
  publish "$WORK/kernel-out" "$KERNEL_OUT"
  step "kernel: remove the build tree" remove_tree "$WORK/linux"
fi

# --- initramfs -----------------------------------------------------------------

need_cmd python3 python3
need_cmd gzip gzip

ROOT_FILES=$WORK/rootfs
mkdir -p "$ROOT_FILES"

# A source may add flags of its own with a line "// guest-cflags: FLAGS"
# (smpstress.c: freestanding, without libc).
compile_workloads() {
  local src name extra
  for src in "$GUEST_DIR"/src/*.c; do
    name=$(basename "$src" .c)
    extra=$(sed -n 's|^// guest-cflags: ||p' "$src")
    # shellcheck disable=SC2086 # the flags are words
    riscv64-linux-gnu-gcc -std=gnu11 -O2 -static -s -Wall -Wextra -Werror $extra \
      -ffile-prefix-map="$GUEST_DIR"=guest -o "$ROOT_FILES/$name" "$src" || return 1
  done
}
step "workloads: compile $(cd "$GUEST_DIR/src" && echo *.c)" compile_workloads

# The cpio is described by a list (see mkcpio.py) so that device nodes,
# owners and modes need no root and the archive is byte-for-byte stable.
write_cpio_list() {
  local d f name
  for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /mnt /root /etc /run /var; do
    echo "dir $d 0755"
  done
  echo "dir /tmp 1777"
  echo "nod /dev/console 0600 c 5 1"
  echo "nod /dev/null 0666 c 1 3"
  echo "file /init 0755 $GUEST_DIR/init"
  echo "file /etc/init.shrc 0644 $GUEST_DIR/init.shrc"
  echo "file /bin/busybox 0755 $BUSYBOX_OUT/busybox"
  # busybox.links: one absolute path per applet.
  while read -r name; do
    [[ -n $name && $name != /bin/busybox ]] && echo "slink $name 0777 /bin/busybox"
  done <"$BUSYBOX_OUT/busybox.links"
  for f in "$ROOT_FILES"/*; do
    echo "file /usr/bin/$(basename "$f") 0755 $f"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/passwd"
  printf 'root:x:0:\n' >"$WORK/group"
  printf 'nameserver 10.0.2.3\n' >"$WORK/resolv.conf"  # QEMU user-net DNS
  echo "file /etc/passwd 0644 $WORK/passwd"
  echo "file /etc/group 0644 $WORK/group"
  echo "file /etc/resolv.conf 0644 $WORK/resolv.conf"
}
make_initramfs() {
  write_cpio_list >"$WORK/cpio.list" &&
    python3 "$GUEST_DIR/mkcpio.py" --mtime "$SOURCE_DATE_EPOCH" "$WORK/cpio.list" >"$WORK/initramfs.cpio" &&
    gzip -n -9 <"$WORK/initramfs.cpio" >"$WORK/guest-out/initramfs.cpio.gz"
}
mkdir -p "$WORK/guest-out"
step "initramfs: busybox $BUSYBOX_VERSION + workloads" make_initramfs

# Hard links keep one copy of the kernel on disk; both entries are immutable.
ln "$KERNEL_OUT/Image" "$WORK/guest-out/Image" 2>/dev/null || cp "$KERNEL_OUT/Image" "$WORK/guest-out/Image"
cp "$KERNEL_OUT/config" "$WORK/guest-out/kernel.config"
cp "$KERNEL_OUT/System.map" "$WORK/guest-out/System.map"
{
  echo "guest=$GUEST_KEY kernel=$KERNEL_KEY busybox=$BUSYBOX_KEY"
  echo "linux-source-6.1=$LINUX_SOURCE_VERSION"
  echo "busybox-source=$BUSYBOX_VERSION"
  echo "$TOOLCHAIN"
} >"$WORK/guest-out/manifest"
publish "$WORK/guest-out" "$GUEST_OUT"
log "done: $GUEST_OUT (Image $(stat -c %s "$GUEST_OUT/Image") bytes, initramfs $(stat -c %s "$GUEST_OUT/initramfs.cpio.gz") bytes)"
printf '%s\n' "$GUEST_OUT"
