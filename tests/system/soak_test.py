#!/usr/bin/env python3
"""Suspend/restore soak under --icount: many saves at random instants, in
every restore mode, of four workloads (console and hwrng, ICMP through the
user network, disk I/O, a guest idling in WFI), while busy processes load
the host; each restored run must print exactly what the uninterrupted run
printed and end after exactly as many instructions.

Usage: soak_test.py TANDEM [--cycles N] [--load N] [--seed N]
Prints one JSON summary line; exits 1 when any cycle differed, 77 without
a guest (TANDEM_GUEST_DIR). CTest runs a short version in the suite
(system.snapshot_soak_short) and the long one under the label `soak`
(ctest -L soak), which the default test command leaves out."""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import (BOOT_TIMEOUT, Failure, VmEnded, guest_args, instructions_run,  # noqa: E402
                         run_cmd_args, suspend_via_monitor, wait_for_socket)

MODES = ["working-set", "lazy", "eager"]

# name: (guest command, extra run flags, a line of the finished output)
WORKLOADS = {
    "console": ("i=0; while [ $i -lt 120 ]; do i=$((i+1)); "
                "echo line $i $(cat /proc/uptime) $(head -c 4 /dev/hwrng | od -An -tx1); done",
                [], "line 120"),
    "network": ("i=0; while [ $i -lt 30 ]; do i=$((i+1)); ping -c 3 -i 0.02 -s 1200 10.0.2.2 | head -n 4; "
                "head -c 200000 /dev/zero | md5sum; done", ["--net", "user"], "seq=2"),
    "disk": ("i=0; while [ $i -lt 60 ]; do i=$((i+1)); "
             "echo block-$i | dd of=/dev/vda bs=512 seek=$i conv=sync 2>/dev/null; "
             "dd if=/dev/vda bs=64k count=4 2>/dev/null | md5sum; done", ["--drive"], "-"),
    "idle": ("i=0; while [ $i -lt 60 ]; do i=$((i+1)); sleep 7; read up idle < /proc/uptime; "
             "echo tick $i $up; done", [], "tick 60"),
}


def fresh_disk(path):
    with open(path, "wb") as f:
        f.truncate(2 << 20)
    return path


def flags(extra, disk):
    out = ["--icount"]
    for f in extra:
        out += ["--drive", f"file={disk}"] if f == "--drive" else [f]
    return out


def reference(tandem, name, tmp):
    cmd, extra, last = WORKLOADS[name]
    disk = fresh_disk(os.path.join(tmp, f"{name}-ref.img"))
    t0 = time.time()
    r = subprocess.run([tandem] + run_cmd_args(cmd, flags(extra, disk) + ["--stats"]), capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    if r.returncode != 0 or last.encode() not in r.stdout:
        raise Failure(f"{name}: the reference run failed ({r.returncode}): {r.stderr.decode()[-1500:]}")
    return {"out": r.stdout, "instructions": instructions_run(r.stderr), "seconds": time.time() - t0,
            "disk": open(disk, "rb").read()}


def cycle(tandem, name, ref, mode, rng, tmp, k):
    """One save at a random instant and its restore; returns None or what differed."""
    cmd, extra, _ = WORKLOADS[name]
    disk = fresh_disk(os.path.join(tmp, f"c{k}.img"))
    sock, snap = os.path.join(tmp, f"c{k}.sock"), os.path.join(tmp, f"c{k}.snap")
    p = subprocess.Popen([tandem] + run_cmd_args(cmd, flags(extra, disk) + ["--monitor", f"unix:{sock}"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, p)
        time.sleep(rng.uniform(0.1, 0.8) * ref["seconds"])
        if p.poll() is not None:
            p.communicate()
            return None  # ended before the instant: nothing to compare
        try:
            report = suspend_via_monitor(tandem, sock, snap)
        except VmEnded:
            p.communicate(timeout=60)
            return None  # it ended while being saved: nothing to compare
        except Failure as e:
            printed, err = p.communicate(timeout=60)
            return (f"{name}: {e}; the VM exited {p.returncode}, its stderr ends:\n"
                    f"{err.decode(errors='replace')[-800:]}")
        printed, err = p.communicate(timeout=60)
        if p.returncode != 0:
            return f"the suspended run exited {p.returncode}: {err.decode()[-800:]}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    with open(snap, "rb") as f:
        waiting = b"waiting_for_interrupt" in f.read()
    r = subprocess.run([tandem, "restore", snap, "--mode", mode, "--stats"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    where = f"{name}, {mode} restore, saved {'in WFI' if waiting else 'running'} ({report})"
    if r.returncode != 0:
        return f"{where}: restore exited {r.returncode}: {r.stderr.decode()[-800:]}"
    if printed + r.stdout != ref["out"]:
        return f"{where}: the output differs from the uninterrupted run's"
    got = instructions_run(r.stderr)
    if got != ref["instructions"]:
        return f"{where}: ended after {got} instructions, the uninterrupted run after {ref['instructions']}"
    if "--drive" in extra and open(disk, "rb").read() != ref["disk"]:
        return f"{where}: the disk differs from the uninterrupted run's"
    for f in (snap, disk):
        os.unlink(f)
    for f in os.listdir(tmp):
        if f.startswith(f"c{k}.snap"):
            os.unlink(os.path.join(tmp, f))  # drive copies beside the snapshot
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tandem")
    ap.add_argument("--cycles", type=int, default=120)
    ap.add_argument("--load", type=int, default=2, help="busy processes loading the host meanwhile")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("TANDEM_TEST_SEED", "0")) or None)
    a = ap.parse_args()
    guest_args()  # skips (exit 77) without a guest
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.load)]
    failures, done, t0 = [], 0, time.time()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            refs = {name: reference(a.tandem, name, tmp) for name in WORKLOADS}
            names = list(WORKLOADS)
            for k in range(a.cycles):
                name, mode = names[k % len(names)], MODES[(k // len(names)) % len(MODES)]
                what = cycle(a.tandem, name, refs[name], mode, rng, tmp, k)
                done += 1
                if what:
                    failures.append(what)
                    print(f"cycle {k}: {what}", file=sys.stderr, flush=True)
    except (Failure, subprocess.TimeoutExpired) as e:
        failures.append(str(e))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    print(json.dumps({"cycles": done, "failures": len(failures), "load": a.load, "seed": seed,
                      "seconds": round(time.time() - t0, 1)}))
    if failures:
        print("FAILED:", failures[0])
        sys.exit(1)
    print("passed")


if __name__ == "__main__":
    main()
