# shellcheck shell=bash
# Busybox recipe, sourced by guest/build.sh (which provides step, log, die,
# need_cmd, JOBS, BUSYBOX_VERSION). The busybox cache key hashes this file and
# the source version, so a kernel change never rebuilds busybox.
#
# Debian's source package, cross-built with the configuration Debian uses for
# its busybox-static package (debian/config/os/linux + debian/config/pkg/static).

# Run apt on a private source list and private state, so that fetching the
# source needs no change to the system's apt configuration.
busybox_apt() {  # busybox_apt APTDIR apt-get-arguments...
  local dir=$1
  shift
  local opts=(
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o "Dir::Etc::SourceParts=$dir/sources.list.d"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache"
    -o "Debug::NoLocking=1"
    -q
  )
  # As root, apt drops to the _apt user for downloads; it cannot enter our
  # private directories under a user's cache, so keep root for this one.
  [[ $(id -u) == 0 ]] && opts+=(-o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" "$@"
}

# deb-src line for the archive and suite that provide the installed apt
# candidate of busybox ("URI SUITE/COMPONENT ARCH Packages" in madison).
busybox_deb_src_line() {
  local bin_version uri dist
  bin_version=$(apt-cache policy busybox | sed -n 's/^ *Candidate: //p')
  read -r uri dist < <(apt-cache madison busybox |
    awk -F' [|] ' -v v="$bin_version" '$2 == v { print $3; exit }' |
    awk '{ print $1, $2 }')
  [[ -n ${uri:-} && ${dist:-} == */* ]] || return 1
  printf 'deb-src %s %s %s\n' "$uri" "${dist%%/*}" "${dist#*/}"
}

busybox_fetch() {  # busybox_fetch WORKDIR
  local dir=$1 line
  line=$(busybox_deb_src_line) || { echo "cannot find the archive that provides busybox (apt-cache madison busybox)"; return 1; }
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/sources.list.d" "$dir/dl"
  echo "$line" | tee "$dir/apt/sources.list"
  busybox_apt "$dir/apt" update &&
    (cd "$dir/dl" && busybox_apt "$dir/apt" source --download-only "busybox=$BUSYBOX_VERSION") &&
    dpkg-source -x "$dir"/dl/busybox_*.dsc "$dir/src"
}

# Our one change to Debian's config: the shell must not ask the terminal for
# the cursor position (ESC [6n) at each prompt. Nothing answers on a console
# driven by a test through a pipe, and the query lands in the output.
BUSYBOX_CONFIG_OFF=(CONFIG_FEATURE_EDITING_ASK_TERMINAL)

busybox_configure() {  # busybox_configure SRC
  local opt
  cat "$1/debian/config/os/linux" "$1/debian/config/pkg/static" >"$1/.config" || return 1
  for opt in "${BUSYBOX_CONFIG_OFF[@]}"; do
    sed -i "s/^$opt=y\$/# $opt is not set/" "$1/.config" || return 1
  done
  { yes "" || true; } | make -C "$1" oldconfig || return 1  # yes dies of SIGPIPE: fine
  grep -qx 'CONFIG_STATIC=y' "$1/.config" || { echo "busybox: CONFIG_STATIC lost"; return 1; }
  for opt in "${BUSYBOX_CONFIG_OFF[@]}"; do
    ! grep -q "^$opt=y" "$1/.config" || { echo "busybox: $opt still set"; return 1; }
  done
}

busybox_make() {  # busybox_make SRC
  make -C "$1" -j"$JOBS" CROSS_COMPILE=riscv64-linux-gnu- \
    BB_EXTRA_VERSION="Debian $BUSYBOX_VERSION, tandem guest" busybox &&
    make -C "$1" busybox.links
}

build_busybox() {  # build_busybox WORKDIR OUTDIR
  local dir=$1 out=$2
  need_cmd apt-get apt
  need_cmd dpkg-source dpkg-dev
  need_cmd make make
  need_cmd gcc build-essential
  mkdir -p "$dir" "$out"
  step "busybox: fetch Debian source $BUSYBOX_VERSION" busybox_fetch "$dir"
  step "busybox: configure (Debian static config)" busybox_configure "$dir/src"
  step "busybox: make -j$JOBS (static, riscv64)" busybox_make "$dir/src"
  file_is_static "$dir/src/busybox" || die "busybox: $dir/src/busybox is not a static riscv64 executable"
  cp "$dir/src/busybox" "$dir/src/busybox.links" "$out/"
  cp "$dir/src/.config" "$out/config"
  log "busybox: $(stat -c %s "$out/busybox") bytes, $(wc -l <"$out/busybox.links") applets"
}

file_is_static() {  # a riscv64 ELF with no program interpreter
  local hdr
  hdr=$(riscv64-linux-gnu-readelf -h -l "$1" 2>/dev/null) || return 1
  grep -q 'Machine:.*RISC-V' <<<"$hdr" && ! grep -q 'INTERP' <<<"$hdr"
}
