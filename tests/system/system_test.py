#!/usr/bin/env python3
"""System tests: boot the default guest (Debian's OpenSBI + Linux 6.1 +
busybox) on tandem and check what a user would check.

Usage: system_test.py TANDEM TEST_NAME. The guest comes from
$TANDEM_GUEST_DIR (guest/build.sh prints it); without it the test is
skipped (exit 77)."""

import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
BOOT_TIMEOUT = 120  # seconds; a boot takes about 1 s, sanitizer builds more


class Failure(Exception):
    pass


def guest_dir():
    d = os.environ.get("TANDEM_GUEST_DIR", "")
    if not d or not os.path.isfile(os.path.join(d, "Image")):
        print("skipped: TANDEM_GUEST_DIR is not set to a built guest (run guest/build.sh)")
        sys.exit(SKIP)
    return d


def guest_args(extra=()):
    """`tandem run` arguments for the default guest; $TANDEM_TEST_SMP=N
    gives it N harts (CTest runs some tests again so, as *_smp2)."""
    d = guest_dir()
    smp = os.environ.get("TANDEM_TEST_SMP", "")
    return ["run", "-m", "256M", "--kernel", os.path.join(d, "Image"),
            "--initrd", os.path.join(d, "initramfs.cpio.gz"),
            "--append", "console=ttyS0"] + (["-smp", smp] if smp else []) + list(extra)


def run_script(tandem, commands, extra=(), timeout=BOOT_TIMEOUT):
    """Boots with `commands` piped on stdin (ending with poweroff) and
    returns (exit status, stdout, stderr)."""
    script = "".join(c + "\n" for c in commands) + "poweroff -f\n"
    p = subprocess.run([tandem] + guest_args(extra), input=script.encode(),
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def expect(cond, what, output=""):
    if not cond:
        raise Failure(what + ("\n--- output ---\n" + output[-3000:] if output else ""))


def expect_same_output(want, got, what, want_name="uninterrupted", got_name="interrupted"):
    """Fails with a unified diff (first 4000 characters) when two console
    outputs (str or bytes) differ."""
    if got == want:
        return
    import difflib
    text = lambda o: o.decode(errors="replace") if isinstance(o, bytes) else o
    diff = "\n".join(difflib.unified_diff(text(want).splitlines(), text(got).splitlines(),
                                          want_name, got_name, lineterm=""))
    raise Failure(what + ":\n" + diff[:4000])


def wait_for_prompt(p, timeout=BOOT_TIMEOUT):
    """Reads the console of `p` (its stdout, a pipe) until the guest's shell
    prompts, so that what the test types next goes to that shell; returns
    the console text read. tandem holds input until the guest's UART driver
    is up, so typing earlier works too, but a test that waits says so when
    the guest never comes up, with what its console showed."""
    out = b""
    fd = p.stdout.fileno()
    deadline = time.time() + timeout
    while b"\n/ # " not in out.partition(b"tandem-guest: ready")[2]:
        left = deadline - time.time()
        expect(left > 0 and p.poll() is None, f"the guest never reached its shell prompt (exit {p.poll()})",
               out.decode(errors="replace"))
        if select.select([fd], [], [], min(left, 0.5))[0]:
            chunk = os.read(fd, 65536)
            expect(chunk, "tandem closed its console before the prompt", out.decode(errors="replace"))
            out += chunk
    return out


def free_port():
    """A loopback TCP port nothing is bound to, below the kernel's ephemeral
    range (ip_local_port_range): an outgoing connection, this test's or one
    running beside it, can take a port bind(0) returned before the test
    binds it, never one below that range."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    rng = random.SystemRandom()
    if 11000 < low <= 65535:
        for _ in range(200):
            port = rng.randrange(10000, low)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:  # the kernel's choice, as a last resort
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_boot_shell(tandem):
    code, out, err = run_script(tandem, ["echo sum=$((6*7))", "uname -m",
                                          "cat /proc/cpuinfo | grep -c processor"])
    expect(code == 0, f"exit status {code}, stderr: {err}", out)
    expect("tandem-guest: init" in out, "init did not start", out)
    expect("sum=42" in out, "shell arithmetic output missing", out)
    expect("riscv64" in out, "uname -m is not riscv64", out)
    expect("Power down" in out, "the kernel did not power down", out)


class Console:
    """A guest whose console the test types into as it goes."""

    def __init__(self, tandem):
        self.p = subprocess.Popen([tandem] + guest_args(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b""

    def type(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def wait_for(self, what, count=1):
        deadline = time.time() + BOOT_TIMEOUT
        while self.out.count(what) < count:
            expect(time.time() < deadline and self.p.poll() is None,
                   f"waited for {what!r} (x{count})", self.out.decode(errors="replace"))
            chunk = self.p.stdout.read()
            if chunk:
                self.out += chunk
            else:
                time.sleep(0.05)

    def finish(self):
        """Waits for tandem to exit; returns (status, console text, stderr)."""
        os.set_blocking(self.p.stdout.fileno(), True)
        rest, err = self.p.communicate(timeout=60)
        self.out += rest
        return self.p.returncode, self.out.decode(errors="replace"), err.decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def check_reboot(tandem, command):
    """`command` power-cycles the machine: the firmware and kernel start
    again and the new shell takes commands. (Input typed ahead before the
    reboot is lost with the guest's tty buffer, as on real hardware, so the
    second command is sent once the new boot is ready.)"""
    with Console(tandem) as c:
        c.wait_for(b"\n/ # ")
        c.type(b"echo first-boot\n" + command.encode() + b"\n")
        c.wait_for(b"tandem-guest: ready", 2)
        c.type(b"echo second-boot-$((3*3))\npoweroff -f\n")
        code, text, err = c.finish()
        expect(code == 0, f"exit status {code}: {err}", text)
        expect(text.count("OpenSBI v") == 2, "the firmware did not start twice", text)
        expect("second-boot-9" in text, "the command after the reboot did not run", text)


def test_reboot(tandem):
    check_reboot(tandem, "reboot -f")


def test_reboot_command(tandem):
    """Plain `reboot` signals PID 1 (SIGTERM), the console shell, which
    traps it (guest/init.shrc)."""
    check_reboot(tandem, "reboot")


def test_poweroff_command(tandem):
    """Plain `poweroff` signals PID 1 (SIGUSR2): the guest powers off and
    tandem exits 0; what was typed after it does not run. Then Ctrl-D on
    the shell (EOF) powers off too."""
    with Console(tandem) as c:
        c.wait_for(b"\n/ # ")
        c.type(b"echo pid1=$$\npoweroff\necho after-$((6*7))\n")
        code, text, err = c.finish()
        expect(code == 0, f"poweroff: exit status {code}: {err}", text)
        expect("pid1=1" in text, "the console shell is not PID 1", text)
        expect("reboot: Power down" in text, "the kernel did not power down", text)
        expect("after-42" not in text, "the shell went on after poweroff", text)
    with Console(tandem) as c:
        c.wait_for(b"\n/ # ")
        c.type(b"echo marker-$((2*4))\n")
        c.wait_for(b"marker-8\r\n/ # ")  # the shell waits at its prompt
        c.type(b"\x04")
        code, text, err = c.finish()
        expect(code == 0, f"Ctrl-D: exit status {code}: {err}", text)
        expect("reboot: Power down" in text, "Ctrl-D did not power down", text)


def test_http_hostfwd(tandem):
    port = free_port()
    d = guest_args(["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80"])
    p = subprocess.Popen([tandem] + d, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        wait_for_prompt(p)
        p.stdin.write(b"kvhttpd -p 80 &\n")
        p.stdin.flush()
        body = None
        deadline = time.time() + BOOT_TIMEOUT
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        expect(body == "tandem guest ok\n", f"GET / answered {body!r}")
        # A value stored with PUT comes back with GET, over new connections.
        req = urllib.request.Request(f"http://127.0.0.1:{port}/kv/color", data=b"teal", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            expect(r.status in (200, 201, 204), f"PUT answered {r.status}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/kv/color", timeout=10) as r:
            expect(r.read() == b"teal", "GET after PUT returned another value")
        # curl, a client nobody here wrote, if installed.
        if shutil.which("curl"):
            c = subprocess.run(["curl", "-sf", "-m", "10", f"http://127.0.0.1:{port}/"],
                               capture_output=True)
            expect(c.stdout == b"tandem guest ok\n", f"curl got {c.stdout!r}")
        p.stdin.write(b"poweroff -f\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 0, f"exit status {p.returncode}: {err.decode()}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_http_burst(tandem):
    """32 clients connect to a forwarded port at the same instant, each
    storing a value at once and reading it back on the same connection,
    three times over: every request is answered.
    libslirp's backlog of 1 on the host socket made most of such a burst
    wait for retransmissions, and some never got an answer or were reset
    (docs/performance.md, "Connection bursts on a forwarded port")."""
    import http.client
    import threading
    clients, bursts = 32, 3
    port = free_port()
    p = subprocess.Popen([tandem] + guest_args(["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80"]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_for_prompt(p)
        p.stdin.write(b"kvhttpd -p 80 &\n")
        p.stdin.flush()
        threading.Thread(target=p.stdout.read, daemon=True).start()  # keep the console flowing
        up = None
        deadline = time.time() + BOOT_TIMEOUT
        while up is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    up = r.read()
            except OSError:
                time.sleep(0.2)
        expect(up == b"tandem guest ok\n", f"kvhttpd did not answer: {up!r}")

        def client(key, start, answers):
            # A PUT first: http.client sends its body in a second segment,
            # the shape that was reset. Then a GET of the key on the same
            # connection. The bound only keeps a lost connection from
            # hanging the test; an answered burst takes well under a second.
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            got = []
            try:
                start.wait()
                c.request("PUT", f"/kv/{key}", body=key.encode())
                r = c.getresponse()
                got.append((r.status, r.read()))
                c.request("GET", f"/kv/{key}")
                r = c.getresponse()
                got.append((r.status, r.read()))
            except (OSError, http.client.HTTPException) as e:
                got.append(f"{type(e).__name__} on request {len(got)}")
            finally:
                c.close()
            answers[key] = got

        for b in range(bursts):
            start = threading.Barrier(clients)
            answers = {}
            keys = [f"b{b}c{i}" for i in range(clients)]
            threads = [threading.Thread(target=client, args=(k, start, answers)) for k in keys]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wrong = [f"{k}: {answers.get(k)!r}" for k in keys
                     if answers.get(k) != [(204, b""), (200, k.encode())]]
            expect(not wrong, f"burst {b}: {len(wrong)} of {clients} clients not answered:\n  " + "\n  ".join(wrong))
        p.stdin.write(b"poweroff -f\n")
        p.stdin.flush()
        expect(p.wait(timeout=60) == 0, f"exit status {p.returncode}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_disk_roundtrip(tandem):
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "disk.img")
        with open(img, "wb") as f:
            f.truncate(4 << 20)
            f.seek(8192)
            f.write(b"written-by-host\n")
        code, out, err = run_script(tandem, [
            "dd if=/dev/vda bs=512 skip=16 count=1 2>/dev/null | head -c 16",
            "echo tandem-disk-payload | dd of=/dev/vda bs=512 seek=1 conv=sync 2>/dev/null",
            "sync"], extra=["--drive", f"file={img}"])
        expect(code == 0, f"exit status {code}: {err}", out)
        expect("written-by-host" in out, "the guest did not read the host's data", out)
        with open(img, "rb") as f:
            f.seek(512)
            data = f.read(20)
        expect(data == b"tandem-disk-payload\n", f"disk holds {data!r} after poweroff", out)
        # Read-only: the guest's write fails and the file is untouched.
        code, out, err = run_script(tandem, [
            "echo overwrite | dd of=/dev/vda bs=512 seek=1 conv=sync; echo dd-status=$?"],
            extra=["--drive", f"file={img},readonly=on"])
        with open(img, "rb") as f:
            f.seek(512)
            expect(f.read(20) == b"tandem-disk-payload\n", "a read-only disk was written", out)
        expect("dd-status=1" in out, "dd on a read-only disk did not fail", out)


def test_disk_large_batches(tandem):
    """Direct I/O in 32 MiB blocks: Linux posts batches larger than a
    virtio queue's per-slice budget (8 MiB), so the device finishes them
    over several slices; every byte must arrive and the guest must not
    stall waiting for a notification it was never asked for."""
    import hashlib
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "disk.img")
        data = os.urandom(32 << 20)
        with open(img, "wb") as f:
            f.write(data + bytes(32 << 20))
        code, out, err = run_script(tandem, [
            "dd if=/dev/vda bs=32M count=1 iflag=direct 2>/dev/null | md5sum",
            "dd if=/dev/vda of=/dev/vda bs=32M count=1 seek=1 iflag=direct oflag=direct 2>/dev/null; echo copy=$?"],
            extra=["--drive", f"file={img}"])
        expect(code == 0, f"exit status {code}: {err}", out)
        expect(hashlib.md5(data).hexdigest() in out, "the guest read other data", out)
        expect("copy=0" in out, "the guest's copy failed", out)
        with open(img, "rb") as f:
            f.seek(32 << 20)
            expect(f.read() == data, "the second half does not hold the copy", out)


def test_icount_deterministic(tandem):
    cmds = ["cat /proc/uptime", "head -c 16 /dev/hwrng | od -x | head -1",
            "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo loop=$i", "date"]
    runs = [run_script(tandem, cmds, extra=["--icount"])
            for _ in range(2)]
    for code, out, err in runs:
        expect(code == 0, f"exit status {code}: {err}", out)
        expect("loop=2000" in out, "the loop did not finish", out)
    expect_same_output(runs[0][1], runs[1][1], "two --icount runs printed different console output",
                       "first run", "second run")


def test_icount_engines_identical(tandem):
    """The translator keeps instruction counting exact: the same --icount
    boot and commands print the same and retire the same instructions
    on both engines, and the jit run did translate blocks."""
    cmds = ["i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo loop=$i",
            "gzip -c /bin/busybox | md5sum", "cat /proc/interrupts | head -3", "date"]
    runs = {e: run_script(tandem, cmds, extra=["--icount", "--stats", "--engine", e]) for e in ("interp", "jit")}
    for e, (code, out, err) in runs.items():
        expect(code == 0, f"--engine {e}: exit status {code}: {err}", out)
        expect("loop=3000" in out, f"--engine {e}: the loop did not finish", out)
    expect_same_output(runs["interp"][1], runs["jit"][1], "the engines printed different console output",
                       "--engine interp", "--engine jit")
    n = {e: instructions_run(err.encode()) for e, (_, _, err) in runs.items()}
    expect(n["interp"] == n["jit"], f"instructions retired: interp {n['interp']}, jit {n['jit']}")
    stats = json.loads(re.search(r"tandem-stats: (\{.*\})", runs["jit"][2]).group(1))
    expect(stats["blocks_translated"] > 1000, f"--engine jit translated only {stats['blocks_translated']} blocks")


def test_errors(tandem):
    d = guest_dir()
    tmp = tempfile.TemporaryDirectory()
    big = os.path.join(tmp.name, "big.initrd")
    with open(big, "wb") as f:
        f.truncate(40 << 20)
    bigcpio = os.path.join(tmp.name, "big.cpio")
    with open(bigcpio, "wb") as f:
        f.write(b"070701")
        f.truncate(40 << 20)
    cases = [
        (["run", "--kernel", "/nonexistent/Image"], "/nonexistent/Image"),
        (["run", "--kernel", os.path.join(d, "Image"), "--initrd", "/nonexistent/initrd"],
         "/nonexistent/initrd"),
        (["run", "-m", "32M", "--kernel", os.path.join(d, "Image"), "--initrd", big],
         "is not a cpio archive"),
        (["run", "--kernel", os.path.join(d, "Image"), "--initrd", "/bin/bash"],
         "'/bin/bash' is not a cpio archive"),
        (["run", "--kernel", "/etc/passwd"], "neither a RISC-V Linux Image nor an ELF"),
        (["run", "--kernel", "/bin/bash"], "not a RISC-V ELF file"),
        (["run", "-m", "32M", "--kernel", os.path.join(d, "Image"), "--initrd", bigcpio],
         "try a larger -m"),
        (["run", "--frobnicate"], "unknown option '--frobnicate'"),
        (["run", "--net", "user,hostfwd=tcp:127.0.0.1:abc-:80"], "bad host port 'abc'"),
        (["frob"], "unknown command 'frob'"),
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cases.append((guest_args(["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80"]),
                      "address already in use"))
        for args, needle in cases:
            p = subprocess.run([tandem] + args, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            err = p.stderr.decode()
            expect(p.returncode != 0, f"{args} exited 0")
            expect(needle in err, f"{args}: stderr {err!r} does not mention {needle!r}")
            expect("Segmentation" not in err and p.returncode > 0, f"{args} crashed: {p.returncode}")


def run_cmd_args(cmd, extra=()):
    """Guest args that run `cmd` via init's tandem_run hook, then power off.
    The kernel command line cannot carry double quotes inside the value."""
    assert '"' not in cmd
    args = guest_args(extra)
    i = args.index("--append")
    args[i + 1] = f'console=ttyS0 tandem_run="{cmd}"'
    return args


class VmEnded(Failure):
    """The VM ended on its own while it was being saved."""


def suspend_via_monitor(tandem, sock, path):
    p = subprocess.run([tandem, "snapshot", "suspend", "--monitor", f"unix:{sock}", path],
                       capture_output=True, timeout=120)
    if p.returncode != 0 and b"before the save finished" in p.stderr:
        raise VmEnded(f"snapshot suspend: {p.stderr.decode()}")
    expect(p.returncode == 0, f"snapshot suspend failed: {p.stderr.decode()}")
    return json.loads(p.stdout)


def wait_for_socket(path, proc, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        expect(proc.poll() is None, "tandem exited before its monitor socket appeared")
        expect(time.time() < deadline, "monitor socket did not appear")
        time.sleep(0.05)


def instructions_run(stderr):
    """The instruction count a --stats run printed at its end."""
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith("tandem-stats: "):
            return json.loads(line[len("tandem-stats: "):])["instructions"]
    raise Failure("no tandem-stats line in the run's stderr:\n" + stderr.decode(errors="replace")[-1500:])


def suspend_then_restore(tandem, p, sock, snap, mode, printed=b"", ref=None):
    """Suspends the run `p` (which printed `printed` so far) into `snap`,
    restores it in `mode` to its end; returns the suspend report and the
    whole console output of both processes, joined. With `ref` (an
    uninterrupted --icount --stats run), the restored run must also end
    after exactly as many instructions: an output can match by luck
    while the timing inside the guest has moved."""
    report = suspend_via_monitor(tandem, sock, snap)
    rest, err = p.communicate(timeout=60)
    expect(p.returncode == 0, f"suspended run exited {p.returncode}: {err.decode()}")
    try:
        r = subprocess.run([tandem, "restore", snap, "--mode", mode] + (["--stats"] if ref else []),
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        # Say where it stood: which save, and what the restored guest
        # printed before it stopped making progress.
        tail = (e.stdout or b"")[-1500:].decode(errors="replace")
        err = (e.stderr or b"")[-1500:].decode(errors="replace")
        raise Failure(f"restore ({mode}) of the save {report} did not finish in {BOOT_TIMEOUT} s; "
                      f"the suspended run had printed {len(printed + rest)} bytes\n--- restored stdout, tail ---\n"
                      f"{tail}\n--- restored stderr, tail ---\n{err}")
    expect(r.returncode == 0, f"restore ({mode}) exited {r.returncode}: {r.stderr.decode()}")
    joined = (printed + rest + r.stdout).decode(errors="replace")
    if ref is not None:
        want, got = instructions_run(ref.stderr), instructions_run(r.stderr)
        if want != got and joined == ref.stdout.decode(errors="replace"):
            raise Failure(f"save {report} then {mode} restore printed the same but ended after {got} "
                          f"instructions; the uninterrupted run ended after {want}")
    return report, joined


def riscv_elf(code, base=0x80000000):
    """A minimal RV64 ELF executable: `code` loaded and entered at `base`."""
    import struct
    ehsize, phsize = 64, 56
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)  # 64-bit, little-endian, version 1
    header += struct.pack("<HHIQQQIHHHHHH", 2, 243, 1, base, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, ehsize + phsize, base, base, len(code), len(code), 4)
    return header + load + code


def test_icount_stuck_wfi(tandem):
    """Under --icount a guest that waits for an interrupt nothing can raise
    (no timer, interrupts masked, no input) is stopped with an error that
    says so, instead of the run blocking forever."""
    import struct
    code = struct.pack("<3I", 0x30401073,  # csrw mie, zero
                       0x10500073,         # wfi
                       0xffdff06f)         # j .-4
    with tempfile.TemporaryDirectory() as tmp:
        elf = os.path.join(tmp, "stuck.elf")
        with open(elf, "wb") as f:
            f.write(riscv_elf(code))
        r = subprocess.run([tandem, "run", "-m", "16M", "--bios", "none", "--kernel", elf, "--icount"],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        err = r.stderr.decode(errors="replace")
        expect(r.returncode != 0, "a stuck --icount guest ended with status 0", err)
        expect("nothing can raise" in err, "the error does not say why the guest was stopped", err)


def icount_reference(tandem, cmd, last):
    """The uninterrupted --icount --stats run of `cmd`, checked to print
    `last`; returns (run, its output as text, its duration in seconds)."""
    t0 = time.time()
    ref = subprocess.run([tandem] + run_cmd_args(cmd, ["--icount", "--stats"]), capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    duration = time.time() - t0
    expect(ref.returncode == 0, f"reference run failed: {ref.stderr.decode()}")
    ref_out = ref.stdout.decode(errors="replace")
    expect(last in ref_out, "the reference run did not finish its loop", ref_out)
    return ref, ref_out, duration


def test_snapshot_icount_roundtrip(tandem):
    """A run suspended and restored at random instants prints exactly what
    the uninterrupted run prints (--icount makes runs reproducible)."""
    import random
    cmd = ("i=0; while [ $i -lt 120 ]; do i=$((i+1)); "
           "echo line $i $(cat /proc/uptime) $(head -c 4 /dev/hwrng | od -An -tx1); done")
    ref, ref_out, duration = icount_reference(tandem, cmd, "line 120")
    rng = random.Random(int(os.environ.get("TANDEM_TEST_SEED", "0")) or None)
    modes = ["working-set", "lazy", "eager"]
    splits = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, mode in enumerate(modes):
            sock, snap = os.path.join(tmp, f"m{k}.sock"), os.path.join(tmp, f"s{k}.snap")
            p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["--icount", "--monitor", f"unix:{sock}"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            wait_for_socket(sock, p)
            delay = rng.uniform(0.05, duration * 0.8)
            time.sleep(delay)
            if p.poll() is not None:
                continue  # finished before the instant: nothing to split
            try:
                report, joined = suspend_then_restore(tandem, p, sock, snap, mode, ref=ref)
            except VmEnded:
                p.communicate(timeout=60)
                continue  # finished while it was being saved: likewise
            splits += 1
            expect_same_output(ref_out, joined,
                               f"suspend at {delay:.2f} s ({report}) then {mode} restore changed the output",
                               got_name=f"suspended+restored ({mode})")
    expect(splits > 0, "every run finished before its suspend instant: nothing was tested")


def test_snapshot_icount_idle(tandem):
    """A guest that mostly waits for its timer (WFI) is often saved while
    it waits: the restored run must wait for the interrupt too, not run on
    past the WFI at once, or it executes a different number of
    instructions (and prints other times) than the uninterrupted run."""
    import random
    cmd = "i=0; while [ $i -lt 60 ]; do i=$((i+1)); sleep 7; read up idle < /proc/uptime; echo tick $i $up; done"
    ref, ref_out, duration = icount_reference(tandem, cmd, "tick 60")
    rng = random.Random(int(os.environ.get("TANDEM_TEST_SEED", "0")) or None)
    waiting = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(8):
            sock, snap = os.path.join(tmp, f"m{k}.sock"), os.path.join(tmp, f"s{k}.snap")
            p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["--icount", "--monitor", f"unix:{sock}"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            wait_for_socket(sock, p)
            time.sleep(rng.uniform(duration * 0.3, duration * 0.7))
            if p.poll() is not None:
                p.communicate(timeout=60)
                continue  # a faster run than the reference: nothing to save
            try:
                # Raises on another instruction count even when the output matches.
                report, joined = suspend_then_restore(tandem, p, sock, snap, "working-set", ref=ref)
            except VmEnded:
                p.communicate(timeout=60)
                continue  # it ended while it was being saved
            with open(snap, "rb") as f:
                saved_waiting = b"waiting_for_interrupt" in f.read()
            state = "waiting in WFI" if saved_waiting else "running"
            expect_same_output(ref_out, joined, f"save {report} ({state}) then restore changed the output",
                               got_name="suspended+restored")
            waiting += saved_waiting
            if waiting >= 2:
                break
    expect(waiting > 0, "no save caught the guest waiting for an interrupt: nothing was tested")


def monitor_client(sock):
    """Connects to the monitor at `sock` and negotiates QMP capabilities;
    returns (socket, ask) where ask(request dict) sends it and returns the
    reply, skipping events."""
    c = socket.socket(socket.AF_UNIX)
    c.connect(sock)
    f = c.makefile("rwb")
    json.loads(f.readline())  # greeting
    f.write(b'{"execute": "qmp_capabilities"}\n')
    f.flush()
    r = json.loads(f.readline())
    expect(r == {"return": {}}, f"qmp_capabilities: {r}")

    def ask(request):
        f.write(json.dumps(request).encode() + b"\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "event" not in msg:
                return msg
    return c, ask


def test_icount_stop_cont(tandem):
    """Under --icount, monitor stop and cont at random instants leave the
    run identical to one never paused: same output, same instruction
    count (the stop waits for the slice's end, where the devices are
    looked at anyway)."""
    import random
    cmd = ("i=0; while [ $i -lt 120 ]; do i=$((i+1)); "
           "echo line $i $(cat /proc/uptime) $(head -c 4 /dev/hwrng | od -An -tx1); done")
    ref, _, duration = icount_reference(tandem, cmd, "line 120")
    rng = random.Random(int(os.environ.get("TANDEM_TEST_SEED", "0")) or None)
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "m.sock")
        p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["--icount", "--stats", "--monitor", f"unix:{sock}"]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            wait_for_socket(sock, p)
            c, ask = monitor_client(sock)
            stops = 0
            for _ in range(12):
                time.sleep(rng.uniform(0.01, duration / 15))
                if p.poll() is not None:
                    break
                r = ask({"execute": "stop"})
                expect(r == {"return": {}}, f"stop: {r}")
                i1 = ask({"execute": "query-status"})["return"]["instructions"]
                time.sleep(rng.uniform(0.01, 0.1))
                i2 = ask({"execute": "query-status"})["return"]["instructions"]
                expect(i1 == i2, f"the guest ran while paused ({i1} then {i2} instructions)")
                expect(ask({"execute": "cont"}) == {"return": {}}, "cont failed")
                stops += 1
            c.close()
            out, err = p.communicate(timeout=BOOT_TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        expect(stops > 0, "the run ended before the first stop: nothing was tested")
        expect_same_output(ref.stdout, out, f"{stops} stops and conts changed the output", got_name="paused")
        want, got = instructions_run(ref.stderr), instructions_run(err)
        expect(want == got, f"{stops} stops and conts: the run ended after {got} instructions, "
                            f"the uninterrupted one after {want}")


def test_snapshot_icount_disk_io(tandem):
    """The same byte-identity with the guest doing disk I/O through
    virtio-blk when it is suspended: in-flight queue state, the disk file
    and memory must agree after restore."""
    import random
    cmd = ("i=0; while [ $i -lt 80 ]; do i=$((i+1)); "
           "echo block-$i | dd of=/dev/vda bs=512 seek=$i conv=sync 2>/dev/null; "
           "dd if=/dev/vda bs=512 skip=$((i/2)) count=1 2>/dev/null | head -c 12; echo ' read' $i; "
           "dd if=/dev/vda bs=64k count=4 2>/dev/null | md5sum; done")
    with tempfile.TemporaryDirectory() as tmp:
        def fresh_disk(name):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.truncate(2 << 20)
            return path
        ref_disk = fresh_disk("ref.img")
        t0 = time.time()
        ref = subprocess.run([tandem] + run_cmd_args(cmd, ["--icount", "--stats", "--drive", f"file={ref_disk}"]),
                             capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        duration = time.time() - t0
        expect(ref.returncode == 0, f"reference run failed: {ref.stderr.decode()}")
        expect(b"read 80" in ref.stdout, "the reference run did not finish", ref.stdout.decode(errors="replace"))
        rng = random.Random(int(os.environ.get("TANDEM_TEST_SEED", "0")) or None)
        disk = fresh_disk("run.img")
        sock, snap = os.path.join(tmp, "m.sock"), os.path.join(tmp, "s.snap")
        p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["--icount", "--drive", f"file={disk}",
                                                          "--monitor", f"unix:{sock}"]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        wait_for_socket(sock, p)
        # Past the boot (about a third of the run), into the disk loop.
        time.sleep(rng.uniform(duration * 0.4, duration * 0.6))
        expect(p.poll() is None, "the run ended before the suspend instant")
        report, joined = suspend_then_restore(tandem, p, sock, snap, "working-set", ref=ref)
        expect_same_output(ref.stdout.decode(errors="replace"), joined,
                           f"suspend during disk I/O ({report}) changed the output", got_name="suspended+restored")
        expect(open(disk, "rb").read() == open(ref_disk, "rb").read(),
               "the disk after suspend + restore differs from the uninterrupted run's")


def test_snapshot_icount_network(tandem):
    """The same byte-identity with the guest exchanging packets with the
    user network (ICMP echo to the gateway, answered by libslirp) when it
    is suspended: frames in flight, slirp's ARP knowledge and timers must
    come back, or a reply goes missing or an extra ARP exchange shifts the
    guest's timings."""
    import random
    cmd = ("i=0; while [ $i -lt 30 ]; do i=$((i+1)); "
           "ping -c 3 -i 0.02 -s 1200 10.0.2.2 | head -n 4; "
           "head -c 200000 /dev/zero | md5sum; done")
    net = ["--icount", "--net", "user"]
    ref = subprocess.run([tandem] + run_cmd_args(cmd, net + ["--stats"]), capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    expect(ref.returncode == 0, f"reference run failed: {ref.stderr.decode()}")
    ref_out = ref.stdout.decode(errors="replace")
    expect(ref_out.count("bytes from 10.0.2.2") == 90, "the reference run lost echo replies", ref_out)
    rng = random.Random(int(os.environ.get("TANDEM_TEST_SEED", "0")) or None)
    with tempfile.TemporaryDirectory() as tmp:
        for k, mode in enumerate(["working-set", "lazy"]):
            sock, snap = os.path.join(tmp, f"m{k}.sock"), os.path.join(tmp, f"s{k}.snap")
            # Unbuffered: communicate() reads the pipe itself and would lose
            # what a buffered readline() had read ahead.
            p = subprocess.Popen([tandem] + run_cmd_args(cmd, net + ["--monitor", f"unix:{sock}"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                 bufsize=0)
            wait_for_socket(sock, p)
            # Into the ping loop: after a random number of echo replies.
            replies = rng.randint(3, 60)
            out1 = b""
            while out1.count(b"bytes from 10.0.2.2") < replies:
                line = p.stdout.readline()
                expect(line, "the run ended before the suspend instant", out1.decode(errors="replace"))
                out1 += line
            report, joined = suspend_then_restore(tandem, p, sock, snap, mode, out1, ref=ref)
            expect_same_output(ref_out, joined,
                               f"suspend after {replies} replies ({report}), {mode} restore, changed the output",
                               got_name=f"suspended+restored ({mode})")


def test_snapshot_save_continues(tandem):
    """snapshot save (copy-on-write) keeps the VM running unchanged, and the
    file restores the state of the request's instant: the restored run
    prints exactly the rest of the uninterrupted run's output."""
    cmd = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i $(cat /proc/uptime); done"
    t0 = time.time()
    ref = subprocess.run([tandem] + run_cmd_args(cmd, ["--icount"]), capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
    duration = time.time() - t0
    expect(ref.returncode == 0, f"reference run failed: {ref.stderr.decode()}")
    with tempfile.TemporaryDirectory() as tmp:
        sock, snap = os.path.join(tmp, "m.sock"), os.path.join(tmp, "s.snap")
        # The instant comes from the reference's duration; a run faster than
        # it (the host less loaded) may power off before the save ends: that
        # instant is tried again earlier, it proves nothing either way.
        for fraction in (0.5, 0.25, 0.1):
            p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["--icount", "--monitor", f"unix:{sock}"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            wait_for_socket(sock, p)
            time.sleep(duration * fraction)
            expect(p.poll() is None, "the run ended before the snapshot instant")
            s = subprocess.run([tandem, "snapshot", "save", "--monitor", f"unix:{sock}", snap],
                               capture_output=True, timeout=120)
            if s.returncode != 0 and b"the VM stopped" in s.stderr:
                p.communicate(timeout=BOOT_TIMEOUT)
                print(f"the VM ended before the save at {fraction} of the reference's duration; earlier")
                continue
            break
        expect(s.returncode == 0, f"snapshot save failed: {s.stderr.decode()}")
        out, err = p.communicate(timeout=BOOT_TIMEOUT)
        expect(p.returncode == 0, f"the VM did not go on after the snapshot: {err.decode()}")
        expect_same_output(ref.stdout, out, "snapshot save changed the running VM's output",
                           got_name="saved while running")
        r = subprocess.run([tandem, "restore", snap], capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=BOOT_TIMEOUT)
        expect(r.returncode == 0, f"restore failed: {r.stderr.decode()}")
        expect(len(r.stdout) > 0 and ref.stdout.endswith(r.stdout),
               "the restored run's output is not the rest of the uninterrupted run's",
               r.stdout.decode(errors="replace"))


DRIVE_BLOCKS = 32768  # 128 MiB of 4 KiB blocks


def seq_block(j):
    """Where the guest loop of test_snapshot_save_writable_drive writes
    record j: spread over the disk, so the copier meets the writes anywhere."""
    return j * 997 % (DRIVE_BLOCKS - 1) + 1


def drive_after(base, n, extra=None):
    """The drive's content after the loop wrote records 1..n over `base`
    (and block 0 says seq-n); `extra`: record n+1 written to its block too."""
    disk = bytearray(base)
    def put(block, j):
        rec = f"seq-{j}\n".encode()
        disk[block * 4096:(block + 1) * 4096] = rec + bytes(4096 - len(rec))  # conv=sync pads with zeros
    for j in range(1, n + 1):
        put(seq_block(j), j)
    if extra:
        put(seq_block(n + 1), n + 1)
    put(0, n)
    return bytes(disk)


def test_snapshot_save_writable_drive(tandem):
    """snapshot save with a writable drive: the guest writes numbered
    records to /dev/vda (O_DIRECT) before, during and after the snapshot.
    The snapshot's copy of the drive holds exactly the records up to the
    instant; the restored guest finds on its disk the record its memory
    says it wrote last; the original drive has the later writes."""
    total = 200
    # Each round: check that block 0 holds the record last written, then
    # write record i to its block and to block 0.
    cmd = (f"i=0; while [ $i -lt {total} ]; do "
           "got=$(dd if=/dev/vda bs=4096 count=1 iflag=direct 2>/dev/null | head -n 1); "
           "[ x$got = xseq-$i ] || echo MISMATCH i=$i disk=$got; i=$((i+1)); "
           f"echo seq-$i | dd of=/dev/vda bs=4096 seek=$((i*997%{DRIVE_BLOCKS - 1}+1)) "
           "conv=sync oflag=direct 2>/dev/null; "
           "echo seq-$i | dd of=/dev/vda bs=4096 conv=sync oflag=direct 2>/dev/null; "
           "echo iter $i; done; echo loop-done")
    with tempfile.TemporaryDirectory() as tmp:
        disk = os.path.join(tmp, "disk.img")
        # Random content, so that copying the drive takes a while and the
        # guest's writes meet chunks the copier has not reached yet.
        base = drive_after(os.urandom(DRIVE_BLOCKS * 4096), 0)
        with open(disk, "wb") as f:
            f.write(base)
        sock, snap = os.path.join(tmp, "m.sock"), os.path.join(tmp, "vm.snap")
        p = subprocess.Popen([tandem] + run_cmd_args(cmd, ["--drive", f"file={disk}", "--monitor", f"unix:{sock}"]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             bufsize=0)  # see test_snapshot_icount_network
        try:
            out1 = b""
            while b"iter 60\n" not in out1.replace(b"\r", b""):
                line = p.stdout.readline()
                expect(line, "the VM ended before the snapshot instant", out1.decode(errors="replace"))
                out1 += line
            s = subprocess.run([tandem, "snapshot", "save", "--monitor", f"unix:{sock}", snap],
                               capture_output=True, timeout=120)
            expect(s.returncode == 0, f"snapshot save failed: {s.stderr.decode()}")
            report = json.loads(s.stdout)
            expect(report.get("drive_copies") == [snap + ".drive0"], f"report: {report}")
            rest, err = p.communicate(timeout=BOOT_TIMEOUT)
            out1 = (out1 + rest).decode(errors="replace")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        expect(p.returncode == 0, f"the VM did not go on after the snapshot: {err.decode()}", out1)
        # (The kernel echoes its command line, which holds the loop's text.)
        import re
        def loop_ok(out):
            return re.search(r"^loop-done\r?$", out, re.M) and not re.search(r"MISMATCH i=\d", out)
        expect(loop_ok(out1), "the running VM's disk went wrong", out1)
        expect(open(disk, "rb").read() == drive_after(base, total), "the original drive lacks the later writes")

        copy = open(snap + ".drive0", "rb").read()
        head = copy[:32].split(b"\n")[0].decode(errors="replace")
        expect(head.startswith("seq-"), f"the copy's block 0 holds {head!r}")
        n = int(head[4:])
        expect(60 <= n < total, f"the copy holds record {n}: not the snapshot instant ({report})")
        expect(copy in (drive_after(base, n), drive_after(base, n, extra=True)),
               f"the drive copy is not the drive at record {n} ({report})")

        # By default the restored VM writes a private copy: the snapshot's
        # stays as it was. In place, the restored VM writes the copy itself.
        for extra in ([], ["--drive-in-place"]):
            r = subprocess.run([tandem, "restore", snap] + extra, capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=BOOT_TIMEOUT)
            out2 = r.stdout.decode(errors="replace")
            expect(r.returncode == 0, f"restore {extra} failed: {r.stderr.decode()}", out2)
            expect(loop_ok(out2) and f"iter {n + 1}\n" in out2.replace("\r", ""),
                   f"the restored guest's disk does not match its memory (copy at record {n})", out2)
            expect((open(snap + ".drive0", "rb").read() == copy) == (not extra),
                   f"restore {extra}: the drive copy {'changed' if not extra else 'did not change'}")
        expect(open(snap + ".drive0", "rb").read() == drive_after(base, total),
               "the restored VM did not run on the drive copy with --drive-in-place")

        # The copy now holds the restored VM's later writes: another restore
        # of the snapshot is refused, as is the snapshot without its copy.
        r = subprocess.run([tandem, "restore", snap], capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 1 and b"does not hold the snapshot's content" in r.stderr,
               f"restore on a used copy: {r.stderr!r}")
        os.mkdir(os.path.join(tmp, "elsewhere"))
        moved = os.path.join(tmp, "elsewhere", "vm.snap")
        os.rename(snap, moved)
        r = subprocess.run([tandem, "restore", moved], capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 1 and b"vm.snap.drive0' is missing" in r.stderr,
               f"restore without the copy: {r.stderr!r}")


def sha256_of(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(f.read()).hexdigest()


def md5_of(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


# After a pause in which the test saves the VM, the guest hashes its whole
# disk (O_DIRECT: from the device, not its page cache), writes it (4 KiB
# blocks across a 64 KiB boundary, and one 512-byte sector: a partial chunk
# of an overlay), and hashes it again.
DISK_WRITE_CMD = ("echo ready; sleep 4; "
                  "echo pre-$(dd if=/dev/vda bs=65536 iflag=direct 2>/dev/null | md5sum | cut -c1-32); "
                  "dd if=/dev/urandom of=/dev/vda bs=4096 seek=1247 count=3 oflag=direct 2>/dev/null; "
                  "dd if=/dev/urandom of=/dev/vda bs=512 seek=20001 count=1 oflag=direct 2>/dev/null; "
                  "dd if=/dev/urandom of=/dev/vda bs=512 count=1 oflag=direct 2>/dev/null; "
                  "echo post-$(dd if=/dev/vda bs=65536 iflag=direct 2>/dev/null | md5sum | cut -c1-32)")


def guest_hashes(out):
    pre = re.findall(r"^pre-([0-9a-f]{32})\r?$", out, re.M)
    post = re.findall(r"^post-([0-9a-f]{32})\r?$", out, re.M)
    expect(len(pre) == 1 and len(post) == 1, "the guest did not print its disk hashes", out)
    return pre[0], post[0]


def test_snapshot_restore_thrice(tandem):
    """One snapshot file restored three times, the guest writing its disk
    each time: every restore starts from the snapshot's disk (the guest's
    hash of its whole disk), and the snapshot's drive copy is the same
    file, byte for byte, after each (host hash of the whole copy). Then a
    suspend of a restored VM, a restore --drive-in-place (which does
    change the copy, so the next restore is refused), and no file left
    behind by the private copies."""
    with tempfile.TemporaryDirectory() as tmp:
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.write(os.urandom(16 << 20))
        sock, snap = os.path.join(tmp, "m.sock"), os.path.join(tmp, "s1.snap")
        copy = snap + ".drive0"
        p = subprocess.Popen([tandem] + run_cmd_args(DISK_WRITE_CMD, ["--drive", f"file={disk}",
                                                                       "--monitor", f"unix:{sock}"]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, bufsize=0)
        try:
            out = b""
            while not re.search(rb"^ready\r?$", out, re.M):
                line = p.stdout.readline()
                expect(line, "the VM ended before it was ready", out.decode(errors="replace"))
                out += line
            s = subprocess.run([tandem, "snapshot", "save", "--monitor", f"unix:{sock}", snap],
                               capture_output=True, timeout=120)
            expect(s.returncode == 0, f"snapshot save failed: {s.stderr.decode()}")
            rest, err = p.communicate(timeout=BOOT_TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = (out + rest).decode(errors="replace")
        expect(p.returncode == 0, f"the saved VM exited {p.returncode}: {err.decode()}", out)
        snap_disk_md5, ran_md5 = guest_hashes(out)
        expect(md5_of(copy) == snap_disk_md5, "the drive copy is not the disk the guest saw at the save", out)
        expect(md5_of(disk) == ran_md5, "the running VM's writes are not in its image", out)
        copy_sha = sha256_of(copy)
        files = sorted(os.listdir(tmp))

        def restore(*extra):
            r = subprocess.run([tandem, "restore", snap] + list(extra), capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
            o = r.stdout.decode(errors="replace")
            expect(r.returncode == 0, f"restore {extra} failed: {r.stderr.decode()}", o)
            return guest_hashes(o)

        posts = set()
        for i in range(3):
            pre, post = restore()
            expect(pre == snap_disk_md5, f"restore {i + 1} did not start from the snapshot's disk")
            expect(post != pre, f"restore {i + 1}: the guest's writes did not reach its disk")
            expect(sha256_of(copy) == copy_sha, f"restore {i + 1} changed the snapshot's drive copy")
            expect(sorted(os.listdir(tmp)) == files, f"restore {i + 1} left files: {os.listdir(tmp)}")
            posts.add(post)

        # A suspend of a restored VM: its private drive is written out as
        # the new snapshot's s2.snap.drive0, which holds the guest's writes.
        snap2 = os.path.join(tmp, "s2.snap")
        p = subprocess.Popen([tandem, "restore", snap, "--monitor", f"unix:{sock}"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            wait_for_socket(sock, p)
            suspend_via_monitor(tandem, sock, snap2)
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        expect(p.returncode == 0, f"the suspended restore exited {p.returncode}: {err.decode()}")
        r = subprocess.run([tandem, "restore", snap2], capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=BOOT_TIMEOUT)
        o = r.stdout.decode(errors="replace")
        expect(r.returncode == 0, f"restore of the suspend failed: {r.stderr.decode()}", o)
        _, post = guest_hashes(o)
        expect(md5_of(snap2 + ".drive0") == post, "the suspended VM's disk is not where its snapshot says", o)
        expect(sha256_of(copy) == copy_sha, "the suspend changed the first snapshot's drive copy")

        # In place: the copy changes, and the next restore refuses it.
        restore("--drive-in-place")
        expect(sha256_of(copy) != copy_sha, "--drive-in-place did not write the snapshot's drive copy")
        r = subprocess.run([tandem, "restore", snap], capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 1 and b"does not hold the snapshot's content" in r.stderr,
               f"restore after --drive-in-place: {r.stderr!r}")


def test_run_snapshot_flag(tandem):
    """run --snapshot: the guest writes and reads back its disk, also after
    a reboot; the image never changes. A qcow2 image is refused, naming
    qemu-img convert, unless format=raw."""
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "disk.img")
        with open(img, "wb") as f:
            f.write(os.urandom(4 << 20))
        before = sha256_of(img)
        code, out, err = run_script(tandem, [
            "echo tandem-snapshot-payload | dd of=/dev/vda bs=512 seek=3 conv=sync oflag=direct 2>/dev/null",
            "dd if=/dev/vda bs=512 skip=3 count=1 iflag=direct 2>/dev/null | head -c 23; echo"],
            extra=["--drive", f"file={img},format=raw,if=virtio", "--snapshot"])
        expect(code == 0, f"exit status {code}: {err}", out)
        expect(re.search(r"^tandem-snapshot-payload\r?$", out, re.M), "the guest did not read its write back", out)
        expect(sha256_of(img) == before, "--snapshot changed the image", out)
        expect(os.listdir(tmp) == ["disk.img"], f"--snapshot left files: {os.listdir(tmp)}")

        # The private copy outlives a guest reboot (as QEMU's -snapshot
        # overlay outlives a reset), not the process.
        cmd = ("if dd if=/dev/vda bs=512 skip=7 count=1 2>/dev/null | grep -q kept-over-reboot; "
               "then echo marker-found-after-reboot; "
               "else echo kept-over-reboot | dd of=/dev/vda bs=512 seek=7 conv=sync oflag=direct 2>/dev/null; "
               "reboot -f; fi")
        r = subprocess.run([tandem] + run_cmd_args(cmd, ["--drive", f"file={img}", "--snapshot"]),
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        out = r.stdout.decode(errors="replace")
        expect(r.returncode == 0, f"exit status {r.returncode}: {r.stderr.decode()}", out)
        expect(out.count("OpenSBI v") == 2, "the guest did not reboot once", out)
        expect(re.search(r"^marker-found-after-reboot\r?$", out, re.M), "the write did not outlive the reboot", out)
        expect(sha256_of(img) == before, "--snapshot changed the image over a reboot", out)
        expect(os.listdir(tmp) == ["disk.img"], f"--snapshot left files: {os.listdir(tmp)}")

        qcow = os.path.join(tmp, "m.qcow2")
        with open(qcow, "wb") as f:
            f.write(b"QFI\xfb\0\0\0\3" + bytes(65536))
        r = subprocess.run([tandem] + guest_args(["--drive", f"file={qcow}"]), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 1 and b"is a qcow2 image" in r.stderr and b"qemu-img convert -O raw" in r.stderr,
               f"a qcow2 drive: exit {r.returncode}, {r.stderr!r}")
        r = subprocess.run([tandem] + guest_args(["--drive", f"file={img},format=qcow2"]), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 2 and b"format 'qcow2' is not supported" in r.stderr, f"format=qcow2: {r.stderr!r}")


def get_from_port(port, path, client_port, timeout=10):
    """GET over a connection from host port `client_port`, read to the
    server's close, so the host side closes second (no TIME_WAIT here
    keeps the port from being used again)."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind(("127.0.0.1", client_port))
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n\r\n", 1)[-1]
    finally:
        s.close()


def get_when_up(port, path, client_port, seconds=60):
    """get_from_port() retried until the server answers (None if it never
    does within `seconds`)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            return get_from_port(port, path, client_port)
        except OSError:
            time.sleep(0.1)
    return None


def test_snapshot_http(tandem):
    """Suspend the guest's HTTP server, restore it, and it answers with the
    state it had. The restore records the working set of its first 100 ms
    into the file (--record-working-set); a restore of that file answers
    the same."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        sock, snap = os.path.join(tmp, "m.sock"), os.path.join(tmp, "vm.snap")
        net = ["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80"]
        p = subprocess.Popen([tandem] + guest_args(net + ["--monitor", f"unix:{sock}"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            console = wait_for_prompt(p)
            p.stdin.write(b"kvhttpd -p 80 &\n")
            p.stdin.flush()
            deadline = time.time() + BOOT_TIMEOUT
            while True:
                try:
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/kv/k", data=b"before-suspend",
                                                 method="PUT")
                    urllib.request.urlopen(req, timeout=5).close()
                    break
                except OSError:
                    if time.time() > deadline or p.poll() is not None:
                        p.kill()
                        out, err = p.communicate()
                        raise Failure(f"the HTTP server never answered (tandem exit {p.returncode})\n--- console ---\n"
                                      + (console + out).decode(errors="replace")[-3000:]
                                      + "\n--- stderr ---\n" + err.decode(errors="replace")[-1000:])
                    time.sleep(0.2)
            # A connection from a fixed host port, closed by the server: the
            # guest keeps it in TIME_WAIT across the snapshot.
            client_port = free_port()
            body = get_from_port(port, "/kv/k", client_port)
            expect(body == b"before-suspend", f"GET before the suspend answered {body!r}")
            report = suspend_via_monitor(tandem, sock, snap)
            p.stdin.close()
            p.wait(timeout=60)
            expect(p.returncode == 0, f"suspended tandem exited {p.returncode}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        expect(report["active_pages"] > 0, f"no active pages recorded: {report}")
        rsock = os.path.join(tmp, "r.sock")
        r = subprocess.Popen([tandem, "restore", snap, "--stats", "--record-working-set", "--monitor", f"unix:{rsock}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # The same 4-tuple again (the guest may still hold it in
            # TIME_WAIT): the restored user network numbers its SYN past
            # the old connection's, so the guest takes it at once.
            t_first = time.time()
            body = get_when_up(port, "/kv/k", client_port)
            expect(body == b"before-suspend", f"restored server answered {body!r}")
            print(f"first answer on the reused port after {time.time() - t_first:.3f} s")
            # The working-set restore goes on loading behind the guest until
            # every stored page is in; the monitor says how far it is.
            c = socket.socket(socket.AF_UNIX)
            c.connect(rsock)
            f = c.makefile("rwb")
            json.loads(f.readline())  # greeting
            f.write(b'{"execute": "qmp_capabilities"}\n')
            f.flush()
            json.loads(f.readline())
            deadline = time.time() + 30
            while True:
                f.write(b'{"execute": "query-restore"}\n')
                f.flush()
                q = json.loads(f.readline())
                while "event" in q:  # RESTORE_COMPLETED may come in between
                    q = json.loads(f.readline())
                q = q["return"]
                if (q["status"] == "resident" and q["record"]["status"] not in ("recording", "writing")) \
                        or time.time() > deadline:
                    break
                time.sleep(0.1)
            expect(q["status"] == "resident" and q["pages_not_loaded"] == 0 and q["resident_ms"] > 0,
                   f"memory not all loaded 30 s after the restore: {q}")
            expect(q["mode"] == "working-set" and q["first_instruction_ms"] > 0, f"query-restore: {q}")
            expect(q["blocks_offered"] > 0, f"no code was decoded ahead: {q}")
            expect(q["record"]["status"] == "written" and q["record"]["pages"] > 0 and q["record"]["code_blocks"] > 0,
                   f"the working set was not recorded: {q}")
            c.close()
            r.stdin.write(b"poweroff -f\n")
            r.stdin.flush()
            out, err = r.communicate(timeout=60)
            expect(r.returncode == 0, f"restored tandem exited {r.returncode}: {err.decode()}")
            expect(b"tandem-restore:" in err, "restore printed no timings", err.decode())
            expect(b"recorded the working set of" in err, "the recording restore said nothing", err.decode())
        finally:
            if r.poll() is None:
                r.kill()
                r.wait()
        # The recorded file: the same server, its recorded pages first.
        r = subprocess.Popen([tandem, "restore", snap, "--stats"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            body = get_when_up(port, "/kv/k", free_port())
            expect(body == b"before-suspend", f"the restored recorded file answered {body!r}")
            r.stdin.write(b"poweroff -f\n")
            r.stdin.flush()
            out, err = r.communicate(timeout=60)
            expect(r.returncode == 0, f"restore of the recorded file exited {r.returncode}: {err.decode()}")
            stats = json.loads(re.search(rb"tandem-restore: (\{.*\})", err).group(1))
            expect(stats["active_pages"] >= q["record"]["pages"], f"the recorded file's working set: {stats}")
        finally:
            if r.poll() is None:
                r.kill()
                r.wait()


def test_snapshot_bad_files(tandem):
    """Corrupt, truncated and wrong-version snapshots are refused with an
    error, never run and never crash tandem."""
    with tempfile.TemporaryDirectory() as tmp:
        sock, snap = os.path.join(tmp, "m.sock"), os.path.join(tmp, "vm.snap")
        p = subprocess.Popen([tandem] + guest_args(["--monitor", f"unix:{sock}"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_prompt(p)
            suspend_via_monitor(tandem, sock, snap)
            p.stdin.close()
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        good = open(snap, "rb").read()
        variants = {
            "bad magic": b"X" + good[1:],
            "wrong version": good[:8] + bytes([good[8] ^ 0x7f]) + good[9:],
            "truncated header": good[:20],
            "truncated in the middle": good[: len(good) // 2],
            "truncated by one byte": good[:-1],
            "flipped byte at 1/3": flip(good, len(good) // 3),
            "flipped byte near the end": flip(good, len(good) - 40),
        }
        for what, data in variants.items():
            bad = os.path.join(tmp, "bad.snap")
            with open(bad, "wb") as f:
                f.write(data)
            for mode in ("eager", "working-set", "lazy"):
                r = subprocess.run([tandem, "restore", bad, "--mode", mode], capture_output=True,
                                   stdin=subprocess.DEVNULL, timeout=60)
                err = r.stderr.decode(errors="replace")
                expect(r.returncode > 0, f"{what} ({mode}): exit status {r.returncode}, stderr {err!r}")
                expect("tandem" in err and len(err.strip()) > 10, f"{what} ({mode}): no error message")
                expect(b"tandem-guest" not in r.stdout or mode != "eager",
                       f"{what} ({mode}): the guest ran from a bad snapshot")
        r = subprocess.run([tandem, "restore", os.path.join(tmp, "missing.snap")], capture_output=True)
        expect(r.returncode == 1 and b"No such file" in r.stderr, f"missing file: {r.stderr!r}")
        r = subprocess.run([tandem, "restore", snap, "--mode", "fast"], capture_output=True)
        expect(r.returncode == 2 and b"unknown restore mode 'fast'" in r.stderr, f"bad mode: {r.stderr!r}")
        for window in ("0", "1.5", "soon"):
            r = subprocess.run([tandem, "restore", snap, f"--record-working-set={window}"], capture_output=True)
            expect(r.returncode == 2 and b"--record-working-set=MS needs a whole number" in r.stderr,
                   f"--record-working-set={window}: {r.stderr!r}")
        # A damaged file is not rewritten by a recording restore.
        bad = os.path.join(tmp, "bad.snap")
        with open(bad, "wb") as f:
            f.write(flip(good, len(good) // 3))
        r = subprocess.run([tandem, "restore", bad, "--mode", "lazy", "--record-working-set"], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        expect(r.returncode == 1 and b"checksum mismatch" in r.stderr, f"recording a damaged file: {r.stderr!r}")
        expect(open(bad, "rb").read() == flip(good, len(good) // 3), "a recording restore changed a damaged file")


def test_monitor(tandem):
    """The JSON monitor answers bad requests with errors and keeps serving."""
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "m.sock")
        p = subprocess.Popen([tandem] + guest_args(["--monitor", f"unix:{sock}"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_socket(sock, p)
            c = socket.socket(socket.AF_UNIX)
            c.connect(sock)
            f = c.makefile("rwb")
            greeting = json.loads(f.readline())
            expect("QMP" in greeting, f"greeting {greeting}")

            events = []

            def ask(line):
                f.write(line.encode() + b"\n")
                f.flush()
                while True:
                    msg = json.loads(f.readline())
                    if "event" not in msg:
                        return msg
                    events.append(msg)
            r = ask('{"execute": "query-status"}')
            expect(r.get("error", {}).get("class") == "CommandNotFound" and "qmp_capabilities" in r["error"]["desc"],
                   f"a command before negotiation: {r}")
            r = ask('{"execute": "qmp_capabilities"}')
            expect(r == {"return": {}}, f"qmp_capabilities: {r}")
            r = ask("{not json}")
            expect(r.get("error", {}).get("class") == "GenericError", f"malformed JSON: {r}")
            r = ask('{"execute": "query-status", "arguments": {"verbose": true}}')
            expect(r.get("error", {}).get("class") == "GenericError" and "'verbose'" in r["error"]["desc"],
                   f"an unknown argument: {r}")
            r = ask('{"execute": "frobnicate"}')
            expect(r.get("error", {}).get("class") == "CommandNotFound", f"unknown command: {r}")
            r = ask('{"execute": "suspend"}')
            expect("error" in r and "file" in r["error"]["desc"], f"suspend without file: {r}")
            r = ask('{"execute": "suspend", "arguments": {"file": "/nonexistent-dir/x.snap"}}')
            expect("error" in r and "nonexistent-dir" in r["error"]["desc"], f"unwritable file: {r}")
            r = ask('[1, 2]')
            expect("error" in r, f"array request: {r}")
            r = ask('{"execute": "query-restore"}')
            expect(r == {"return": {"status": "none"}}, f"query-restore of a booted VM: {r}")
            r = ask('{"execute": "stop", "id": 7}')
            expect(r == {"return": {}, "id": 7}, f"stop: {r}")
            expect([e["event"] for e in events] == ["STOP"] and
                   set(events[0]["timestamp"]) == {"seconds", "microseconds"}, f"events after stop: {events}")
            r = ask('{"execute": "query-status"}')
            expect(r["return"]["status"] == "paused" and r["return"]["running"] is False, f"status after stop: {r}")
            i1 = r["return"]["instructions"]
            time.sleep(0.3)
            r = ask('{"execute": "query-status"}')
            expect(r["return"]["instructions"] == i1, "the guest ran while paused")
            r = ask('{"execute": "cont"}')
            time.sleep(0.3)
            r = ask('{"execute": "query-status"}')
            expect(r["return"]["status"] == "running" and r["return"]["instructions"] > i1,
                   f"the guest did not continue: {r}")
            # One request over two lines and two on one line, as QEMU's parser takes them.
            f.write(b'{"execute":\n "query-name"}{"execute": "query-version", "id": "v"}\n')
            f.flush()
            r1, r2 = json.loads(f.readline()), json.loads(f.readline())
            expect(r1 == {"return": {}} and r2["id"] == "v" and "qemu" in r2["return"], f"split requests: {r1} {r2}")
            r = ask('{"execute": "quit"}')
            expect(r == {"return": {}}, f"quit: {r}")
            p.wait(timeout=30)
            expect(p.returncode == 0, f"quit exit status {p.returncode}")
            expect(not os.path.exists(sock), "the monitor socket was left behind")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 0xff]) + data[at + 1:]


class StartedProcess(subprocess.Popen):
    """subprocess.Popen, and so subprocess.run, noting every process a test
    starts: main() puts it in place of Popen and ends, by pid, whatever the
    test left running, whether it failed, raised or passed."""
    started = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        StartedProcess.started.append(self)


def end_leftovers():
    """Kills each process a test started that still runs; says which."""
    left = []
    for p in StartedProcess.started:
        if p.poll() is None:
            left.append(f"pid {p.pid}: {' '.join(map(str, p.args))[:160]}")
            p.kill()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                left[-1] += " (did not end on SIGKILL within 30 s)"
    return left


def main(tests, script):
    """Runs the test named on the command line (argv: TANDEM TEST_NAME).
    Processes the test leaves running are killed; leaving one fails a test
    that passed otherwise."""
    if len(sys.argv) != 3 or sys.argv[2] not in tests:
        print(f"usage: {script} TANDEM {{" + ",".join(tests) + "}")
        sys.exit(2)
    subprocess.Popen = StartedProcess
    status = 0
    try:
        tests[sys.argv[2]](sys.argv[1])
    except (Failure, subprocess.TimeoutExpired) as e:
        print("FAILED:", e)
        status = 1
    finally:
        left = end_leftovers()
        if left:
            print("killed what the test left running:\n  " + "\n  ".join(left))
    if status == 0 and left:
        print("FAILED: the test left processes running")
        status = 1
    if status:
        sys.exit(status)
    print("passed")


if __name__ == "__main__":
    main({name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}, "system_test.py")
