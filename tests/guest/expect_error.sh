#!/usr/bin/env bash
# Negative test: `tandem run --bios none --kernel FILE` must fail with a
# non-zero exit code and a message matching REGEX on stderr.
#   expect_error.sh REGEX TANDEM FILE
set -uo pipefail
if [[ $# -ne 3 ]]; then
  echo "usage: $0 REGEX TANDEM FILE" >&2
  exit 2
fi
regex=$1
tandem=$2
file=$3
err=$(timeout -k 2 "${TANDEM_GUEST_TIMEOUT:-10}" "$tandem" run -m 64M --bios none --kernel "$file" \
  </dev/null 2>&1 >/dev/null)
rc=$?
echo "tandem exit code $rc, stderr: $err"
if [[ $rc -eq 0 ]]; then
  echo "FAIL: tandem accepted $file"
  exit 1
fi
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "FAIL: tandem timed out instead of refusing $file"
  exit 1
fi
if ! grep -Eq -- "$regex" <<<"$err"; then
  echo "FAIL: the message does not match /$regex/"
  exit 1
fi
echo "PASS"
