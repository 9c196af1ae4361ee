# shellcheck shell=bash
# Kernel recipe, sourced by guest/build.sh (which provides step, log, die,
# need_cmd, JOBS, LINUX_SOURCE_TARBALL, GUEST_DIR). The kernel cache key
# hashes this file and guest/kernel.config.

KERNEL_MAKE_VARS=(ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- LOCALVERSION=)

# check_fragment CONFIG FRAGMENT : every option the fragment sets must
# survive merge + olddefconfig (a dependency we missed would silently drop it).
check_fragment() {
  local config=$1 fragment=$2 line opt bad=0
  while IFS= read -r line; do
    case $line in
      CONFIG_*=*)
        grep -qxF -- "$line" "$config" || { echo "fragment option lost: $line"; bad=1; } ;;
      "# CONFIG_"*" is not set")
        opt=${line#\# }
        opt=${opt%% *}
        if grep -q "^$opt=" "$config"; then echo "fragment option forced on: $opt"; bad=1; fi ;;
    esac
  done <"$fragment"
  return "$bad"
}

configure_kernel() {  # configure_kernel SRC
  make -C "$1" "${KERNEL_MAKE_VARS[@]}" tinyconfig &&
    (cd "$1" && ARCH=riscv scripts/kconfig/merge_config.sh -m .config "$GUEST_DIR/kernel.config") &&
    make -C "$1" "${KERNEL_MAKE_VARS[@]}" olddefconfig &&
    check_fragment "$1/.config" "$GUEST_DIR/kernel.config"
}

build_kernel() {  # build_kernel WORKDIR OUTDIR
  local src=$1/linux-source-6.1 out=$2
  need_cmd make make
  need_cmd gcc build-essential
  need_cmd flex flex
  need_cmd bison bison
  need_cmd bc bc
  need_cmd xz xz-utils
  need_cmd riscv64-linux-gnu-ld binutils-riscv64-linux-gnu
  mkdir -p "$1" "$out"
  # Skip what a kernel build never reads (a sixth of the 84,000 files, which
  # the disk must write and later delete): the documentation except the
  # Kconfig file the top-level Kconfig sources, perf and the selftests.
  step "kernel: unpack linux-source-6.1 $LINUX_SOURCE_VERSION" \
    tar -C "$1" -xf "$LINUX_SOURCE_TARBALL" \
      --exclude='linux-source-6.1/Documentation/[!K]*' \
      --exclude='linux-source-6.1/tools/perf' \
      --exclude='linux-source-6.1/tools/testing'
  [[ -f $src/Documentation/Kconfig ]] || die "kernel: unpack lost Documentation/Kconfig"
  [[ -f $src/Makefile ]] || die "unexpected layout of $LINUX_SOURCE_TARBALL (no linux-source-6.1/Makefile)"
  step "kernel: tinyconfig + guest/kernel.config + olddefconfig" configure_kernel "$src"
  step "kernel: make -j$JOBS Image (takes minutes)" \
    make -C "$src" "${KERNEL_MAKE_VARS[@]}" -j"$JOBS" Image
  cp "$src/arch/riscv/boot/Image" "$out/Image"
  cp "$src/.config" "$out/config"
  # The kernel has no kallsyms: `tandem run --guest-profile` reports name PCs from this.
  cp "$src/System.map" "$out/System.map"
  log "kernel: Image $(stat -c %s "$out/Image") bytes ($(cat "$src/include/config/kernel.release"))"
}
