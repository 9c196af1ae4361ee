#!/usr/bin/env python3
"""System tests of `--status HOST:PORT`: the status page, /status.json and
/metrics of a protected pair on loopback, fetched with curl; and a VM
whose status server is hammered by garbage and slow clients.

Usage: status_test.py TANDEM TEST_NAME (skips, exit 77, without
$TANDEM_GUEST_DIR or curl)."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import SKIP, Failure, expect, free_port, guest_args, main  # noqa: E402
from replication_test import Proc  # noqa: E402


def need_curl():
    if not shutil.which("curl"):
        print("skipped: curl is not installed")
        sys.exit(SKIP)


def status_url(proc, others=()):
    """The address tandem printed: 'tandem: status page at http://...'."""
    proc.wait_for("status page at http://", stream="err", timeout=30, others=others)
    m = re.search(r"status page at (http://127\.0\.0\.1:(\d+)/)", proc.err.decode(errors="replace"))
    expect(m and m.group(2) != "0", "no status address with a port", proc.err.decode(errors="replace"))
    return m.group(1)


def curl(url, *args):
    """(status code, headers, body) of a GET with curl."""
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "-D", "-", *args, url], capture_output=True, timeout=30)
    expect(p.returncode == 0, f"curl {url}: exit {p.returncode}", p.stderr.decode(errors="replace"))
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    code = int(head.split(b" ", 2)[1])
    return code, head.decode(errors="replace"), body.decode(errors="replace")


def metric(text, name, **labels):
    """The value of the sample NAME{labels...} in an exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        expect(m, f"not a sample line: {line!r}")
        if m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def wait_metric(url, name, pred, what, timeout=60, **labels):
    deadline = time.time() + timeout
    while True:
        _, _, body = curl(url + "metrics")
        v = metric(body, name, **labels)
        if v is not None and pred(v):
            return body
        expect(time.time() < deadline, f"{what}: {name}{labels} is {v}", body[-3000:])
        time.sleep(0.5)


def check_families(text):
    """Each family's HELP and TYPE once, counters ending in _total."""
    seen = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            expect(name not in seen, f"TYPE of {name} twice")
            seen[name] = kind
            expect((kind == "counter") == name.endswith("_total"), f"{name} is a {kind}")
    expect(text.count("# HELP ") == len(seen), "a HELP line for each TYPE line")


def test_status_pair(tandem):
    """A primary and its backup, each with --status on port 0: the page,
    the figures and the metrics answer curl, and they move."""
    need_curl()
    port = free_port()
    primary_args = [tandem] + guest_args(["--replicate", f"to=127.0.0.1:{port},epoch=20",
                                          "--status", "127.0.0.1:0"])
    backup = Proc([tandem, "backup", "--listen", f"127.0.0.1:{port}", "--status", "127.0.0.1:0"])
    primary = None
    try:
        b_url = status_url(backup)
        backup.wait_for("listening on", stream="err", timeout=30)
        primary = Proc(primary_args)
        p_url = status_url(primary, others=[backup])
        primary.wait_for("tandem-guest: ready", others=[backup])

        code, head, page = curl(p_url)
        expect(code == 200 and "text/html" in head, f"GET /: {code}", head)
        expect("status.json" in page and "createElementNS" in page, "the page draws status.json in SVG")
        expect(not re.search(r"(src|href)=\"?https?:", page), "the page loads nothing from elsewhere")

        body = wait_metric(p_url, "tandem_replication_state", lambda v: v == 1, "the primary is protected",
                           role="primary", state="protected")
        check_families(body)
        first = metric(body, "tandem_replication_checkpoints_total", role="primary")
        expect(metric(body, "tandem_vm_state", state="running") == 1, "the VM runs", body)
        expect(metric(body, "tandem_replication_stun_seconds", role="primary", quantile="0.99") is not None,
               "stun p99", body)
        time.sleep(1.5)
        _, _, body = curl(p_url + "metrics")
        second = metric(body, "tandem_replication_checkpoints_total", role="primary")
        expect(second > first, f"checkpoints_total did not grow: {first} then {second}")

        b_body = wait_metric(b_url, "tandem_replication_checkpoints_committed_total", lambda v: v > 0,
                             "the backup commits", role="backup")
        check_families(b_body)
        expect(metric(b_body, "tandem_replication_state", role="backup", state="standby") == 1
               or metric(b_body, "tandem_replication_state", role="backup", state="syncing") == 1,
               "the backup's state", b_body)
        expect(metric(b_body, "tandem_vm_state", state="standby") == 1, "no VM runs on the backup", b_body)

        # /status.json: the figures, and a history once a few seconds passed.
        time.sleep(2.5)
        code, head, text = curl(p_url + "status.json")
        expect(code == 200 and "application/json" in head, f"GET /status.json: {code}", head)
        s = json.loads(text)
        sections = {sec["title"]: dict(sec["figures"]) for sec in s["sections"]}
        expect(sections["replication"]["role"] == "primary" and sections["replication"]["state"] == "protected"
               and sections["replication"]["peer"] == f"127.0.0.1:{port}", f"figures: {sections}")
        expect(sections["vm"]["state"] == "running", f"figures: {sections}")
        charts = {c["title"]: c for c in s["history"]["charts"]}
        expect(len(s["history"]["t"]) >= 3, f"history: {s['history']['t']}")
        cps = [v for se in charts["checkpoints / s"]["series"] for v in se["values"] if v is not None]
        expect(cps and max(cps) > 5, f"checkpoints / s: {cps}")
        for title in ("stun (s)", "held output (bytes)"):
            expect(title in charts, f"no chart '{title}': {list(charts)}")
        _, _, btext = curl(b_url + "status.json")
        bsec = {sec["title"]: dict(sec["figures"]) for sec in json.loads(btext)["sections"]}
        expect(bsec["replication"]["role"] == "backup", f"backup figures: {bsec}")

        # HEAD, 404 and 405 through curl too.
        p = subprocess.run(["curl", "-sS", "--max-time", "20", "-I", p_url + "metrics"], capture_output=True,
                           timeout=30)
        head, _, rest = p.stdout.partition(b"\r\n\r\n")
        expect(head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head and rest == b"",
               "HEAD /metrics", p.stdout.decode(errors="replace"))
        expect(curl(p_url + "nowhere")[0] == 404, "GET /nowhere")
        expect(curl(p_url + "metrics", "-X", "POST", "-d", "x")[0] == 405, "POST /metrics")

        # The backup's page goes on, now for the VM it runs.
        primary.p.kill()
        primary.end()
        backup.wait_for("taking over", stream="err", timeout=30)
        body = wait_metric(b_url, "tandem_replication_state", lambda v: v == 1, "the backup took over",
                           role="backup", state="took-over")
        expect(metric(body, "tandem_vm_state", state="running") == 1, "the backup's VM runs", body)
        wait_metric(b_url, "tandem_vm_instructions_total", lambda v: v > 0, "the backup's VM runs")
    finally:
        if primary:
            primary.end()
        backup.end()


def slow_and_garbage_clients(port):
    """Opens sockets that misbehave; returns them (the caller closes)."""
    held = []
    for i in range(20):  # half a request each, never finished
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metr")
        held.append(s)
    for data in (b"GARBAGE\r\n\r\n", os.urandom(3000), b"\x16\x03\x01" + os.urandom(500),
                 b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 20000):
        s = socket.create_connection(("127.0.0.1", port))
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before it read all of it
        held.append(s)
    for i in range(100):  # connections that only open
        held.append(socket.create_connection(("127.0.0.1", port)))
    s = socket.create_connection(("127.0.0.1", port))  # half-closed after a request
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    held.append(s)
    greedy = socket.create_connection(("127.0.0.1", port))  # asks much, reads nothing
    greedy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 250)
    held.append(greedy)
    return held


def test_status_bad_clients(tandem):
    """An unprotected VM with --status: garbage, slow, half-closed and too
    many clients neither stop the guest nor the server's answers."""
    need_curl()
    proc = Proc([tandem] + guest_args(["--status", "127.0.0.1:0"]))
    held = []
    try:
        url = status_url(proc)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        proc.wait_for("tandem-guest: ready")
        proc.type("i=0; while [ $i -lt 400 ]; do echo tick-$i; i=$((i+1)); sleep 0.02; done; echo ticks-$((6*7))")
        proc.wait_for("tick-5")
        held = slow_and_garbage_clients(port)
        _, _, before = curl(url + "metrics")
        n0 = metric(before, "tandem_vm_instructions_total")
        expect(metric(before, "tandem_vm_state", state="running") == 1, "the VM runs", before)
        expect(metric(before, "tandem_replication_state", role="none", state="unprotected") == 1,
               "unprotected", before)
        proc.wait_for("ticks-42", timeout=60)
        for i in range(5):
            code, _, body = curl(url + "metrics")
            expect(code == 200, f"GET /metrics while bad clients hang on: {code}")
        n1 = metric(body, "tandem_vm_instructions_total")
        expect(n1 > n0, f"instructions did not grow: {n0} then {n1}")
        _, _, text = curl(url + "status.json")
        vm = dict(json.loads(text)["sections"][0]["figures"])
        expect(vm["state"] == "running" and int(vm["instructions"]) > 0, f"vm figures: {vm}")
        for s in held:
            s.close()
        held = []
        expect(curl(url + "metrics")[0] == 200, "GET /metrics after the bad clients left")
        proc.type("poweroff -f")
        code = proc.p.wait(timeout=60)
        expect(code == 0, f"tandem exited with {code}", proc.err.decode(errors="replace"))
    finally:
        for s in held:
            s.close()
        proc.end()


def test_status_errors(tandem):
    """A --status that cannot be served is refused with what was wrong."""
    need_curl()
    p = subprocess.run([tandem] + guest_args(["--status", "nowhere"]), capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace")
    expect(p.returncode == 2 and "option --status" in err and "HOST:PORT" in err, f"exit {p.returncode}", err)
    p = subprocess.run([tandem, "backup", "--listen", "127.0.0.1:0", "--status", "127.0.0.1:99999"],
                       capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace")
    expect(p.returncode == 2 and "option --status" in err, f"backup: exit {p.returncode}", err)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = subprocess.run([tandem] + guest_args(["--status", f"127.0.0.1:{port}"]), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        err = p.stderr.decode(errors="replace")
        expect(p.returncode == 1 and f"listen on 127.0.0.1:{port}" in err and "in use" in err,
               f"a port in use: exit {p.returncode}", err)


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "status_test.py")
