#!/usr/bin/env python3
"""Failover that keeps TCP connections: a client in a network namespace of
its own streams PUTs and GETs to kvhttpd in a protected guest on a TAP;
the primary is killed with SIGKILL again and again, each time the backup
(a TAP on the same bridge) takes over and is protected by a new backup.
Every value the client got acknowledged must be there afterwards, and no
connection may see a reset.

Needs root (network namespaces, a bridge, TAPs), made here with unique
names and removed at the end even on failure; skips (77) without root or
without $TANDEM_GUEST_DIR.

Usage: replication_tap_test.py TANDEM TEST_NAME"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import SKIP, Failure, expect, free_port, guest_args, main  # noqa: E402
from replication_test import Proc  # noqa: E402

KILLS = int(os.environ.get("TANDEM_FAILOVER_KILLS", "10"))

# Runs in the client namespace: one kept-alive connection PUTs a rising
# value and reads it back; every 5th step a new connection PUTs another
# key. Prints ACK lines for acknowledged values, ERR for failures.
CLIENT = r'''
import http.client, os, sys, time
host, stop = sys.argv[1], sys.argv[2]
def conn():
    return http.client.HTTPConnection(host, 80, timeout=30)
def put(c, key, v):
    c.request("PUT", "/kv/" + key, body=str(v), headers={"Content-Length": str(len(str(v)))})
    r = c.getresponse(); r.read()
    if r.status != 204: raise RuntimeError("PUT status %d" % r.status)
def get(c, key):
    c.request("GET", "/kv/" + key)
    r = c.getresponse(); body = r.read().decode()
    if r.status != 200: raise RuntimeError("GET status %d" % r.status)
    return body
c = None
i = 0
while not os.path.exists(stop):
    i += 1
    try:
        if c is None: c = conn()
        put(c, "a", i)
        print("ACK a", i, flush=True)
        got = get(c, "a")
        if got != str(i): print("ERR mismatch a want", i, "got", got, flush=True)
        if i % 5 == 0:
            n = conn()
            n.request("PUT", "/kv/b", body=str(i), headers={"Content-Length": str(len(str(i))), "Connection": "close"})
            r = n.getresponse(); r.read(); n.close()
            if r.status != 204: raise RuntimeError("PUT b status %d" % r.status)
            print("ACK b", i, flush=True)
    except Exception as e:
        print("ERR", type(e).__name__, e, flush=True)
        c = None
        time.sleep(0.1)
f = conn()
print("FINAL a", get(f, "a"), flush=True)
print("FINAL b", get(f, "b"), flush=True)
'''


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True)


class Net:
    """bridge + two TAPs + a client namespace joined to the bridge by a
    veth pair; names unique to this process."""

    def __init__(self):
        tag = "%04x" % (os.getpid() & 0xffff)
        self.br, self.ns = "trbr" + tag, "trns" + tag
        self.taps = ["trt0" + tag, "trt1" + tag]
        self.veth = ("trva" + tag, "trvb" + tag)
        self.made = []

    def __enter__(self):
        sh("ip", "link", "add", self.br, "type", "bridge")
        self.made.append(("link", self.br))
        sh("ip", "link", "set", self.br, "up")
        for t in self.taps:
            sh("ip", "tuntap", "add", t, "mode", "tap")
            self.made.append(("link", t))
            sh("ip", "link", "set", t, "master", self.br)
            sh("ip", "link", "set", t, "up")
        sh("ip", "netns", "add", self.ns)
        self.made.append(("netns", self.ns))
        sh("ip", "link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1])
        self.made.append(("link", self.veth[1]))
        sh("ip", "link", "set", self.veth[1], "master", self.br)
        sh("ip", "link", "set", self.veth[1], "up")
        sh("ip", "link", "set", self.veth[0], "netns", self.ns)
        sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", "10.0.2.2/24", "dev", self.veth[0])
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth[0], "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc):
        for kind, name in reversed(self.made):
            if kind == "netns":
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
            else:
                subprocess.run(["ip", "link", "del", name], capture_output=True)


def monitor(sock, command, args=None):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(sock)
        f = s.makefile("rwb")
        f.readline()  # greeting
        f.write(b'{"execute": "qmp_capabilities"}\n')
        f.flush()
        f.readline()
        f.write(json.dumps({"execute": command, "arguments": args or {}}).encode() + b"\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "return" in reply or "error" in reply:
                return reply


def wait_protected(sock, procs, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in procs:
            p.pump()
        r = monitor(sock, "query-replication").get("return", {})
        if r.get("state") == "protected" and r.get("committed", 0) > 0:
            return
        time.sleep(0.05)
    raise Failure("the VM did not become protected: " + json.dumps(r))


def test_replication_tap_failover(tandem):
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces and TAPs")
        sys.exit(SKIP)
    guest_args()  # skips without a guest
    tmp = tempfile.TemporaryDirectory(prefix="tandem-tap-")
    procs = []
    client = None
    with Net() as net:
        try:
            def new_backup(tap, k):
                port = free_port()
                sock = os.path.join(tmp.name, f"b{k}.sock")
                b = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--net", f"tap,ifname={tap}",
                          "--monitor", "unix:" + sock])
                procs.append(b)
                b.wait_for("listening on", stream="err", timeout=30)
                return b, port, sock

            backup, port, bsock = new_backup(net.taps[1], 0)
            psock = os.path.join(tmp.name, "p.sock")
            primary = Proc([tandem] + guest_args(["--net", f"tap,ifname={net.taps[0]}", "--monitor",
                                                  "unix:" + psock, "--replicate", f"to=127.0.0.1:{port}"]))
            procs.append(primary)
            primary.wait_for("tandem-guest: ready", others=[backup])
            primary.type("kvhttpd -p 80 &")
            primary.wait_for("kvhttpd: listening", others=[backup])  # before the client's first connect
            wait_protected(psock, [primary, backup])
            stop = os.path.join(tmp.name, "stop")
            client = subprocess.Popen(["ip", "netns", "exec", net.ns, sys.executable, "-u", "-c", CLIENT,
                                       "10.0.2.15", stop], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            os.set_blocking(client.stdout.fileno(), False)
            log = b""

            def acked():
                nonlocal log
                chunk = client.stdout.read()
                if chunk:
                    log += chunk
                return log.count(b"ACK a")

            deadline = time.time() + 60
            while acked() < 20:
                expect(time.time() < deadline and client.poll() is None, "the client got no answers",
                       log.decode(errors="replace"))
                for p in procs:
                    p.pump()
                time.sleep(0.05)
            taps = {id(primary): net.taps[0], id(backup): net.taps[1]}
            failover_ms = []
            for k in range(1, KILLS + 1):
                time.sleep(random.uniform(0.3, 1.0))
                before = acked()
                t0 = time.time()
                primary.p.send_signal(signal.SIGKILL)
                primary.end()
                backup.wait_for("took over", stream="err", timeout=30)
                # The next answer the client gets is served by the new primary.
                deadline = time.time() + 30
                while acked() <= before:
                    expect(time.time() < deadline, f"kill {k}: no answer after the takeover",
                           log.decode(errors="replace")[-2000:] + backup.err.decode(errors="replace"))
                    backup.pump()
                    time.sleep(0.005)
                failover_ms.append((time.time() - t0) * 1000)
                free_tap = taps[id(primary)]
                primary, psock = backup, bsock
                backup, port, bsock = new_backup(free_tap, k)
                taps[id(backup)] = free_tap
                r = monitor(psock, "replicate", {"to": f"127.0.0.1:{port}"})
                expect("return" in r, f"kill {k}: replicate refused: {r}")
                wait_protected(psock, [primary, backup])
            open(stop, "w").close()
            rest, _ = client.communicate(timeout=60)
            log += rest or b""
            text = log.decode(errors="replace")
            acks = {}
            for line in text.splitlines():
                if line.startswith("ACK "):
                    _, key, v = line.split()
                    acks[key] = int(v)
            finals = dict(line.split()[1:] for line in text.splitlines() if line.startswith("FINAL "))
            errors = [line for line in text.splitlines() if line.startswith("ERR")]
            print(f"{KILLS} failovers, {len(text.splitlines())} client lines, kill to next answer (ms): "
                  + ", ".join("%.0f" % f for f in failover_ms))
            expect(not errors, "the client saw errors across failovers:\n" + "\n".join(errors[:20]), text[-3000:])
            for key in ("a", "b"):
                expect(finals.get(key) == str(acks.get(key)),
                       f"key {key}: last acknowledged {acks.get(key)}, read back {finals.get(key)}", text[-2000:])
        finally:
            if client and client.poll() is None:
                client.kill()
                client.wait()
            for p in procs:
                p.end()
            tmp.cleanup()


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "replication_tap_test.py")
