#!/usr/bin/env python3
"""System tests of the arbiter against split brain: a primary and its
backup, both with --arbiter on an etcd this test starts on a loopback
port (temporary --data-dir, killed by pid at the end, failed or not).

- primary_killed: SIGKILL the primary; the backup takes the pair once the
  primary's lease runs out, and goes live.
- backup_frozen: SIGSTOP the backup longer than the heartbeat timeout, then
  SIGCONT: the primary, still holding the pair, records that it runs on
  unprotected; the backup must not go live (its console never prints).
- primary_frozen: SIGSTOP the primary longer than its lease (cut off from
  both): the backup goes live; after SIGCONT the primary is fenced and its
  console never prints again.
- etcd_paused: etcd stops answering for a while: the primary's output is
  held meanwhile and released when etcd answers again.
- errors: etcd unreachable at start, a backup without --arbiter, a pair
  named differently on each side.

Skips (77) without the etcd binary or without $TANDEM_GUEST_DIR.
Usage: arbiter_test.py TANDEM TEST_NAME"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import SKIP, Failure, expect, free_port, guest_args, main  # noqa: E402
from replication_test import Proc, replication_status  # noqa: E402

HEARTBEAT_MS = 50  # both sides: the primary is lost to the backup after 150 ms


class Etcd:
    """etcd on free loopback ports; end() kills it by pid and removes its
    directory. Timings that let it grant 1 s leases."""

    def __init__(self, extra_hosts=()):
        """`extra_hosts`: addresses (of this namespace) it also serves
        clients on, at the same port."""
        exe = shutil.which("etcd")
        if not exe:
            print("skipped: etcd is not installed (apt-get install etcd-server)")
            sys.exit(SKIP)
        # free_port() only finds a port free now: a test beside this one may
        # take it before etcd binds it, so a bind failure tries new ports.
        for attempt in range(3):
            self.dir = tempfile.mkdtemp(prefix="tandem-etcd-")
            client, peer = free_port(), free_port()
            self.url = f"http://127.0.0.1:{client}"
            self.port = client
            listen = ",".join([self.url] + [f"http://{h}:{client}" for h in extra_hosts])
            p = f"http://127.0.0.1:{peer}"
            self.log = open(os.path.join(self.dir, "etcd.log"), "wb")
            self.p = subprocess.Popen([exe, "--name", "t", "--data-dir", os.path.join(self.dir, "data"),
                                       "--listen-client-urls", listen, "--advertise-client-urls", self.url,
                                       "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
                                       "--initial-cluster", "t=" + p, "--heartbeat-interval", "50",
                                       "--election-timeout", "500"], stdout=self.log, stderr=self.log)
            try:
                deadline = time.time() + 15
                while self.get("tandem/probe") is False:
                    if time.time() > deadline or self.p.poll() is not None:
                        log = open(os.path.join(self.dir, "etcd.log")).read()
                        if self.p.poll() is not None and "address already in use" in log and attempt < 2:
                            break
                        raise Failure("etcd did not start:\n" + log[-2000:])
                    time.sleep(0.1)
                else:
                    return
            except BaseException:
                self.end()
                raise
            print(f"etcd: a port was taken before it bound it; trying others (attempt {attempt + 2} of 3)")
            self.end()

    def etcdctl(self, *args):
        return subprocess.run(["etcdctl", "--endpoints", self.url, "--command-timeout=2s"] + list(args),
                              capture_output=True, timeout=10, env=dict(os.environ, ETCDCTL_API="3"))

    def get(self, key):
        """The key's value, None when absent, False when etcd does not answer."""
        r = self.etcdctl("get", key, "--print-value-only")
        if r.returncode != 0:
            return False
        out = r.stdout.decode().rstrip("\n")
        return out if out else None

    def end(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.kill()
        self.p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Pair:
    """etcd, a backup and a primary protected by it, each with a monitor;
    end() ends them all, whatever happened."""

    def __init__(self, tandem, name="web"):
        guest_args()  # skips (exits) without a guest, before any process starts
        self.tandem = tandem
        self.tmp = tempfile.TemporaryDirectory(prefix="tandem-arbiter-")
        self.socks = (os.path.join(self.tmp.name, "p.sock"), os.path.join(self.tmp.name, "b.sock"))
        self.etcd = Etcd()
        self.backup = self.primary = None
        try:
            self.arbiter = f"etcd={self.etcd.url},name={name}"
            port = free_port()
            self.backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--heartbeat", str(HEARTBEAT_MS),
                                "--arbiter", self.arbiter, "--monitor", "unix:" + self.socks[1]])
            self.backup.wait_for("listening on", stream="err", timeout=30)
            self.primary = Proc([tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port},heartbeat={HEARTBEAT_MS}",
                                                       "--arbiter", self.arbiter, "--monitor",
                                                       "unix:" + self.socks[0]]))
            self.primary.wait_for("tandem-guest: ready", others=[self.backup])
        except BaseException:
            self.end()
            raise

    def status(self, i):
        return replication_status(self.tandem, self.socks[i])

    def owner(self):
        return self.etcd.get("tandem/pair/web/owner")

    def end(self):
        for p in (self.primary, self.backup):
            if p:
                p.p.send_signal(signal.SIGCONT)
                p.end()
        self.etcd.end()
        self.tmp.cleanup()


def answer(proc, word, a, b, others=()):
    """Types `echo WORD-$((A*B))` and waits for the guest's answer (the
    echoed line holds the expression, only the answer its value)."""
    proc.type(f"echo {word}-$(({a}*{b}))")
    proc.wait_for(f"{word}-{a * b}", others=others, timeout=60)


def quiet_for(proc, what, seconds, others=()):
    """Fails if `what` appears on proc's stdout within `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        proc.pump()
        for o in others:
            o.pump()
        expect(what.encode() not in proc.out, f"'{what}' was released", proc.out.decode(errors="replace")[-2000:])
        time.sleep(0.05)


def test_arbiter_primary_killed(tandem):
    """The primary dies: the backup waits for its lease to run out in etcd,
    takes the pair and goes live with the guest's state."""
    pair = Pair(tandem)
    try:
        pair.primary.type("echo value-$((6*7)) > /tmp/kept; echo stored-$((40+2))")
        pair.primary.wait_for("stored-42", others=[pair.backup])
        ps = pair.status(0)
        expect(ps["state"] == "protected" and ps["arbiter"]["state"] == "owner", f"primary: {ps}")
        expect(pair.owner() == ps["arbiter"]["id"], f"etcd's owner {pair.owner()!r} is not the primary")
        expect(pair.status(1)["arbiter"]["state"] == "standby", "the backup's arbiter")
        killed = time.time()
        pair.primary.p.send_signal(signal.SIGKILL)
        pair.primary.end()
        pair.backup.wait_for("took over", stream="err", timeout=30)
        took = time.time() - killed
        err = pair.backup.err.decode(errors="replace")
        expect("the arbiter gave pair 'web' to this backup" in err, "the backup did not say it got the pair", err)
        pair.backup.type("cat /tmp/kept; echo after-$((5*5))")
        pair.backup.wait_for("after-25", timeout=60)
        expect(b"value-42" in pair.backup.out, "the backup's guest lost the file", pair.backup.out.decode())
        bs = pair.status(1)
        expect(bs["state"] == "took-over" and bs["arbiter"]["state"] == "owner", f"after takeover: {bs}")
        expect(pair.owner() == bs["arbiter"]["id"], "etcd's owner is not the backup")
        print(f"primary killed -> backup took over in {took:.3f} s (lease TTL {bs['arbiter']['ttl_s']} s)")
        pair.backup.type("poweroff -f")
        expect(pair.backup.p.wait(timeout=60) == 0, "the backup's VM did not power off")
        expect(pair.owner() is None, "an orderly exit leaves the pair free")
    finally:
        pair.end()


def test_arbiter_backup_frozen(tandem):
    """The replication link is lost but the primary still reaches etcd (the
    backup frozen past its heartbeat timeout): the primary records that it
    runs on unprotected and releases its output; the backup, thawed, must
    not go live."""
    pair = Pair(tandem)
    try:
        answer(pair.primary, "before", 3, 3, others=[pair.backup])
        pair.backup.p.send_signal(signal.SIGSTOP)
        pair.primary.wait_for("runs on unprotected", stream="err", timeout=30)
        answer(pair.primary, "unprotected", 4, 4)
        time.sleep(1.5)  # longer than the lease: a stale backup could try
        pair.backup.p.send_signal(signal.SIGCONT)
        pair.backup.wait_for("not going live", stream="err", timeout=30)
        ps = pair.status(0)
        expect(ps["state"] == "unprotected" and ps["arbiter"]["state"] == "owner", f"primary: {ps}")
        bs = pair.status(1)
        expect(bs["state"] == "standby", f"backup: {bs}")
        expect(pair.owner() == ps["arbiter"]["id"], "the primary lost the pair")
        answer(pair.primary, "still", 5, 5)
        pair.backup.pump()
        expect(pair.backup.out == b"", "the backup released output", pair.backup.out.decode(errors="replace"))
        expect(b"took over" not in pair.backup.err, "the backup went live", pair.backup.err.decode())
    finally:
        pair.end()


def test_arbiter_primary_frozen(tandem):
    """The primary stops (cut off from its backup and from etcd) for
    longer than its lease: the backup goes live; the primary, running
    again, finds the pair taken and never releases output again."""
    pair = Pair(tandem)
    try:
        answer(pair.primary, "before", 3, 3, others=[pair.backup])
        pair.primary.p.send_signal(signal.SIGSTOP)
        pair.backup.wait_for("took over", stream="err", timeout=30)
        answer(pair.backup, "live", 7, 7)
        pair.primary.p.send_signal(signal.SIGCONT)
        pair.primary.type("echo zombie-$((6*7))")
        pair.primary.wait_for("was taken by", stream="err", timeout=30)
        quiet_for(pair.primary, "zombie-42", 3, others=[pair.backup])
        ps = pair.status(0)
        expect(ps["arbiter"]["state"] == "fenced" and ps["state"] == "unprotected", f"primary: {ps}")
        expect(ps["output_held_bytes"] == 0, "a fenced primary keeps what it can never release")
        bs = pair.status(1)
        expect(pair.owner() == bs["arbiter"]["id"], "etcd's owner is not the backup")
        answer(pair.backup, "still", 8, 8)
    finally:
        pair.end()


def test_arbiter_etcd_paused(tandem):
    """etcd stops answering (SIGSTOP) for longer than the primary's
    validity: its output is held until etcd answers again."""
    pair = Pair(tandem)
    try:
        pair.etcd.p.send_signal(signal.SIGSTOP)
        pair.primary.wait_for("cannot renew pair 'web'", stream="err", timeout=30)
        time.sleep(1.0)  # past the validity the last renewal gave
        pair.primary.type("echo held-$((2*3))")
        quiet_for(pair.primary, "held-6", 2, others=[pair.backup])
        ps = pair.status(0)
        expect(ps["arbiter"]["state"] == "unrenewed" and ps["output_held_bytes"] > 0, f"primary: {ps}")
        pair.etcd.p.send_signal(signal.SIGCONT)
        pair.primary.wait_for("held-6", timeout=30, others=[pair.backup])
        expect(b"took over" not in pair.backup.err, "the backup went live", pair.backup.err.decode())
        ps = pair.status(0)
        expect(ps["state"] == "protected" and ps["arbiter"]["state"] == "owner", f"after: {ps}")
    finally:
        pair.end()


def test_arbiter_errors(tandem):
    """etcd unreachable at start, and mismatched sides, are clear errors."""
    guest_args()  # skips without a guest
    dead = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    p = subprocess.run([tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port}", "--arbiter", "etcd=" + dead]),
                       capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace")
    expect(p.returncode == 1 and dead in err and "cannot take pair" in err, f"run: exit {p.returncode}", err)
    p = subprocess.run([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--arbiter", "etcd=" + dead],
                       capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace")
    expect(p.returncode == 1 and dead in err, f"backup: exit {p.returncode}", err)
    for args, want in ((["--arbiter", "etcd=" + dead], "name=NAME is needed"),
                       (["--arbiter", "etcd=localhost:1"], "is not http://HOST:PORT"),
                       (["--arbiter", f"etcd={dead},ttl=0"], "ttl=0")):
        p = subprocess.run([tandem] + guest_args(args), capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 2 and want in err, f"{args}: exit {p.returncode}", err)
    etcd = Etcd()
    backup = None
    try:
        # A backup without --arbiter would go live beside the primary: refused.
        backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}"])
        backup.wait_for("listening on", stream="err", timeout=30)
        p = subprocess.run([tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port}",
                                                  "--arbiter", f"etcd={etcd.url}"]), capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 1 and "start it with --arbiter" in err, f"no arbiter on the backup: exit {p.returncode}",
               err)
        backup.end()
        # The pair is named after the backup's address by default: a backup
        # listening on another spelling of it names another pair.
        backup = Proc([tandem, "backup", "--listen", f"localhost:{port}", "--arbiter", f"etcd={etcd.url}"])
        backup.wait_for("listening on", stream="err", timeout=30)
        p = subprocess.run([tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port}",
                                                  "--arbiter", f"etcd={etcd.url}"]), capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 1 and "give both sides the same name=" in err, f"pair names: exit {p.returncode}", err)
        expect(etcd.get(f"tandem/pair/127.0.0.1:{port}/owner") is None, "a primary that failed to start holds the pair")
    finally:
        if backup:
            backup.end()
        etcd.end()


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "arbiter_test.py")
