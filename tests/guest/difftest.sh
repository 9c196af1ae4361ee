#!/usr/bin/env bash
# Runs a bare-metal guest program on tandem, once per CPU engine, and on
# QEMU's virt board and compares their console output byte for byte and
# their exit codes.
#   difftest.sh TANDEM ELF
# Exit: 0 same, 1 different, 77 QEMU not installed (CTest: skipped).
# Environment: TANDEM_GUEST_TIMEOUT (seconds per run, default 10),
#              TANDEM_GUEST_MEM (default 64M), QEMU (the QEMU binary),
#              TANDEM_QEMU_CPU (QEMU -cpu, default rv64,h=false,pmu-num=29),
#              TANDEM_GUEST_KEEP=DIR keeps the outputs there,
#              TANDEM_ENGINES (tandem's --engine values, default "interp jit").
set -uo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 TANDEM ELF" >&2
  exit 2
fi
tandem=$1
elf=$2
qemu=${QEMU:-qemu-system-riscv64}
timeout_s=${TANDEM_GUEST_TIMEOUT:-10}
mem=${TANDEM_GUEST_MEM:-64M}
# QEMU 7.2's default rv64 hart also has the hypervisor extension, which
# tandem does not (it adds CSRs and mstatus/mip bits), and 16 instead of all
# 29 hpm counters.
qemu_cpu=${TANDEM_QEMU_CPU:-rv64,h=false,pmu-num=29}
name=$(basename "$elf" .elf)

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "SKIP: $qemu not found (Debian package qemu-system-misc)"
  exit 77
fi
for f in "$tandem" "$elf"; do
  if [[ ! -e $f ]]; then
    echo "FAIL: $f does not exist" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/difftest.$name.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Both read nothing from stdin: QEMU would otherwise put a terminal in raw
# mode, and console input must not influence the result.
timeout -k 2 "$timeout_s" "$qemu" -M virt -cpu "$qemu_cpu" -m "$mem" -bios none -kernel "$elf" \
  -display none -serial stdio -monitor none </dev/null >"$work/qemu.out" 2>"$work/qemu.err"
qemu_rc=$?
if [[ -n ${TANDEM_GUEST_KEEP:-} ]]; then
  mkdir -p "$TANDEM_GUEST_KEEP"
  cp "$work/qemu.out" "$TANDEM_GUEST_KEEP/$name.qemu.out"
fi

describe() {  # exit code -> words
  case $1 in
    124|137) echo "$1 (timed out after ${timeout_s} s)" ;;
    *) echo "$1" ;;
  esac
}

status=0
if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
  echo "FAIL: QEMU itself timed out on $name: the test program is broken"
  status=1
fi
for engine in ${TANDEM_ENGINES:-interp jit}; do
  out=$work/tandem.$engine
  timeout -k 2 "$timeout_s" "$tandem" run -m "$mem" --bios none --kernel "$elf" --engine "$engine" \
    </dev/null >"$out.out" 2>"$out.err"
  tandem_rc=$?
  [[ -n ${TANDEM_GUEST_KEEP:-} ]] && cp "$out.out" "$TANDEM_GUEST_KEEP/$name.tandem.$engine.out"
  failed=0
  if ! cmp -s "$work/qemu.out" "$out.out"; then
    echo "FAIL: console output differs (--- QEMU, +++ tandem --engine $engine):"
    diff -u --label "qemu $name" --label "tandem $engine $name" "$work/qemu.out" "$out.out" | head -n 400
    failed=1
  fi
  if [[ $qemu_rc -ne $tandem_rc ]]; then
    echo "FAIL: exit code differs: QEMU $(describe $qemu_rc), tandem --engine $engine $(describe $tandem_rc)"
    failed=1
  fi
  if [[ $failed -ne 0 && -s $out.err ]]; then
    echo "--- tandem --engine $engine stderr (last lines):"
    tail -n 20 "$out.err"
  fi
  ((failed)) && status=1
done
if [[ $status -ne 0 ]]; then
  if [[ -s $work/qemu.err ]]; then
    echo "--- qemu stderr (last lines):"
    tail -n 20 "$work/qemu.err"
  fi
  exit 1
fi
echo "PASS: $name: $(wc -l <"$work/qemu.out") lines identical for engines ${TANDEM_ENGINES:-interp jit}, exit code $qemu_rc"
exit 0
