"""Shared by bench/ft/run and its QEMU COLO case (colo.py): child processes
killed by pid at the end, a QMP client (tandem's monitor and QEMU's speak
the same protocol), HTTP probes and the kvhttpd load."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time


def append(memtouch_rate, kvhttpd_threads=1):
    run = "kvhttpd -p 80" + (f" -t {kvhttpd_threads}" if kvhttpd_threads > 1 else "")
    if memtouch_rate:  # beside the server, dirtying memory the protection must carry
        run = f"memtouch --mb 32 --rate {memtouch_rate} --seconds 0 & " + run
    return f'console=ttyS0 tandem_run="{run}"'


children = []  # every process started, killed by pid at the end


def log(msg):
    print(f"bench/ft: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    def __init__(self, name, args, logpath):
        self.name, self.logpath = name, logpath
        self.log = open(logpath, "wb")
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        children.append(self)

    def text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: no '{pattern}' within {timeout} s:\n{self.text()[-2000:]}")

    def end(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def kill_all():
    for c in children:
        c.end()


def monitor(sock, command, args=None, timeout=30):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock)
        f = s.makefile("rwb")
        f.readline()
        f.write(b'{"execute": "qmp_capabilities"}\n')
        f.flush()
        f.readline()
        f.write(json.dumps({"execute": command, "arguments": args or {}}).encode() + b"\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(f"{command}: {r['error']}")


def http_get(port, path, timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_http(port, child, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_get(port, "/")[0] == 200:
                return
        except OSError:
            pass
        if child.p.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"kvhttpd did not answer:\n{child.text()[-2000:]}")


class Load:
    """N keep-alive clients; acked[i] is the last value client i saw acknowledged."""

    def __init__(self, port, clients):
        self.port, self.stop = port, threading.Event()
        self.lat, self.acked, self.errors = [], [0] * clients, []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]
        self.connected = [threading.Event() for _ in range(clients)]

    def client(self, i):
        c, n = None, 0
        while not self.stop.is_set():
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    c.connect()
                    self.connected[i].set()
                n += 1
                for method in ("PUT", "GET"):
                    t0 = time.monotonic()
                    body = str(n).encode() if method == "PUT" else None
                    headers = {"Content-Length": str(len(body))} if body else {}
                    c.request(method, f"/kv/c{i}", body=body, headers=headers)
                    r = c.getresponse()
                    got = r.read()
                    dt = time.monotonic() - t0
                    ok = r.status == 204 if method == "PUT" else (r.status == 200 and got == str(n).encode())
                    with self.lock:
                        self.lat.append(dt)
                        if ok:
                            self.acked[i] = n
                        else:
                            self.errors.append(f"{method} c{i}: {r.status} {got[:40]!r}")
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors.append(f"c{i}: {type(e).__name__} after {n} requests")
                c = None
                time.sleep(0.05)

    def run(self, seconds, procs=None):
        # One connect at a time: slirp's host forward listens with a
        # backlog of 1 and resets connections that arrive together.
        for t, connected in zip(self.threads, self.connected):
            t.start()
            connected.wait(2)
        time.sleep(1)  # warm-up, not measured
        with self.lock:
            self.lat.clear()
        procs = procs or {}
        cpu0 = {name: cpu_seconds(pid) for name, pid in procs.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        with self.lock:
            lat, dt = sorted(self.lat), time.monotonic() - t0
        self.cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in procs.items()}
        return lat, dt

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def cpu_seconds(pid):
    """User plus system CPU time a process has used (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(v, p):
    return round(v[min(len(v) - 1, int(p / 100 * len(v)))] * 1000, 3) if v else None


def measure(port, clients, seconds, at_end=lambda: None, procs=None):
    """Load from clients keep-alive clients for seconds; at_end() runs as the
    measured interval ends, before the clients stop. procs ({name: pid}):
    the VM processes whose CPU time per request is reported (on a host
    whose cores the VMs fill, throughput follows from it). Returns
    (figures, interval s, at_end's value)."""
    load = Load(port, clients)
    lat, dt = load.run(seconds, procs)
    end = at_end()
    load.end()
    res = {"requests_per_s": round(len(lat) / dt, 1), "latency_p50_ms": pct(lat, 50),
           "latency_p99_ms": pct(lat, 99), "errors": len(load.errors), "error_samples": load.errors[:5]}
    if procs and lat:
        res["cpu_us_per_request"] = {name: round(c * 1e6 / len(lat)) for name, c in load.cpu.items()}
        res["cpu_cores"] = {name: round(c / dt, 2) for name, c in load.cpu.items()}
    return res, dt, end


def wait_correct_answer(port, want, t0, peer):
    """Probes GET /kv/c0 on new connections every 2 ms until it answers at
    least want (the value last acknowledged before the kill at t0); ms since t0."""
    while True:
        try:
            st, body = http_get(port, "/kv/c0", timeout=0.2)
            if st == 200 and int(body) >= want:
                return (time.monotonic() - t0) * 1000
        except (OSError, ValueError, http.client.HTTPException):
            pass
        if time.monotonic() - t0 > 30:
            raise RuntimeError(f"the {peer.name} did not answer within 30 s of the kill:\n" + peer.text()[-2000:])
        time.sleep(0.002)


def lost_keys(port, acked):
    """How many clients' last acknowledged value the survivor on port lacks."""
    lost = 0
    for i, v in enumerate(acked):
        st, body = http_get(port, f"/kv/c{i}", timeout=5)
        if v and (st != 200 or int(body) < v):
            lost += 1
    return lost
