#!/usr/bin/env python3
"""System tests of SMP guests (-smp N, issue 17): the default guest boots
on 2 and 4 harts, sees them all, and runs smpstress (guest/src/smpstress.c:
threads (clone(CLONE_VM) children) hammering shared counters with AMOs, LR/SC loops and a spinlock,
and passing messages with fences) with exact totals, as it does on QEMU
with the same -smp; `smpstress --compute` (CPU-bound threads on private
data, bench/smp's throughput workload) ends with the same checksum on 2
threads, on 1 and on QEMU; two --icount runs on 2 harts are identical; a
2-hart run suspended and restored ends exactly like the uninterrupted one.

Usage: smp_test.py TANDEM TEST_NAME. Needs $TANDEM_GUEST_DIR with an SMP
kernel and smpstress (guest/build.sh); skips (77) without it. The QEMU
reference is left out, saying so, when qemu-system-riscv64 is missing."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_test import (BOOT_TIMEOUT, SKIP, Failure, expect, expect_same_output, guest_dir, instructions_run,  # noqa: E402
                         main, monitor_client, run_cmd_args, suspend_then_restore, wait_for_socket)

# nproc, then the stress; both harts' worth of threads by default.
STRESS = "echo nproc=$(nproc); smpstress --iters 20000 --messages 4000"


def smp_guest():
    """Skips unless the guest has smpstress (a guest built before SMP)."""
    d = guest_dir()
    r = subprocess.run(["sh", "-c", f"zcat {d}/initramfs.cpio.gz | grep -c -a smpstress"], capture_output=True)
    if r.stdout.strip() in (b"", b"0"):
        print(f"skipped: the guest in {d} predates SMP (no smpstress); rebuild it with guest/build.sh")
        sys.exit(SKIP)
    return d


# Two threads on the two harts, then one: every thread's rounds are the
# same, so all must end with one checksum.
COMPUTE = "smpstress --compute 1500 --threads 2; smpstress --compute 1500 --threads 1"


def compute_guest():
    """Skips unless the guest's smpstress has --compute."""
    d = smp_guest()
    r = subprocess.run(["sh", "-c", f"zcat {d}/initramfs.cpio.gz | grep -c -a 'smpstress: compute start'"],
                       capture_output=True)
    if r.stdout.strip() in (b"", b"0"):
        print(f"skipped: the guest in {d} predates smpstress --compute; rebuild it with guest/build.sh")
        sys.exit(SKIP)
    return d


def compute_checksum(out, who):
    """The one checksum both compute lines print."""
    got = re.findall(r"^smpstress: compute threads=(\d) iters=1500 checksum=([0-9a-f]{16}) guest_ms=\d+ ok\r?$",
                     out, re.M)
    expect([t for t, _ in got] == ["2", "1"], f"{who}: not two good 'smpstress: compute' lines (2 threads, 1)", out)
    expect(got[0][1] == got[1][1], f"{who}: 2 threads ended with checksum {got[0][1]}, 1 thread with {got[1][1]}",
           out)
    return got[0][1]


def stress_line(out, harts, who):
    m = re.search(r"^smpstress: [^\r\n]*", out, re.M)
    expect(m and m.group(0).endswith(" ok"), f"{who}: smpstress did not report ok", out)
    expect(f"nproc={harts}" in out, f"{who}: the guest does not see {harts} CPUs", out)
    return m.group(0)


def test_smp_boot(tandem):
    """-smp 2 and -smp 4 (and --smp): every hart online, smpstress exact,
    and the same line as QEMU's virt board with as many harts prints; with
    a host thread per hart (the default) and taking turns on one."""
    d = smp_guest()
    qemu = shutil.which("qemu-system-riscv64")
    for harts, flag, accel in ((2, "-smp", []), (4, "--smp", []), (2, "-smp", ["-accel", "tcg,thread=single"])):
        r = subprocess.run([tandem] + run_cmd_args(STRESS, [flag, str(harts)] + accel), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        out = r.stdout.decode(errors="replace")
        expect(r.returncode == 0, f"{flag} {harts} {accel}: exit {r.returncode}: {r.stderr.decode()}", out)
        ours = stress_line(out, harts, f"tandem {flag} {harts} {accel}")
        if accel:
            continue  # QEMU's line for -smp 2 was compared above
        if not qemu:
            print("qemu-system-riscv64 is not installed: no reference run")
            continue
        q = subprocess.run([qemu, "-M", "virt", "-smp", str(harts), "-m", "256M", "-nographic", "-bios", "default",
                            "-kernel", os.path.join(d, "Image"), "-initrd", os.path.join(d, "initramfs.cpio.gz"),
                            "-append", f'console=ttyS0 tandem_run="{STRESS}"'],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        qout = q.stdout.decode(errors="replace")
        expect(q.returncode == 0, f"QEMU -smp {harts}: exit {q.returncode}", qout)
        expect(stress_line(qout, harts, f"QEMU -smp {harts}") == ours,
               f"-smp {harts}: tandem printed '{ours}', QEMU '{stress_line(qout, harts, 'QEMU')}'")


def test_smp_compute(tandem):
    """smpstress --compute on -smp 2, both engines: each thread's checksum
    is exact (the threads agree, with a lone thread and with QEMU). A plain
    run holds the harts for no slice hook: they run without waiting for
    each other (--stats: harts_held)."""
    d = compute_guest()
    sums = {}
    for e in ("interp", "jit"):
        r = subprocess.run([tandem] + run_cmd_args(COMPUTE, ["-smp", "2", "--engine", e, "--stats"]),
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        expect(r.returncode == 0, f"--engine {e}: exit {r.returncode}: {err}", out)
        sums[f"tandem --engine {e}"] = compute_checksum(out, f"tandem --engine {e}")
        m = re.search(r"tandem-stats: (\{.*\})", err)
        expect(m is not None, f"--engine {e}: no tandem-stats line", err[-1500:])
        held = json.loads(m.group(1))["harts_held"]
        expect(held["hooks"] == 0, f"--engine {e}: a plain run held the harts for slice hooks: {held}")
    qemu = shutil.which("qemu-system-riscv64")
    if qemu:
        q = subprocess.run([qemu, "-M", "virt", "-smp", "2", "-m", "256M", "-nographic", "-bios", "default",
                            "-kernel", os.path.join(d, "Image"), "-initrd", os.path.join(d, "initramfs.cpio.gz"),
                            "-append", f'console=ttyS0 tandem_run="{COMPUTE}"'],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        qout = q.stdout.decode(errors="replace")
        expect(q.returncode == 0, f"QEMU -smp 2: exit {q.returncode}", qout)
        sums["QEMU"] = compute_checksum(qout, "QEMU")
    else:
        print("qemu-system-riscv64 is not installed: no reference run")
    expect(len(set(sums.values())) == 1, f"smpstress --compute 1500 checksums differ: {sums}")


def test_smp_errors(tandem):
    for bad in ("0", "9", "two", ""):
        r = subprocess.run([tandem, "run", "-smp", bad], capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
        err = r.stderr.decode(errors="replace")
        expect(r.returncode != 0 and "-smp" in err and "Segmentation" not in err,
               f"-smp '{bad}' was not refused with an error naming the option: exit {r.returncode}", err)


def test_smp_icount_deterministic(tandem):
    """Two --icount runs on 2 harts print the same and retire the same
    number of instructions (the round-robin order is fixed), and so does a
    third with the translator (each hart translates its own blocks)."""
    smp_guest()
    cmd = STRESS + "; cat /proc/uptime; head -c 8 /dev/hwrng | od -An -tx1"
    engines = ["interp", "interp", "jit"]
    runs = [subprocess.run([tandem] + run_cmd_args(cmd, ["-smp", "2", "--icount", "--stats", "--engine", e]),
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT) for e in engines]
    for e, r in zip(engines, runs):
        out = r.stdout.decode(errors="replace")
        expect(r.returncode == 0, f"--engine {e}: exit {r.returncode}: {r.stderr.decode()}", out)
        stress_line(out, 2, f"--icount -smp 2 --engine {e}")
    n = [instructions_run(r.stderr) for r in runs]
    for k in (1, 2):
        expect_same_output(runs[0].stdout, runs[k].stdout, "two --icount -smp 2 runs printed different output",
                           f"run 1 ({engines[0]})", f"run {k + 1} ({engines[k]})")
        expect(n[0] == n[k], f"--icount -smp 2 runs retired {n[0]} ({engines[0]}) and {n[k]} ({engines[k]}) "
                             "instructions")


def profile_rows(text, section):
    """{(mode, name): [all %, hart0 %, ...]} of a --guest-profile section."""
    rows, on = {}, False
    for line in text.splitlines():
        if line.startswith("#    all"):
            continue
        if line.startswith("# "):
            on = line.startswith("# " + section)
            continue
        f = line.split()
        if on and len(f) >= 4 and f[0].endswith("%"):
            shares = [float(x.rstrip("%")) for x in f if x.endswith("%")]
            rows[(f[len(shares)], " ".join(f[len(shares) + 1:]))] = shares
    return rows


def test_smp_guest_profile(tandem):
    """--guest-profile on 2 harts under --icount accounts for the
    instructions the run retired (--stats) but each hart's last partial
    quantum, names the kernel's functions
    from the guest's System.map (the boot's initramfs inflate is among
    them; almost no kernel PC is unknown), and shows both harts running
    smpstress --compute in user mode. The monitor's guest-profile starts
    and writes one while the guest runs; bad requests get errors."""
    d = compute_guest()
    if not os.path.exists(os.path.join(d, "System.map")):
        print(f"skipped: the guest in {d} predates System.map; rebuild it with guest/build.sh")
        sys.exit(SKIP)
    with tempfile.TemporaryDirectory() as tmp:
        prof = os.path.join(tmp, "profile.txt")
        r = subprocess.run([tandem] + run_cmd_args("smpstress --compute 3000 --threads 2",
                                                   ["-smp", "2", "--icount", "--stats", "--guest-profile", prof]),
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        err = r.stderr.decode(errors="replace")
        expect(r.returncode == 0 and "guest profile written to" in err, f"exit {r.returncode}", err[-1500:])
        text = open(prof).read()
        m = re.search(r"^# tandem guest profile: 2 harts, ([\d,]+) instructions", text, re.M)
        expect(m is not None, "no header in the profile", text[:500])
        # A sample per quantum (65,536 / 2 instructions) each hart completed.
        sampled, ran = int(m.group(1).replace(",", "")), instructions_run(r.stderr)
        expect(ran - 2 * 32768 < sampled <= ran,
               f"the profile counts {sampled} instructions, --stats {ran}", text[:500])
        expect("System.map" in text.splitlines()[1], "the kernel's symbols were not used", text[:500])
        fns = profile_rows(text, "By function")
        user = fns.get(("U", "[user]"))
        expect(user is not None and user[1] > 20 and user[2] > 20,
               f"smpstress --compute is not user time on both harts: {user}", text[:3000])
        unknown = fns.get(("S", "[unknown]"), [0.0])[0]
        expect(unknown < 1, f"{unknown}% of the instructions are at kernel PCs System.map does not name", text[:3000])
        inflate = sum(v[0] for (mode, name), v in fns.items() if mode == "S" and "inflate" in name)
        expect(inflate > 1, f"no kernel inflate function in the profile ({inflate}%)", text[:3000])

        sock = os.path.join(tmp, "m.sock")
        prof2 = os.path.join(tmp, "monitor.txt")
        cmd = "smpstress --compute 20000 --threads 2"
        p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["-smp", "2", "--monitor", f"unix:{sock}"]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            wait_for_socket(sock, p)
            c, ask = monitor_client(sock)
            for bad, why in (({}, "needs"), ({"file": prof2}, "no profile is being taken"), ({"start": 1}, "start")):
                got = ask({"execute": "guest-profile", "arguments": bad})
                expect("error" in got and why in got["error"]["desc"], f"guest-profile {bad}: {got}")
            expect("return" in ask({"execute": "guest-profile", "arguments": {"start": True}}), "start failed")
            time.sleep(2)
            got = ask({"execute": "guest-profile", "arguments": {"file": prof2}})
            expect(got.get("return", {}).get("file") == prof2 and got["return"]["instructions"] > 0,
                   f"guest-profile file: {got}")
            c.close()
        finally:
            p.kill()
            p.wait()
        expect(re.search(r"^# hart 1: [1-9][\d,]* instructions", open(prof2).read(), re.M) is not None,
               "the monitor's profile has no instructions of hart 1", open(prof2).read()[:800])
        for bad, why in ((["--guest-symbols", prof], "--guest-profile"),
                         (["--guest-profile", os.path.join(tmp, "absent", "p.txt")], "cannot write")):
            r = subprocess.run([tandem] + run_cmd_args("true", bad), capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=60)
            e = r.stderr.decode(errors="replace")
            expect(r.returncode != 0 and why in e, f"{bad}: exit {r.returncode}, no error naming '{why}'", e[-800:])


def test_smp_snapshot_roundtrip(tandem):
    """A 2-hart --icount run suspended mid-stress and restored in each mode
    prints what the uninterrupted run prints and ends after as many
    instructions."""
    smp_guest()
    cmd = STRESS + "; i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo line $i $(cat /proc/uptime); done"
    extra = ["-smp", "2", "--icount"]
    t0 = time.time()
    ref = subprocess.run([tandem] + run_cmd_args(cmd, extra + ["--stats"]), capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    duration = time.time() - t0
    ref_out = ref.stdout.decode(errors="replace")
    expect(ref.returncode == 0 and "line 60" in ref_out, f"reference run failed: {ref.stderr.decode()}", ref_out)
    with tempfile.TemporaryDirectory() as tmp:
        for mode, fraction in (("working-set", 0.6), ("lazy", 0.4), ("eager", 0.25)):
            # A run faster than the reference may end before the instant:
            # try earlier instants then.
            for k in range(3):
                sock, snap = os.path.join(tmp, f"{mode}{k}.sock"), os.path.join(tmp, f"{mode}{k}.snap")
                p = subprocess.Popen([tandem] + run_cmd_args(cmd, extra + ["--monitor", f"unix:{sock}"]),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
                wait_for_socket(sock, p)
                time.sleep(duration * fraction / (k + 1))
                if p.poll() is not None:
                    continue
                _, joined = suspend_then_restore(tandem, p, sock, snap, mode, ref=ref)
                expect_same_output(ref_out, joined, f"suspend at {fraction / (k + 1):.2f} of the run then {mode} "
                                   "restore changed the output", got_name=f"suspended+restored ({mode})")
                info = subprocess.run([tandem, "snapshot", "info", "--json", snap], capture_output=True)
                expect(info.returncode == 0 and json.loads(info.stdout)["machine"]["harts"] == 2,
                       f"snapshot info does not show 2 harts: {info.stdout.decode()} {info.stderr.decode()}")
                break
            else:
                raise Failure(f"{mode}: every run ended before its suspend instant: nothing was tested")


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "smp_test.py")
