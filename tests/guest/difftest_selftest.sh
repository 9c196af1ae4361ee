#!/usr/bin/env bash
# Checks that difftest.sh can fail: it must pass a stand-in for tandem that
# runs QEMU itself, and fail one that changes a byte of the output and one
# that changes the exit code.
#   difftest_selftest.sh ELF
# Exit: 0 as expected, 1 not, 77 QEMU not installed.
set -uo pipefail
elf=$1
here=$(cd "$(dirname "$0")" && pwd)
qemu=${QEMU:-qemu-system-riscv64}
command -v "$qemu" >/dev/null 2>&1 || { echo "SKIP: $qemu not found"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/difftest-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A fake `tandem run -m M --bios none --kernel ELF` backed by QEMU; MODE
# picks how it misbehaves.
cat >"$work/fake" <<FAKE
#!/usr/bin/env bash
mem=64M kernel=
shift
while [[ \$# -gt 0 ]]; do
  case \$1 in -m) mem=\$2; shift 2 ;; --bios) shift 2 ;; --kernel) kernel=\$2; shift 2 ;; *) shift ;; esac
done
out=\$("$qemu" -M virt -cpu "\${TANDEM_QEMU_CPU:-rv64,h=false,pmu-num=29}" -m "\$mem" -bios none \\
  -kernel "\$kernel" -display none -serial stdio -monitor none </dev/null)
rc=\$?
case \$MODE in
  same) printf '%s\n' "\$out"; exit \$rc ;;
  byte) printf '%s\n' "\$out" | sed '1s/./#/'; exit \$rc ;;
  code) printf '%s\n' "\$out"; exit 3 ;;
esac
FAKE
chmod +x "$work/fake"

status=0
expect() {  # MODE expected-exit-code
  MODE=$1 "$here/difftest.sh" "$work/fake" "$elf" >"$work/log" 2>&1
  local rc=$?
  if [[ $rc -ne $2 ]]; then
    echo "FAIL: with a fake tandem in mode '$1' difftest.sh exited $rc, expected $2:"
    cat "$work/log"
    status=1
  else
    echo "ok: mode '$1' -> exit $rc"
  fi
}
export MODE
expect same 0
expect byte 1
expect code 1
exit $status
