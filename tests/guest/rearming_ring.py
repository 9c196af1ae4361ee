#!/usr/bin/env python3
"""Runs rearming_ring.elf, a guest whose virtio-blk ring re-arms itself
through the device's own writes forever, and checks that tandem keeps
going: the notify returns, the guest runs, the device goes on serving the
ring between slices, the monitor answers, `snapshot save` completes, and
the saved VM restores with its owed device work resumed.

Usage: rearming_ring.py TANDEM ELF. No timing is asserted: the timeouts
only turn a hang (the defect this guards against) into a failure."""

import json
import os
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HANG = 60  # seconds before a wait counts as a hang


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def make_disk(path):
    # Sector s: avail.idx = s + 2 at 0, ring entries (head 0), and at 254 a
    # header asking for sector s + 1 (IN), all mod 65536 as avail.idx wraps.
    with open(path, "wb") as f:
        for s in range(65536):
            sector = bytearray(512)
            struct.pack_into("<H", sector, 0, (s + 2) % 65536)
            struct.pack_into("<IIQ", sector, 254, 0, 0, (s + 1) % 65536)
            f.write(sector)


class Lines:
    """The process's stdout, line by line, read by a thread."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.q.put(line.decode(errors="replace").rstrip("\n"))
        self.q.put(None)

    def wait_for(self, prefix):
        deadline = time.time() + HANG
        while True:
            try:
                line = self.q.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                raise Failure(f"no line starting with {prefix!r} within {HANG} s; seen: {self.seen[-10:]}")
            if line is None:
                raise Failure(f"the guest ended before {prefix!r}; seen: {self.seen[-10:]}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line


def wait_for_socket(path, proc):
    deadline = time.time() + HANG
    while not os.path.exists(path):
        expect(proc.poll() is None, "tandem exited before its monitor socket appeared")
        expect(time.time() < deadline, "the monitor socket did not appear")
        time.sleep(0.05)


def instructions(sock):
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(HANG)
        c.connect(sock)
        f = c.makefile("rwb")
        json.loads(f.readline())  # greeting
        f.write(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status", "id": "status"}\n')
        f.flush()
        while True:
            msg = json.loads(f.readline())
            expect("error" not in msg, f"the monitor refused: {msg}")
            if msg.get("id") == "status":
                return msg["return"]["instructions"]


def main(tandem, elf):
    with tempfile.TemporaryDirectory() as tmp:
        disk, sock, snap = (os.path.join(tmp, n) for n in ("ring.img", "m.sock", "vm.snap"))
        make_disk(disk)
        p = subprocess.Popen([tandem, "run", "-m", "64M", "--bios", "none", "--kernel", elf, "--drive",
                              f"file={disk}", "--monitor", f"unix:{sock}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out = Lines(p)
            print(out.wait_for("notify returned"))
            print(out.wait_for("progress"))  # the device goes on between slices
            wait_for_socket(sock, p)
            i1 = instructions(sock)
            print(out.wait_for("progress"))
            i2 = instructions(sock)
            expect(i2 > i1, f"the guest did not run: {i1} then {i2} instructions")
            print(f"monitor answers: {i1} then {i2} instructions")
            s = subprocess.run([tandem, "snapshot", "save", "--monitor", f"unix:{sock}", snap],
                               capture_output=True, timeout=HANG)
            expect(s.returncode == 0, f"snapshot save failed: {s.stderr.decode()}")
            print("snapshot save:", s.stdout.decode().strip()[:200])
            print(out.wait_for("progress"))  # it goes on after the save
            p.stdin.write(b"q")
            p.stdin.flush()
            print(out.wait_for("done"))
            p.wait(timeout=HANG)
            expect(p.returncode == 0, f"tandem exited {p.returncode}: {p.stderr.read().decode()[-2000:]}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        # The snapshot holds the queue's owed work: restored, the device
        # must resume it (the guest never notifies again).
        r = subprocess.run([tandem, "restore", snap], input=b"q", capture_output=True, timeout=HANG)
        text = r.stdout.decode(errors="replace")
        expect(r.returncode == 0 and "done" in text,
               f"restore exited {r.returncode}; stdout tail {text[-500:]!r}; stderr {r.stderr.decode()[-1000:]}")
        print("restored run:", text.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: rearming_ring.py TANDEM ELF")
        sys.exit(2)
    try:
        main(sys.argv[1], sys.argv[2])
    except (Failure, subprocess.TimeoutExpired) as e:
        print("FAILED:", e)
        sys.exit(1)
    print("passed")
