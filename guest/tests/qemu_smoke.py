#!/usr/bin/env python3
"""Boot the tandem guest on qemu-system-riscv64 (the reference board) and
check what a user of the guest relies on: the console banner lines, a shell
that runs commands from the console, the network (kvhttpd through a host port
forward), virtio-blk disks (ext2 mounted on /mnt, a raw disk read with tsum),
virtio-rng, memtouch, and `poweroff -f` ending QEMU.

    guest/tests/qemu_smoke.py [--dir DIR] [--boots N]

Without --dir it runs guest/build.sh. --boots N only boots N more times and
reports the launch-to-"tandem-guest: init" times. Exit status 0 = all passed.
"""

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "build.sh")


def fnv1a64(data, h=0xCBF29CE484222325):
    """The checksum tsum prints (FNV-1a, 64 bit)."""
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Failure(Exception):
    pass


class Guest:
    """One QEMU process; console output is collected by a reader thread."""

    def __init__(self, qemu, guest_dir, extra_args=(), timeout=120, append=""):
        self.timeout = timeout
        self.output = b""
        self.cond = threading.Condition()
        self.eof = False
        self.cmd_seq = 0
        args = [
            qemu, "-M", "virt", "-m", "256M", "-nographic", "-bios", "default",
            "-kernel", os.path.join(guest_dir, "Image"),
            "-initrd", os.path.join(guest_dir, "initramfs.cpio.gz"),
            "-append", ("console=ttyS0 " + append).strip(),
            *extra_args,
        ]
        self.start = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.output += chunk
                self.cond.notify_all()

    def expect(self, pattern, since=0, timeout=None):
        """Waits for a regex (bytes) in the output after offset `since`;
        returns (match, seconds since launch)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        rx = re.compile(pattern)
        with self.cond:
            while True:
                m = rx.search(self.output, since)
                if m:
                    return m, time.monotonic() - self.start
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    tail = self.output[-2000:].decode(errors="replace")
                    why = "QEMU exited" if self.eof else "timeout"
                    raise Failure(f"{why} waiting for {pattern!r}; console tail:\n{tail}")
                self.cond.wait(left)

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, command, timeout=None):
        """Runs a shell command on the console; returns (status, output)."""
        self.cmd_seq += 1
        n = self.cmd_seq
        with self.cond:
            since = len(self.output)
        # The tty echoes the command lines; the quotes keep the echo from
        # matching the end marker. A separate line, so `cmd &` works too.
        self.send(f'{command}\necho "@@"END"@@ {n} $?"\n')
        m, _ = self.expect(rb"@@END@@ %d (\d+)" % n, since, timeout)
        text = self.output[since:m.start()].decode(errors="replace").replace("\r", "")
        # Drop the echoed command line.
        text = text.split("\n", 1)[1] if "\n" in text else ""
        return int(m.group(1)), text

    def check(self, command, want=None, timeout=None):
        status, out = self.run(command, timeout)
        if status != 0:
            raise Failure(f"'{command}' exited {status}:\n{out}")
        if want is not None and want not in out:
            raise Failure(f"'{command}': expected {want!r} in:\n{out}")
        return out

    def poweroff(self, timeout=30):
        self.send("poweroff -f\n")
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("QEMU still running after poweroff -f")
        if rc != 0:
            raise Failure(f"QEMU exited with {rc} after poweroff -f")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def http_request(port, method, path, body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data


def make_disks(tmp):
    """An ext2 image (mounted by /init as /dev/vda) and a raw data disk."""
    content = os.path.join(tmp, "content")
    os.mkdir(content)
    data = os.urandom(1 << 20)
    with open(os.path.join(content, "data.bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(content, "hello.txt"), "w") as f:
        f.write("hello from the host\n")
    ext2 = os.path.join(tmp, "ext2.img")
    mke2fs = shutil.which("mke2fs") or "/sbin/mke2fs"
    subprocess.run([mke2fs, "-q", "-F", "-t", "ext2", "-d", content, ext2, "8M"], check=True,
                   stdout=subprocess.DEVNULL)
    raw = os.path.join(tmp, "raw.img")
    raw_data = os.urandom(2 << 20)
    with open(raw, "wb") as f:
        f.write(raw_data)
    return ext2, fnv1a64(data), raw, fnv1a64(raw_data), len(raw_data)


def full_check(qemu, guest_dir, tmp):
    ext2, data_sum, raw, raw_sum, raw_len = make_disks(tmp)
    port = free_port()
    g = Guest(qemu, guest_dir, [
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:80",
        "-device", "virtio-net-device,netdev=n0",
        "-drive", f"file={ext2},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0",
        "-drive", f"file={raw},format=raw,if=none,id=d1", "-device", "virtio-blk-device,drive=d1",
        "-device", "virtio-rng-device",
    ])
    results = {}
    try:
        m, t_init = g.expect(rb"tandem-guest: init")
        line_start = g.output.rfind(b"\n", 0, m.start()) + 1
        line_end = g.output.find(b"\n", m.end())
        first_line = g.output[line_start:line_end if line_end >= 0 else None].strip(b"\r")
        if first_line != b"tandem-guest: init":
            raise Failure(f"init's first line is {first_line!r}")
        results["launch_to_init_s"] = round(t_init, 3)
        _, t_ready = g.expect(rb"tandem-guest: ready", m.end())
        results["launch_to_ready_s"] = round(t_ready, 3)
        g.expect(rb"/dev/vda mounted on /mnt")
        g.expect(rb"# ")  # the prompt: the shell reads the console now

        g.check("uname -r", "6.1.")
        g.check("cat /sys/class/misc/hw_random/rng_current", "virtio_rng")
        g.check("head -c 16 /dev/hwrng | wc -c", "16")
        # Disk: a file on the ext2 disk and the whole raw disk.
        g.check("cat /mnt/hello.txt", "hello from the host")
        g.check("tsum /mnt/data.bin", "%016x  %d  /mnt/data.bin" % (data_sum, 1 << 20))
        g.check("tsum /dev/vdb", "%016x  %d  /dev/vdb" % (raw_sum, raw_len))
        # Network: eth0 configured, kvhttpd reachable through the port forward.
        g.check("ip addr show eth0", "10.0.2.15/24")
        g.check("ip route", "default via 10.0.2.2")
        g.check("kvhttpd >/dev/null 2>&1 &")
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = http_request(port, "GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("kvhttpd not reachable through the port forward")
                time.sleep(0.2)
        if (status, body) != (200, b"tandem guest ok\n"):
            raise Failure(f"GET / -> {status} {body!r}")
        value = os.urandom(100000)
        checks = [
            (("PUT", "/kv/smoke", value), 204, b""),
            (("GET", "/kv/smoke", None), 200, value),
            (("GET", "/kv/missing", None), 404, None),
        ]
        for (method, path, body), want_status, want_body in checks:
            status, got = http_request(port, method, path, body)
            if status != want_status or (want_body is not None and got != want_body):
                raise Failure(f"{method} {path} -> {status} ({len(got)} bytes)")
        # Keep-alive: several requests on one connection.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(10):
            status, _ = http_request(port, "GET", "/", conn=conn)
            if status != 200:
                raise Failure(f"keep-alive GET / -> {status}")
        conn.close()
        for _ in range(20):  # many sequential connections
            status, _ = http_request(port, "GET", "/")
            if status != 200:
                raise Failure(f"GET / -> {status}")
        status, stats = http_request(port, "GET", "/stats")
        if status != 200 or b"requests=35 " not in stats:
            raise Failure(f"GET /stats -> {status} {stats!r}")
        # The value written from the host is in guest memory, byte for byte.
        g.check("wget -q -O - http://127.0.0.1/kv/smoke | tsum", "%016x  %d  -" % (fnv1a64(value), len(value)))
        out = g.check("memtouch --mb 8 --rate 16 --seconds 2", "memtouch: done")
        if "memtouch: t=1s touched=16MB rate=16MB/s" not in out:
            raise Failure(f"memtouch progress line missing:\n{out}")
        g.check("umount /mnt")
        g.poweroff()
        return results
    finally:
        g.kill()


def run_from_cmdline(qemu, guest_dir):
    """tandem_run="..." on the kernel command line runs without console
    input and powers off."""
    g = Guest(qemu, guest_dir, append='tandem_run="echo run-$((6*7)); tsum /init"')
    try:
        m, _ = g.expect(rb"tandem-guest: ready")
        g.expect(rb"run-42", m.end())
        g.expect(rb"[0-9a-f]{16}  \d+  /init", m.end())
        try:
            rc = g.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise Failure("QEMU still running after the tandem_run command")
        if rc != 0:
            raise Failure(f"QEMU exited with {rc} after the tandem_run command")
    finally:
        g.kill()


def boot_only(qemu, guest_dir):
    g = Guest(qemu, guest_dir)
    try:
        _, t_init = g.expect(rb"tandem-guest: init")
        g.expect(rb"tandem-guest: ready")
        g.expect(rb"# ")
        g.poweroff()
        return t_init
    finally:
        g.kill()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", help="directory with Image and initramfs.cpio.gz (default: run guest/build.sh)")
    p.add_argument("--qemu", default="qemu-system-riscv64")
    p.add_argument("--boots", type=int, default=0, help="extra boots for launch-to-init timing")
    args = p.parse_args()
    if not shutil.which(args.qemu):
        print(f"qemu_smoke: {args.qemu} not found (Debian package qemu-system-misc)", file=sys.stderr)
        return 2
    guest_dir = args.dir or subprocess.run([BUILD], check=True, stdout=subprocess.PIPE,
                                           text=True).stdout.strip()
    try:
        with tempfile.TemporaryDirectory(prefix="tandem-guest-smoke.") as tmp:
            results = full_check(args.qemu, guest_dir, tmp)
        run_from_cmdline(args.qemu, guest_dir)
        print(f"qemu_smoke: PASS {guest_dir}")
        for k, v in results.items():
            print(f"  {k}: {v}")
        if args.boots:
            times = [boot_only(args.qemu, guest_dir) for _ in range(args.boots)]
            print(f"  launch_to_init_s over {len(times)} boots: min {min(times):.3f} "
                  f"median {statistics.median(times):.3f} max {max(times):.3f}")
    except (Failure, subprocess.CalledProcessError) as e:
        print(f"qemu_smoke: FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
