#!/usr/bin/env python3
"""System tests of continuous checkpointing: a primary protected by a
backup on loopback, killed; the backup takes over with the guest's state.

Usage: replication_test.py TANDEM TEST_NAME (skips, exit 77, without
$TANDEM_GUEST_DIR)."""

import json
import os
import re
import signal
import tempfile
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import BOOT_TIMEOUT, SKIP, Failure, expect, free_port, guest_args, main  # noqa: E402


class Proc:
    """A tandem process with stdin piped and its stdout/stderr collected
    without blocking; killed at the end whatever happened."""

    def __init__(self, args):
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for f in (self.p.stdout, self.p.stderr):
            os.set_blocking(f.fileno(), False)
        self.out = b""
        self.err = b""

    def pump(self):
        for name, f in (("out", self.p.stdout), ("err", self.p.stderr)):
            chunk = f.read()
            if chunk:
                setattr(self, name, getattr(self, name) + chunk)

    def type(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def wait_for(self, what, stream="out", timeout=BOOT_TIMEOUT, others=()):
        deadline = time.time() + timeout
        while True:
            self.pump()
            for o in others:
                o.pump()
            if what.encode() in getattr(self, stream):
                return
            if time.time() > deadline or self.p.poll() is not None:
                self.pump()
                raise Failure(f"'{what}' did not appear on {stream} (exit {self.p.poll()})\n--- stdout ---\n"
                              + self.out.decode(errors="replace")[-2000:] + "\n--- stderr ---\n"
                              + self.err.decode(errors="replace")[-2000:])
            time.sleep(0.02)

    def end(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.pump()


# Heartbeats of tests that are not about failover timing: a side is
# given up after 3 missed ones, 0.9 s rather than the default 0.3 s.
CALM_HEARTBEAT_MS = 300


def start_pair(tandem, epoch_ms=20, monitors=None, heartbeat_ms=None):
    """A backup and a primary protected by it; with `monitors` (a pair of
    socket paths) each gets a monitor; `heartbeat_ms` for both sides
    (default: tandem's)."""
    port = free_port()
    extra_b = ["--monitor", "unix:" + monitors[1]] if monitors else []
    extra_p = ["--monitor", "unix:" + monitors[0]] if monitors else []
    hb = f",heartbeat={heartbeat_ms}" if heartbeat_ms else ""
    if heartbeat_ms:
        extra_b += ["--heartbeat", str(heartbeat_ms)]
    # Before any process starts: without a guest the test skips (exits).
    primary_args = [tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port},epoch={epoch_ms}{hb}"] + extra_p)
    backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}"] + extra_b)
    try:
        backup.wait_for("listening on", stream="err", timeout=30)
        return backup, Proc(primary_args)
    except BaseException:
        backup.end()
        raise


def replication_status(tandem, sock):
    p = subprocess.run([tandem, "replication", "status", "--monitor", sock, "--json"], capture_output=True,
                       timeout=30)
    expect(p.returncode == 0, f"replication status: exit {p.returncode}", p.stderr.decode(errors="replace"))
    return json.loads(p.stdout)


def test_replication_failover(tandem):
    """What the primary's guest showed before the kill (its output is held
    until the backup has the checkpoint that produced it) is in the state
    the backup runs on after it takes over."""
    tmp = tempfile.TemporaryDirectory(prefix="tandem-repl-")
    socks = (os.path.join(tmp.name, "p.sock"), os.path.join(tmp.name, "b.sock"))
    backup, primary = start_pair(tandem, monitors=socks)
    try:
        primary.wait_for("tandem-guest: ready", others=[backup])
        primary.type("echo value-$((6*7)) > /tmp/kept; echo stored-$((40+2))")
        primary.wait_for("stored-42", others=[backup])
        ps = replication_status(tandem, socks[0])
        expect(ps["role"] == "primary" and ps["state"] == "protected" and ps["committed"] > 0,
               f"primary's status: {ps}")
        bs = replication_status(tandem, socks[1])
        expect(bs["role"] == "backup" and bs["state"] in ("standby", "syncing") and bs["committed"] > 0,
               f"backup's status: {bs}")
        human = subprocess.run([tandem, "replication", "status", "--monitor", socks[0]], capture_output=True,
                               timeout=30).stdout.decode()
        expect("role:         primary" in human and "stun:" in human, "replication status for a person", human)
        primary.p.send_signal(signal.SIGKILL)
        primary.end()
        backup.wait_for("taking over", stream="err", timeout=30)
        backup.type("cat /tmp/kept; echo after-$((5*5))")
        backup.wait_for("after-25", timeout=60)
        expect(b"value-42" in backup.out, "the backup's guest lost a file written before the acknowledged output",
               backup.out.decode(errors="replace"))
        ts = replication_status(tandem, socks[1])
        expect(ts["state"] == "took-over" and "connection closed" in ts["reason"], f"after takeover: {ts}")
        backup.type("poweroff -f")
        code = backup.p.wait(timeout=60)
        expect(code == 0, f"the backup's VM exited with {code}", backup.err.decode(errors="replace"))
    finally:
        primary.end()
        backup.end()
        tmp.cleanup()


def wait_hash_line(proc, prefix, others=(), timeout=60):
    """The console line PREFIX<md5 hex>, once the guest printed it (the
    echoed command holds the prefix too)."""
    pattern = re.compile(r"^" + re.escape(prefix) + r"[0-9a-f]{32}\r?$", re.M)
    deadline = time.time() + timeout
    while time.time() < deadline:
        proc.pump()
        for o in others:
            o.pump()
        m = pattern.search(proc.out.decode(errors="replace"))
        if m:
            return m.group(0).strip()
        time.sleep(0.02)
    raise Failure(f"no '{prefix}' line\n" + proc.out.decode(errors="replace")[-2000:])


def test_replication_disk(tandem):
    """A writable drive is replicated: what the guest wrote to it before
    its acknowledged output is on the backup's copy after the takeover,
    and the primary's image is not the backup's (the backup writes its
    own copy in --drive-dir)."""
    guest_args()  # skips (exits) without a guest, before any process starts
    tmp = tempfile.TemporaryDirectory(prefix="tandem-repl-disk-")
    try:
        image = os.path.join(tmp.name, "disk.img")
        with open(image, "wb") as f:
            f.write(os.urandom(1 << 20))  # data before protection: the initial copy
            f.truncate(32 << 20)          # and a hole
        copies = os.path.join(tmp.name, "copies")
        os.mkdir(copies)
        port = free_port()
        backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--drive-dir", copies])
        backup.wait_for("listening on", stream="err", timeout=30)
        primary = Proc([tandem] + guest_args(["--drive", f"file={image}", "--replicate", f"to=127.0.0.1:{port}"]))
        try:
            primary.wait_for("tandem-guest: ready", others=[backup])
            primary.type("dd if=/dev/urandom of=/dev/vda bs=4096 seek=100 count=300 2>/dev/null; sync; "
                         "echo sum-$(dd if=/dev/vda bs=1M count=4 2>/dev/null | md5sum | cut -c1-32)")
            line = wait_hash_line(primary, "sum-", others=[backup])
            primary.p.send_signal(signal.SIGKILL)
            primary.end()
            backup.wait_for("took over", stream="err", timeout=30)
            backup.type("echo again-$(dd if=/dev/vda bs=1M count=4 2>/dev/null | md5sum | cut -c1-32)")
            got = wait_hash_line(backup, "again-")
            expect(got[len("again-"):] == line[len("sum-"):], f"the backup's drive differs: {got} vs {line}",
                   backup.out.decode(errors="replace"))
            expect(os.path.getsize(os.path.join(copies, "drive0.img")) == 32 << 20, "the drive copy's size")
            backup.type("poweroff -f")
            expect(backup.p.wait(timeout=60) == 0, "the backup's VM did not power off")
        finally:
            primary.end()
            backup.end()
        # A backup without --drive-dir refuses a primary with a writable drive.
        port = free_port()
        backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}"])
        try:
            backup.wait_for("listening on", stream="err", timeout=30)
            args = guest_args(["--drive", f"file={image}", "--replicate", f"to=127.0.0.1:{port}"])
            p = subprocess.run([tandem] + args, capture_output=True, timeout=60)
            err = p.stderr.decode(errors="replace")
            expect(p.returncode == 1 and "--drive-dir" in err, f"no --drive-dir: exit {p.returncode}", err)
        finally:
            backup.end()
    finally:
        tmp.cleanup()


def test_replication_silent_primary(tandem):
    """A primary that stops answering without closing anything (frozen,
    or cut off) is taken over after 3 heartbeat intervals."""
    guest_args()  # skips (exits) without a guest, before any process starts
    port = free_port()
    backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--heartbeat", "50"])
    primary = None
    try:
        backup.wait_for("listening on", stream="err", timeout=30)
        primary = Proc([tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port},heartbeat=50"]))
        primary.wait_for("tandem-guest: ready", others=[backup])
        primary.type("echo frozen-$((2*21))")
        primary.wait_for("frozen-42", others=[backup])
        primary.p.send_signal(signal.SIGSTOP)
        backup.wait_for("took over", stream="err", timeout=30)
        err = backup.err.decode(errors="replace")
        expect("no message from the primary for 150 ms" in err, "the backup did not say why", err)
        backup.type("echo alive-$((3*3))")
        backup.wait_for("alive-9", timeout=60)
    finally:
        if primary:
            primary.p.send_signal(signal.SIGKILL)
            primary.end()
        backup.end()


def test_replication_backup_disk_full(tandem):
    """A backup whose --drive-dir cannot hold the primary's drive refuses
    it at once, naming the cause, and the primary exits with the error."""
    if os.geteuid() != 0:
        print("skipped: needs root to mount a small tmpfs")
        sys.exit(SKIP)
    guest_args()  # skips (exits) without a guest, before any process starts
    tmp = tempfile.TemporaryDirectory(prefix="tandem-repl-full-")
    small = os.path.join(tmp.name, "small")
    os.mkdir(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tandem-test", small], check=True)
    backup = None
    try:
        image = os.path.join(tmp.name, "disk.img")
        with open(image, "wb") as f:
            f.truncate(8 << 20)
        port = free_port()
        backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--drive-dir", small])
        backup.wait_for("listening on", stream="err", timeout=30)
        p = subprocess.run([tandem] + guest_args(["--drive", f"file={image}", "--replicate", f"to=127.0.0.1:{port}"]),
                           capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 1 and "No space left on device" in err and "drive 0" in err,
               f"a full backup disk: exit {p.returncode}", err)
        expect(backup.p.poll() is None, "the backup died instead of refusing the primary")
    finally:
        if backup:
            backup.end()
        subprocess.run(["umount", small])
        tmp.cleanup()


def test_replication_poweroff(tandem):
    """A primary whose guest powers off ends replication on purpose: the
    backup exits 0 and does not take over."""
    backup, primary = start_pair(tandem, heartbeat_ms=CALM_HEARTBEAT_MS)
    try:
        primary.wait_for("tandem-guest: ready", others=[backup])
        primary.type("poweroff -f")
        code = primary.p.wait(timeout=60)
        expect(code == 0, f"the primary exited with {code}", primary.err.decode(errors="replace"))
        code = backup.p.wait(timeout=30)
        backup.pump()
        err = backup.err.decode(errors="replace")
        expect(code == 0, f"the backup exited with {code}", err)
        expect("taking over" not in err and "nothing to take over" in err, "the backup took over", err)
    finally:
        primary.end()
        backup.end()


def ask(sock, execute, arguments=None):
    """One monitor command on a fresh, negotiated connection; returns the
    reply."""
    from system_test import monitor_client
    c, ask_on = monitor_client(sock)
    try:
        req = {"execute": execute}
        if arguments:
            req["arguments"] = arguments
        return ask_on(req)
    finally:
        c.close()


def wait_socket(path, proc, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        expect(time.time() < deadline and proc.p.poll() is None, f"no monitor socket {path}")
        time.sleep(0.05)


ICOUNT_COMMANDS = ["echo start", "i=0; while [ $i -lt 300 ]; do echo line-$i-$((i*i)); i=$((i+1)); done",
                   "cat /proc/uptime", "dd if=/dev/urandom bs=64 count=4 2>/dev/null | md5sum",
                   # Pages rewritten a little at a time, for the diffs.
                   "i=0; while [ $i -lt 40 ]; do echo $i > /tmp/counter; cat /tmp/counter >/dev/null; "
                   "i=$((i+1)); done; echo counted-$(cat /tmp/counter)",
                   "echo mem$((6*7))check"]
MARK = "mem42check"


def unprotected_icount_run(tandem):
    """The icount workload, typed as protected_icount_run types it (what
    the console echoes depends on when a line is typed)."""
    p = Proc([tandem] + guest_args(["--icount"]))
    try:
        for c in ICOUNT_COMMANDS:
            p.type(c)
        p.wait_for(MARK)
        p.type("poweroff -f")
        code = p.p.wait(timeout=60)
        p.pump()
        expect(code == 0, f"unprotected run: exit {code}", p.err.decode(errors="replace"))
        return p.out.decode(errors="replace")
    finally:
        p.end()


def protected_icount_run(tandem, tmp, spec):
    """The icount workload protected with `spec` appended to --replicate;
    once it has printed the mark, the primary is paused, a checkpoint taken
    after the pause is committed, and the primary's memory is compared with
    the backup's committed memory; then the guest powers off. Returns the
    console output."""
    port = free_port()
    psock, bsock = os.path.join(tmp, "p.sock"), os.path.join(tmp, "b.sock")
    # Not a test of failover: heartbeats slow enough that a starved host
    # (CI beside other work) does not make one side give the other up.
    primary_args = [tandem] + guest_args(["--icount", "--monitor", "unix:" + psock, "--replicate",
                                          f"to=127.0.0.1:{port},epoch=5,heartbeat={CALM_HEARTBEAT_MS}{spec}"])
    backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--monitor", "unix:" + bsock,
                   "--heartbeat", str(CALM_HEARTBEAT_MS)])
    primary = None
    try:
        backup.wait_for("listening on", stream="err", timeout=30)
        primary = Proc(primary_args)
        for c in ICOUNT_COMMANDS:
            primary.type(c)
        primary.wait_for(MARK, others=[backup])
        wait_socket(psock, primary)
        expect(ask(psock, "stop") == {"return": {}}, "stop")
        taken = ask(psock, "query-replication")["return"]["checkpoints"]
        deadline = time.time() + 30
        while True:
            st = ask(psock, "query-replication")["return"]
            if st["committed"] >= taken + 1:
                break
            if time.time() > deadline or st["state"] != "protected":
                backup.pump()
                raise Failure(f"no checkpoint after the pause was committed: {st}\n--- primary ---\n"
                              + primary.err.decode(errors="replace") + "\n--- backup ---\n"
                              + backup.err.decode(errors="replace"))
            time.sleep(0.05)
        mine = ask(psock, "query-memory-hash")["return"]["xxh3"]
        theirs = ask(bsock, "query-memory-hash")["return"]
        expect(theirs.get("xxh3") == mine,
               f"{spec}: the backup's committed memory {theirs} is not the paused primary's {mine}; "
               f"replication: {json.dumps(st)}")
        if "diff=off" not in spec:
            expect(st["diff"]["diff_pages"] > 0 and st["diff"]["refused"] == 0,
                   f"{spec}: no page went as a diff, or diffs were refused: {st['diff']}")
        expect(ask(psock, "cont") == {"return": {}}, "cont")
        primary.type("poweroff -f")
        code = primary.p.wait(timeout=60)
        primary.pump()
        expect(code == 0, f"{spec}: the primary exited with {code}", primary.err.decode(errors="replace"))
        try:
            code = backup.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        backup.pump()
        expect(code == 0, f"{spec}: the backup did not end with the primary (exit {code})",
               backup.err.decode(errors="replace") + "\n--- primary ---\n" + primary.err.decode(errors="replace"))
        expect(b"nothing to take over" in backup.err, "the backup took over",
               backup.err.decode(errors="replace") + "\n--- primary ---\n" + primary.err.decode(errors="replace"))
        return primary.out.decode(errors="replace")
    finally:
        if primary:
            primary.end()
        backup.end()


def test_replication_icount_same_output(tandem):
    """Output commit changes when the world sees the guest's output, never
    what it is: an --icount run prints the same protected as unprotected,
    with page diffs and the modification history each on and off (up to
    the mark: what comes after the pause depends on when poweroff is
    typed); and the backup's committed memory equals the primary's once a
    checkpoint taken after a pause is in."""
    from system_test import expect_same_output
    plain = unprotected_icount_run(tandem)
    expect(MARK in plain, "the unprotected run did not print the mark", plain)
    until_mark = lambda out: out[:out.index(MARK)]
    for diff in ("on", "off"):
        for history in ("on", "off"):
            spec = f",diff={diff},history={history}"
            with tempfile.TemporaryDirectory() as tmp:
                out = protected_icount_run(tandem, tmp, spec)
            expect(MARK in out, f"{spec}: no mark", out)
            expect_same_output(until_mark(plain), until_mark(out), f"an --icount run's console output ({spec})",
                               "unprotected", "protected" + spec)


def test_replication_errors(tandem):
    """A backup that cannot be reached, and bad options, are clear errors."""
    port = free_port()
    p = subprocess.run([tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port}"]),
                       capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace")
    expect(p.returncode == 1 and "cannot reach the backup" in err, f"unreachable backup: exit {p.returncode}", err)
    for spec, want in (("epoch=5", "to=HOST:PORT is required"), ("to=localhost", "is not HOST:PORT"),
                       ("to=127.0.0.1:1,epoch=0", "epoch=0"), ("to=127.0.0.1:1,speed=3", "unknown option")):
        p = subprocess.run([tandem] + guest_args(["--replicate", spec]), capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 2 and want in err, f"--replicate {spec}: exit {p.returncode}", err)
    p = subprocess.run([tandem, "backup"], capture_output=True, timeout=60)
    expect(p.returncode == 2 and b"--listen" in p.stderr, "backup without --listen", p.stderr.decode())


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "replication_test.py")
