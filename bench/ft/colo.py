"""QEMU COLO beside tandem's quasi-lockstep (bench/ft/run --cases ...,qemu,colo).

A diskless COLO pair of Debian 12's qemu-system-riscv64 (7.2) on this host,
set up as QEMU's COLO-FT.txt describes (the block replication part left
out: the default guest has no disk). The primary's netdev (user
networking, the clients' forwarded port) feeds the guest; filter-mirror
copies that input to the secondary, filter-redirectors carry both guests'
output into colo-compare, which releases the primary's packets once the
secondary's match (filter-rewriter on the secondary evens out the TCP
sequence numbers). The secondary starts with -incoming, and the pair
enters COLO with the x-colo capability and a migration of the booted
guest.

Checkpoints are kept out of the run (x-checkpoint-delay beyond it, unless
--colo-checkpoint-ms asks for them): in QEMU 7.2 under TCG the first
checkpoint deadlocks the primary. The
migration thread calls qemu_savevm_live_state() without the big QEMU lock;
its dirty-bitmap sync ends in TCG's log_global_after_sync, whose
run_on_cpu() waits on a condition with that lock, so the thread comes
back owning it unawares and blocks on its own lock a moment later (QMP
stops answering). What is measured is COLO while the outputs match, which
is also what tandem's lockstep case does when it has no resync; a run that
needed a checkpoint (a mismatch, or a packet unmatched for colo-compare's
3 s) shows up as a primary that no longer answers QMP, and is reported as
broken. Failover is manual in COLO: after the primary's SIGKILL the bench
sends x-colo-lost-heartbeat and removes the secondary's redirectors
(object-del f2, f1), as the document's "Secondary Failover" does; the
time to the first correct answer includes those commands."""

import os
import random
import shutil
import signal
import time

from ftlib import Child, Load, append, free_port, log, lost_keys, measure, monitor, wait_correct_answer, wait_http

QEMU = shutil.which("qemu-system-riscv64")
FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
MAC = "52:54:00:12:34:56"  # the same NIC on both sides: one guest identity
NO_CHECKPOINT_MS = 3_600_000  # x-checkpoint-delay: no periodic checkpoint within a run
BROKEN = ("the COLO primary stopped answering QMP or running: a checkpoint was taken and hung it "
          "(QEMU 7.2 under TCG, see bench/ft/colo.py)")


def missing():
    """Why the QEMU cases cannot run here, or None."""
    if not QEMU:
        return "qemu-system-riscv64 not found (Debian package qemu-system-misc)"
    if not os.path.exists(FW):
        return f"{FW} not found (Debian package opensbi)"
    return None


def qemu_args(cfg, tmp, tag, netdev):
    """One QEMU of the default guest; its console goes to the log, QMP to tag.qmp."""
    return [QEMU, "-M", "virt", "-m", "256M", "-smp", str(cfg.smp), "-nographic", "-monitor", "none", "-bios", FW,
            "-kernel", cfg.kernel, "-initrd", cfg.initrd, "-append", append(cfg.memtouch, cfg.kvhttpd_threads),
            "-qmp", f"unix:{os.path.join(tmp, tag + '.qmp')},server=on,wait=off",
            "-netdev", f"user,id=hn0,{netdev}", "-device", f"virtio-net-device,netdev=hn0,mac={MAC}"]


def start_qemu(cfg, tmp, tag, port):
    """QEMU alone, unprotected: the reference for COLO's ratios."""
    vm = Child(tag, qemu_args(cfg, tmp, tag, f"hostfwd=tcp:127.0.0.1:{port}-:80"), os.path.join(tmp, f"{tag}.log"))
    return vm, os.path.join(tmp, f"{tag}.qmp")


def start_pair(cfg, tmp, tag, port, sport):
    """A primary answering on port and a secondary (its own forward on sport, used
    after failover), in COLO state when this returns. Returns (primary, secondary,
    primary QMP, secondary QMP)."""
    s = lambda name: os.path.join(tmp, f"{tag}-{name}.sock")
    ptag, stag = f"{tag}-primary", f"{tag}-secondary"
    primary = Child(ptag, qemu_args(cfg, tmp, ptag, f"hostfwd=tcp:127.0.0.1:{port}-:80") + [
        # mirror0: input to the secondary; compare1: the secondary's output;
        # compare0 and compare_out: loops inside the primary to and from colo-compare
        "-chardev", f"socket,id=mirror0,path={s('mirror')},server=on,wait=off",
        "-chardev", f"socket,id=compare1,path={s('compare1')},server=on,wait=off",
        "-chardev", f"socket,id=compare0,path={s('compare0')},server=on,wait=off",
        "-chardev", f"socket,id=compare0-0,path={s('compare0')}",
        "-chardev", f"socket,id=compare_out,path={s('compare_out')},server=on,wait=off",
        "-chardev", f"socket,id=compare_out0,path={s('compare_out')}",
        "-object", "filter-mirror,id=m0,netdev=hn0,queue=tx,outdev=mirror0",
        "-object", "filter-redirector,id=redire0,netdev=hn0,queue=rx,indev=compare_out",
        "-object", "filter-redirector,id=redire1,netdev=hn0,queue=rx,outdev=compare0",
        "-object", "iothread,id=iothread1",
        "-object", "colo-compare,id=comp0,primary_in=compare0-0,secondary_in=compare1,"
                   "outdev=compare_out0,iothread=iothread1"], os.path.join(tmp, f"{ptag}.log"))
    # The secondary's chardevs connect once the primary listens (else they retry
    # a second later, and the mirror drops what the primary's guest receives meanwhile).
    wait_for(lambda: all(os.path.exists(s(n)) for n in ("mirror", "compare1")), 10, "the primary's sockets", primary)
    secondary = Child(stag, qemu_args(cfg, tmp, stag, f"hostfwd=tcp:127.0.0.1:{sport}-:80") + [
        "-chardev", f"socket,id=red0,path={s('mirror')},reconnect=1",
        "-chardev", f"socket,id=red1,path={s('compare1')},reconnect=1",
        "-object", "filter-redirector,id=f1,netdev=hn0,queue=tx,indev=red0",
        "-object", "filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=red1",
        "-object", "filter-rewriter,id=rew0,netdev=hn0,queue=all",
        "-incoming", f"unix:{s('migrate')}"], os.path.join(tmp, f"{stag}.log"))
    pq, sq = os.path.join(tmp, f"{ptag}.qmp"), os.path.join(tmp, f"{stag}.qmp")
    # The guest boots on the primary alone; the secondary receives it booted.
    primary.wait_line(r"kvhttpd: listening", 120)
    wait_for(lambda: connected(sq, ("red0", "red1")), 10, "the secondary's connections to the primary", secondary)
    colo_cap = {"capabilities": [{"capability": "x-colo", "state": True}]}
    monitor(sq, "migrate-set-capabilities", colo_cap)
    monitor(pq, "migrate-set-capabilities", colo_cap)
    monitor(pq, "migrate-set-parameters", {"x-checkpoint-delay": cfg.colo_checkpoint_ms or NO_CHECKPOINT_MS})
    monitor(pq, "migrate", {"uri": f"unix:{s('migrate')}"})
    wait_for(lambda: monitor(pq, "query-migrate").get("status") == "colo", 60, "COLO state (x-colo migration)",
             primary)
    return primary, secondary, pq, sq


def connected(qmp, chardevs):
    """True when these socket chardevs of the QEMU behind qmp have their peer."""
    return os.path.exists(qmp) and all(not c["filename"].startswith("disconnected")
                                       for c in monitor(qmp, "query-chardev") if c["label"] in chardevs)


def wait_for(ready, timeout, what, child):
    deadline = time.monotonic() + timeout
    while not ready():
        if child.p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{child.name}: no {what} within {timeout} s:\n{child.text()[-2000:]}")
        time.sleep(0.02)


def wait_http_pair(port, primary, pq):
    """wait_http on the COLO primary, naming a hung checkpoint when that is why."""
    try:
        wait_http(port, primary, timeout=60)
    except RuntimeError as e:
        raise RuntimeError(str(e) if primary_healthy(pq) else BROKEN) from e


def primary_healthy(pq):
    """True when the primary still answers QMP and runs, as it does until its
    first checkpoint (see the module's comment)."""
    try:
        st = monitor(pq, "query-status", timeout=5)
    except OSError:
        return False
    return st.get("running") is True


def run_qemu(cfg, tmp):
    port = free_port()
    vm, _ = start_qemu(cfg, tmp, "qemu", port)
    try:
        wait_http(port, vm)
        return measure(port, cfg.clients, cfg.seconds, procs={"vm": vm.p.pid})[0]
    finally:
        vm.end()


def run_colo(cfg, tmp):
    port = free_port()
    primary, secondary, pq, _ = start_pair(cfg, tmp, "colo", port, free_port())
    try:
        wait_http_pair(port, primary, pq)
        res, _, healthy = measure(port, cfg.clients, cfg.seconds, lambda: primary_healthy(pq),
                                  procs={"primary": primary.p.pid, "secondary": secondary.p.pid})
        if not healthy:
            raise RuntimeError(BROKEN)
        return res
    finally:
        primary.end()
        secondary.end()


def failover_once(cfg, tmp, k):
    """SIGKILL of the primary under load, then COLO's manual failover on the
    secondary; timed to the first correct answer on the secondary's port."""
    sport = free_port()
    port = free_port()
    primary, secondary, pq, sq = start_pair(cfg, tmp, f"colo{k}", port, sport)
    try:
        wait_http_pair(port, primary, pq)
        load = Load(port, cfg.clients)
        for t in load.threads:
            t.start()
        time.sleep(random.uniform(2, 3.5))
        if not primary_healthy(pq):
            raise RuntimeError(BROKEN)
        want = load.acked[0]
        t0 = time.monotonic()
        primary.p.send_signal(signal.SIGKILL)
        load.stop.set()
        monitor(sq, "x-colo-lost-heartbeat")
        monitor(sq, "object-del", {"id": "f2"})  # the guest's output goes to its own netdev again
        monitor(sq, "object-del", {"id": "f1"})
        commands_ms = (time.monotonic() - t0) * 1000
        ms = wait_correct_answer(sport, want, t0, secondary)
        load.end()
        lost = lost_keys(sport, load.acked)
        r = {"kill_to_first_answer_ms": round(ms, 1), "lost_keys": lost,
             "kill_to_failover_commands_done_ms": round(commands_ms, 1)}
        log(f"colo failover {k}: {r}")
        return r
    finally:
        primary.end()
        secondary.end()
