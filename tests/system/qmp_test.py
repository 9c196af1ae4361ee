#!/usr/bin/env python3
"""System tests of tandem as a QEMU user drives it: QMP compared with
QEMU's own (qemu-system-riscv64), and the host-process options (pidfile,
daemonize, name, SIGTERM/SIGINT).

Usage: qmp_test.py TANDEM TEST_NAME. Needs $TANDEM_GUEST_DIR (guest/build.sh)
and, for qmp_shapes, qemu-system-riscv64; skips (77) without them."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import SKIP, BOOT_TIMEOUT, Failure, expect, guest_args, main, wait_for_socket  # noqa: E402


class Qmp:
    """A QMP client that keeps the events it reads."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(60)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.greeting = self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise Failure("the monitor closed the connection")
        return json.loads(line)

    def send(self, text):
        self.f.write(text.encode() + b"\n")
        self.f.flush()

    def ask(self, text, replies=1):
        """Sends `text`; returns (events before the replies, replies)."""
        self.send(text)
        events, got = [], []
        while len(got) < replies:
            m = self.read()
            (events if "event" in m else got).append(m)
        return events, got

    def close(self):
        self.s.close()


def shape(v):
    """Keys and types, not values."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    return type(v).__name__


def covers(ours, ref, where):
    """Every key of QEMU's shape is in tandem's with the same shape (tandem
    may say more)."""
    if isinstance(ref, dict):
        expect(isinstance(ours, dict), f"{where}: tandem sent {ours}, QEMU {ref}")
        for k, v in ref.items():
            expect(k in ours, f"{where}: tandem lacks '{k}' (QEMU: {ref}, tandem: {ours})")
            covers(ours[k], v, f"{where}.{k}")
    elif isinstance(ref, list):
        expect(isinstance(ours, list), f"{where}: tandem sent {ours}, QEMU {ref}")
        if ref and ours:
            covers(ours[0], ref[0], where + "[0]")
    else:
        expect(ours == ref, f"{where}: tandem's is {ours}, QEMU's {ref}")


# The session both run: (label, request text, replies expected). Errors
# are compared with their class; events by name and shape.
SESSION = [
    ("before negotiation", '{"execute": "query-status", "id": 1}', 1),
    ("qmp_capabilities", '{"execute": "qmp_capabilities"}', 1),
    ("negotiated twice", '{"execute": "qmp_capabilities"}', 1),
    ("query-status", '{"execute": "query-status"}', 1),
    ("query-version", '{"execute": "query-version", "id": "v"}', 1),
    ("query-name", '{"execute": "query-name"}', 1),
    ("query-commands", '{"execute": "query-commands"}', 1),
    ("unknown command", '{"execute": "frobnicate"}', 1),
    ("unknown argument", '{"execute": "query-status", "arguments": {"verbose": true}}', 1),
    ("unknown member", '{"execute": "stop", "argments": {}}', 1),
    ("not an object", '[1, 2]', 1),
    ("bad JSON", '{"execute": }', 1),
    ("split over lines", '{"execute":\n"query-name"}{"execute": "query-version"}', 2),
    ("stop", '{"execute": "stop"}', 1),
    ("query-status paused", '{"execute": "query-status"}', 1),
    ("cont", '{"execute": "cont"}', 1),
    ("system_powerdown", '{"execute": "system_powerdown"}', 1),
    ("system_reset", '{"execute": "system_reset"}', 1),
    ("query-status after reset", '{"execute": "query-status"}', 1),
    ("quit", '{"execute": "quit"}', 1),
]


def run_session(path):
    q = Qmp(path)
    out = {"greeting": q.greeting}
    for label, text, n in SESSION:
        out[label] = q.ask(text, n)
    q.close()
    return out


def reply_shape(r):
    if "error" in r:
        return {"error": {"class": r["error"]["class"], "desc": "str"}, **({"id": shape(r["id"])} if "id" in r else {})}
    return shape(r)


def test_qmp_shapes(tandem):
    qemu = shutil.which("qemu-system-riscv64")
    if not qemu:
        print("skipped: qemu-system-riscv64 is not installed")
        sys.exit(SKIP)
    guest_args()  # skips without a guest
    with tempfile.TemporaryDirectory() as tmp:
        qsock, tsock = os.path.join(tmp, "qemu.sock"), os.path.join(tmp, "tandem.sock")
        # QEMU's virt board with no guest (its default firmware runs) and
        # tandem with the default guest; the same QEMU spellings for both.
        procs = [subprocess.Popen([qemu, "-M", "virt", "-m", "256M", "-nographic", "-monitor", "none",
                                   "-serial", "none", "-name", "vm1", "-qmp", f"unix:{qsock},server,nowait"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
        try:
            procs.append(subprocess.Popen([tandem] + guest_args(["-name", "vm1", "-nographic", "-serial", "mon:stdio",
                                                                 "-qmp", f"unix:{tsock},server,nowait"]),
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            wait_for_socket(qsock, procs[0])
            wait_for_socket(tsock, procs[1])
            expect(sorted(os.listdir(tmp)) == ["qemu.sock", "tandem.sock"],
                   f"the chardev options went into a file name: {os.listdir(tmp)}")
            ref, ours = run_session(qsock), run_session(tsock)
            for p in procs:
                p.wait(timeout=60)
            expect(procs[1].returncode == 0, f"tandem exited {procs[1].returncode} after quit")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        # The reference did what the comparison assumes (not a vacuous match).
        expect([e["event"] for e in ref["stop"][0]] == ["STOP"] and "running" in ref["query-status"][1][0]["return"],
               f"QEMU's session was not as expected: {ref}")
        covers(shape(ours["greeting"]), shape(ref["greeting"]), "greeting")
        for label, _, _ in SESSION:
            (ref_events, ref_replies), (our_events, our_replies) = ref[label], ours[label]
            expect([e["event"] for e in our_events] == [e["event"] for e in ref_events],
                   f"{label}: tandem sent events {our_events}, QEMU {ref_events}")
            for e, r in zip(our_events, ref_events):
                covers(shape(e), shape(r), f"{label}: event {r['event']}")
            for i, (o, r) in enumerate(zip(our_replies, ref_replies)):
                covers(reply_shape(o), reply_shape(r), f"{label}: reply {i}")
        # The commands both have, by name.
        names = lambda s: {c["name"] for c in s["query-commands"][1][0]["return"]}
        common = {"qmp_capabilities", "query-status", "query-version", "query-commands", "query-name", "stop",
                  "cont", "system_reset", "system_powerdown", "quit"}
        expect(common <= names(ours) and common <= names(ref), f"query-commands lacks some of {common}")
        expect(ours["query-name"][1][0]["return"] == {"name": "vm1"}, f"query-name: {ours['query-name']}")
        expect(ours["query-status paused"][1][0]["return"]["running"] is False, "query-status after stop")
        expect(ours["system_reset"][0][0]["data"]["reason"] == "host-qmp-system-reset", "RESET's reason")
        expect(ours["quit"][0][0]["data"]["reason"] == "host-qmp-quit", "SHUTDOWN's reason")


def test_daemonize_pidfile(tandem):
    """--daemonize returns once the VM is up, with the pidfile written; the
    daemon carries --name as its process title and answers query-name;
    SIGTERM ends it, removing its pidfile and monitor socket."""
    with tempfile.TemporaryDirectory() as tmp:
        pidfile, sock = os.path.join(tmp, "vm.pid"), os.path.join(tmp, "m.sock")
        r = subprocess.run([tandem] + guest_args(["--daemonize", "--pidfile", pidfile, "--name", "tandem-vm7",
                                                  "--monitor", f"unix:{sock},server,nowait"]),
                           capture_output=True, timeout=BOOT_TIMEOUT)
        pid = None
        try:
            expect(r.returncode == 0, f"--daemonize exited {r.returncode}: {r.stderr.decode()}")
            expect(os.path.exists(pidfile) and os.path.exists(sock), "the pidfile or socket was not there on return")
            pid = int(open(pidfile).read())
            expect(os.path.exists(f"/proc/{pid}"), "the daemon is not running")
            expect(open(f"/proc/{pid}/comm").read().strip() == "tandem-vm7", "process title is not --name")
            expect(os.getsid(pid) == pid, "the daemon is not a session leader")
            q = Qmp(sock)
            q.ask('{"execute": "qmp_capabilities"}')
            _, [name] = q.ask('{"execute": "query-name"}')
            expect(name == {"return": {"name": "tandem-vm7"}}, f"query-name: {name}")
            os.kill(pid, signal.SIGTERM)
            ev = q.read()
            expect(ev.get("event") == "SHUTDOWN" and ev["data"] == {"guest": False, "reason": "host-signal"},
                   f"SIGTERM's event: {ev}")
            q.close()
            deadline = time.time() + 60
            while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
                expect(time.time() < deadline, "the daemon did not end on SIGTERM")
                time.sleep(0.05)
            expect(not os.path.exists(pidfile), "the pidfile was left behind")
            expect(not os.path.exists(sock), "the monitor socket was left behind")
        finally:
            if pid and os.path.exists(f"/proc/{pid}"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def test_signals_exit_cleanly(tandem):
    """SIGTERM and SIGINT end tandem with status 0, as QEMU, the monitor
    socket removed; a bad monitor option is refused by name."""
    with tempfile.TemporaryDirectory() as tmp:
        for sig in (signal.SIGTERM, signal.SIGINT):
            sock = os.path.join(tmp, "m.sock")
            p = subprocess.Popen([tandem] + guest_args(["--qmp", f"unix:{sock},server,wait=off"]),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                wait_for_socket(sock, p)
                p.send_signal(sig)
                out, err = p.communicate(timeout=60)
                expect(p.returncode == 0, f"{sig.name}: exit status {p.returncode}: {err.decode()}")
                expect(not os.path.exists(sock), f"{sig.name}: the monitor socket was left behind")
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        r = subprocess.run([tandem] + guest_args(["--monitor", f"unix:{tmp}/m.sock,server,wait=on"]),
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 2 and b"'wait=on' is not supported" in r.stderr, f"wait=on: {r.stderr!r}")
        expect(os.listdir(tmp) == [], f"files left: {os.listdir(tmp)}")


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "qmp_test.py")
