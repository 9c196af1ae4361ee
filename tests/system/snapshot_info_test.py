#!/usr/bin/env python3
"""System test of `tandem snapshot info` (issue 18, item 5): what a real
guest's snapshot holds, --check on intact and damaged files, drives and
their copies, and malformed files refused with an error, never a crash.

Usage: snapshot_info_test.py TANDEM snapshot_info. Needs $TANDEM_GUEST_DIR
(guest/build.sh); skips (77) without it."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import expect, guest_args, main, suspend_via_monitor, wait_for_prompt, wait_for_socket  # noqa: E402


def info(tandem, *args):
    """(exit status, stdout, stderr) of `tandem snapshot info ARGS`."""
    p = subprocess.run([tandem, "snapshot", "info", *args], capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def info_json(tandem, *args):
    code, out, err = info(tandem, "--json", *args)
    expect(out.startswith("{"), f"snapshot info --json {args}: exit {code}, stdout {out[:300]!r}, stderr {err!r}")
    return code, json.loads(out)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


def test_snapshot_info(tandem):
    with tempfile.TemporaryDirectory() as tmp:
        disk, sock = os.path.join(tmp, "disk.img"), os.path.join(tmp, "m.sock")
        saved, suspended = os.path.join(tmp, "saved.snap"), os.path.join(tmp, "suspended.snap")
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
        p = subprocess.Popen([tandem] + guest_args(["--drive", f"file={disk}", "--monitor", f"unix:{sock}"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_prompt(p)
            wait_for_socket(sock, p)
            s = subprocess.run([tandem, "snapshot", "save", "--monitor", f"unix:{sock}", saved],
                               capture_output=True, timeout=120)
            expect(s.returncode == 0, f"snapshot save: {s.stderr.decode()}")
            suspend_via_monitor(tandem, sock, suspended)
            p.stdin.close()
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

        # A save: its drive is a copy next to it, present and intact.
        code, j = info_json(tandem, saved)
        expect(code == 0 and "error" not in j, f"info of a good save: {code} {j}")
        expect(j["format_version"] == 1 and j["ram"]["bytes"] == 256 << 20, f"header: {j['ram']}")
        expect(j["file_bytes"] == os.path.getsize(saved), "file size")
        names = [s["name"] for s in j["sections"]]
        for want in ("config", "hart0", "plic", "uart", "virtio-blk0", "code-blocks"):
            expect(want in names, f"no section {want} in {names}")
        mem = j["memory"]
        expect(mem["pages_stored"] > 0 and mem["blocks"] > 0 and mem["pages_stored"] + mem["pages_zero"] == 65536,
               f"memory: {mem}")
        expect(sum(c["blocks"] for c in mem["codecs"].values()) == mem["blocks"], f"codecs: {mem['codecs']}")
        expect(j["working_set"]["code_blocks"] > 0, f"working set: {j['working_set']}")
        expect(any(e["key"] == "kernel" for e in j["config"]), "no kernel in the configuration")
        [d] = j["drives"]
        expect(d["copy"] and d["present"] and d["intact"] and d["path"] == saved + ".drive0"
               and d["copy_bytes"] == 16 << 20, f"the save's drive: {d}")
        code, out, _ = info(tandem, "--check", saved)
        expect(code == 0 and "No errors were found" in out, f"--check of a good save: {code}\n{out}")
        for part in ("format version: 1", "RAM:            256 MiB", "working set:", "sections:", "drive 0"):
            expect(part in out, f"the text report lacks {part!r}:\n{out}")

        # A suspend: the image itself, in place.
        code, j = info_json(tandem, suspended)
        [d] = j["drives"]
        expect(code == 0 and not d["copy"] and d["present"] and d["path"] == disk and d["intact"] is None,
               f"the suspend's drive: {d}")
        expect(j["working_set"]["active_pages"] > 0, f"a suspend records its working set: {j['working_set']}")

        # A damaged memory block: info still reads the file; --check names it.
        damaged = os.path.join(tmp, "damaged.snap")
        with open(saved, "rb") as f, open(damaged, "wb") as g:
            g.write(f.read())
        flip(damaged, 128 + 100)
        code, out, _ = info(tandem, damaged)
        expect(code == 0, f"info of a file with a damaged block: exit {code}")
        code, j = info_json(tandem, "--check", damaged)
        expect(code == 2 and not j["check"]["intact"] and j["check"]["blocks_damaged"] == 1
               and "memory block 0: checksum mismatch" in j["check"]["errors"][0], f"--check: {code} {j['check']}")

        # The save's drive copy changed, then gone (the save's own drive
        # copy is named relative to the file: copy the file beside it).
        with open(saved + ".drive0", "r+b") as f:
            f.write(b"changed by someone")
        code, j = info_json(tandem, "--check", saved)
        expect(code == 2 and "does not hold the snapshot's content" in j["drives"][0]["problem"],
               f"changed copy: {code} {j['drives']}")
        os.unlink(saved + ".drive0")
        code, out, _ = info(tandem, "--check", saved)
        expect(code == 2 and "is missing" in out and "damaged" in out, f"missing copy: {code}\n{out}")

        # Malformed files: an error that says why, exit 1 (2 with --check),
        # never a crash.
        good = open(suspended, "rb").read()
        variants = {
            "empty": b"",
            "not a snapshot": b"#!/bin/sh\necho hello\n" * 50,
            "truncated": good[: len(good) // 3],
            "bad version": good[:8] + bytes([good[8] ^ 0x7f]) + good[9:],
            "flipped metadata": good[:-20] + bytes([good[-20] ^ 1]) + good[-19:],
        }
        bad = os.path.join(tmp, "bad.snap")
        for what, data in variants.items():
            with open(bad, "wb") as f:
                f.write(data)
            code, out, err = info(tandem, bad)
            expect(code == 1 and err.startswith("tandem: snapshot '") and out == "",
                   f"{what}: exit {code}, stdout {out[:200]!r}, stderr {err!r}")
            code, out, err = info(tandem, "--check", bad)
            expect(code == 2 and "damaged" in out, f"{what} --check: exit {code}, {out!r} {err!r}")
        code, out, err = info(tandem, os.path.join(tmp, "missing.snap"))
        expect(code == 1 and "No such file" in err, f"missing file: {code} {err!r}")
        code, out, err = info(tandem, "--frob", saved)
        expect(code == 2 and "unexpected argument '--frob'" in err, f"bad option: {code} {err!r}")


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "snapshot_info_test.py")
