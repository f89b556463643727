"""Run untrusted programs in a bubblewrap sandbox.

What it protects against (each has an adversarial test in ``tests/test_sandbox_attacks.py``):

How a run happens: each worker thread keeps one sandbox (bubblewrap, as one unprivileged host
uid) whose PID 1 is ``zygote.py``, a warm interpreter. The judge sends it a run (files, rlimits,
a Python script or an ``argv``, the stdio pipes); the zygote forks a child for it, and after the
child ends it kills every process left in the namespace and empties ``/tmp`` and ``/dev/shm``.
Starting bubblewrap and an interpreter once per worker instead of once per run is what makes
sandboxed judging about as fast as running the programs bare (``bench/sandbox.py``).

- reading host files: the sandbox root holds only ``/usr`` (read-only) and its ``/lib``,
  ``/lib64`` and ``/bin`` links, ``/etc/alternatives`` (library symlinks, read-only), a fresh
  ``/proc``, a read-only ``/dev`` with a private ``/dev/shm``, and a private, size-capped
  ``/tmp`` that is the work dir; the rest of ``/etc`` (``/etc/shadow``), ``/root`` and ``/home``
  are absent, and so are the tests;
- writing outside the work dir: ``/`` and ``/dev`` are read-only, ``/usr`` is a read-only bind;
- network: a new network namespace per run (no interface but a down loopback), so no TCP, DNS
  or abstract unix socket reaches the host, another sandbox or the next run;
- host information: ``/proc/loadavg``, ``meminfo``, ``stat``, ``uptime``, ``cmdline``, ``vmstat``,
  ``diskstats``, ``interrupts``, ``softirqs``, ``schedstat``, ``zoneinfo``, ``pressure/*`` and
  ``sys/kernel/random/boot_id`` are replaced by fixed contents, the hostname is ``sandbox``;
  still visible: the kernel version, ``/proc/cpuinfo``, the CPU count, and what ``sysinfo(2)``
  returns (host uptime, load and memory: a syscall, not a file);
- other processes: new PID and UTS namespaces, a new IPC namespace per run; ``kill(-1)`` or killing the parent reaches
  only the sandbox, and not even its PID 1 (the zygote); ``/proc/*/environ`` shows only
  sandbox processes, and bubblewrap itself is started with an empty environment, so no secret
  of the caller's is visible anywhere inside;
- privilege: the process runs as an unprivileged host uid (one per concurrent slot), with every
  capability dropped in a new user namespace in which it cannot create further user
  namespaces, so it cannot remount anything; the zygote is not dumpable, so runs cannot
  ``ptrace`` it or read its memory;
- one run affecting the next: see ``zygote.py`` (processes killed, ``/tmp`` and ``/dev/shm``
  emptied after every run, new network and IPC namespaces and a fresh ``__main__`` per run; a
  zygote that cannot be restored, stops answering or has served ``MAX_RUNS`` runs is replaced);
- resource exhaustion: where the judge can create cgroups (root; v1 memory+pids, or v2) each
  sandbox has its own (``cgroups.py``) and every run's whole tree gets ``memory_mb`` and
  ``processes`` there; memory exhaustion (MLE) is read from the cgroup's counters by the host,
  not from the program's output. Where it cannot, address space is limited per process and
  the process budget is cut so that ``memory_mb x processes`` stays under ``FALLBACK_TREE_MB``.
  Each verdict's ``isolation`` names which bound was in force for its run. Always: rlimits on
  CPU seconds, processes and threads (per slot uid), file size, open files, no core dumps;
  ``/tmp`` and ``/dev/shm`` have a size cap; stdout and stderr are read by the judge up to a
  byte cap and the run is killed past it;
- escaping the deadline: at the wall deadline the judge has the zygote SIGKILL every process
  of the run (double-forked daemons included); if the zygote does not confirm, the judge
  SIGKILLs bubblewrap, its PID 1 dies and the kernel kills everything left in the namespace;
- faking infrastructure failures: whether a run started and ended is read from the zygote's
  control socket, which no run can reach, never from the program's output.

What it does not protect against: kernel exploits (namespaces and rlimits are not a VM; use
gVisor or a VM for hostile workloads at scale); CPU-time side channels between concurrent
sandboxes; memory pressure up to the configured limit times the number of workers; runs of one
zygote share its (random, read-only) hash seed. The zygote holds CAP_SYS_ADMIN in the sandbox's
own user namespace (to make each run's namespaces); runs hold no capability (tested).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from verifiers.code.cgroups import FALLBACK_TREE_MB, tree_limits
from verifiers.code.limits import Limits
from verifiers.code.uid_slots import UID_BASE as UID_BASE
from verifiers.code.uid_slots import UID_BLOCK as UID_BLOCK
from verifiers.code.uid_slots import UID_BLOCKS as UID_BLOCKS
from verifiers.code.uid_slots import uid_base as uid_base  # the tests read a zygote's uid
from verifiers.code.uid_slots import uid_block_in_use as uid_block_in_use
from verifiers.code.zygote_client import SandboxLost, Zygote, ZygoteRun, put_back, zygote_for
from verifiers.code.zygote_client import thread_zygotes as thread_zygotes  # the tests inspect the idle zygotes


@dataclass
class ExecResult:
    returncode: int | None  # negative: killed by that signal (as in ``subprocess``)
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool = False
    output_exceeded: bool = False
    sandbox_error: str | None = None  # the sandbox itself failed (never the program's fault)
    isolation: str = "none"  # the mechanisms this run actually got (see ``Zygote._isolation``)
    memory_exceeded: bool = False  # the host saw the run's tree reach its cgroup memory limit
    peak_mb: float | None = None  # the tree's peak memory as the host's cgroup recorded it (v1)

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


@lru_cache(maxsize=1)
def isolation() -> dict:
    """The isolation level actually available on this host (recorded in verdicts and reports)."""
    bwrap = shutil.which("bwrap")
    info = {"bwrap": None, "unprivileged_uid": False, "namespaces": [], "rlimits": True,
            "tree_limits": None, "python": Limits().python, "libraries": _libraries(Limits().python)}
    if bwrap is None:
        return info
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return info
    info["bwrap"] = version
    probe = run(["true"], limits=Limits(wall_s=20))
    info["unprivileged_uid"] = probe.sandbox_error is None and probe.returncode == 0
    info["namespaces"] = ["user", "pid", "net", "ipc", "uts", "mount", "cgroup"] if info["unprivileged_uid"] else []
    info["per_run"] = [p for p in probe.isolation.split("+") if p.endswith("/run")]
    kind = tree_limits()
    info["tree_limits"] = (f"cgroup v{kind}: memory and pids of each run's whole tree" if kind else
                           f"none: per-process address space, processes cut so the tree stays <= "
                           f"{FALLBACK_TREE_MB} MB")
    info["isolation"] = probe.isolation
    if not info["unprivileged_uid"]:
        info["error"] = (probe.sandbox_error or probe.stderr.decode(errors="replace"))[:300]
    return info


def _libraries(python: str) -> dict[str, str | None]:
    """Versions of the third-party libraries candidates may import (None: missing)."""
    code = ("import importlib\nfor m in ('numpy', 'sortedcontainers'):\n    try:\n"
            "        print(m, getattr(importlib.import_module(m), '__version__', '?'))\n"
            "    except ImportError:\n        print(m, '-')\n")
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    pairs = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {m: (None if v == "-" else v) for m, v in pairs.items()}


class Sandbox:
    """One sandboxed run: start it, talk to it over stdin/stdout, then ``close()``.

    ``argv`` is executed (``execve``); ``python=(script, *args)`` runs ``/tmp/script`` as
    ``__main__`` in a fork of the sandbox's warm interpreter. ``files`` are placed in ``/tmp``.
    """

    def __init__(self, argv: list[str] | None = None, *, python: tuple[str, ...] | None = None,
                 files: dict[str, bytes | tuple[bytes, str]] | None = None, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.proc: ZygoteRun | None = None
        self.error: str | None = None
        self._zygote: Zygote | None = None
        self.started = time.monotonic()
        placed = {name: data if isinstance(data, tuple) else (data, "0644") for name, data in (files or {}).items()}
        try:
            self._zygote = zygote_for(self.limits)
            self.started = time.monotonic()
            self.proc = self._zygote.start(placed, self.limits, argv, python)
        except SandboxLost as exc:
            self.error = str(exc)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def started_ok(self) -> bool:
        """Whether the run started and the sandbox lasted until it ended."""
        return self.proc is not None and self.proc.lost is None

    def close(self) -> None:
        if self.proc is not None:
            if not self.proc.finished():
                self.proc.stop()
            self.proc.close_pipes()
            self.proc = None
        if self._zygote is not None:
            put_back(self._zygote)
            self._zygote = None


def run(argv: list[str] | None = None, *, python: tuple[str, ...] | None = None,
        files: dict[str, bytes | tuple[bytes, str]] | None = None, stdin: bytes = b"",
        limits: Limits | None = None) -> ExecResult:
    """Run ``argv`` (or the Python script ``python[0]`` with arguments) inside the sandbox, with
    ``files`` placed in ``/tmp`` (the work dir); stdin is fed, stdout and stderr are capped."""
    box = Sandbox(argv, python=python, files=files, limits=limits)
    try:
        if box.error:
            return ExecResult(None, b"", b"", 0.0, sandbox_error=box.error)
        result = _communicate(box.proc, stdin, box.limits, box.started)
        if not box.started_ok():
            result.sandbox_error = box.proc.lost
        result.isolation = box.proc.isolation
        if box.proc.memory is not None:
            # v1 counts page cache against the limit, so reaching it (failcnt) alone is routine
            # for a program that reads many files; it is memory exhaustion when something was
            # OOM-killed, or when the run then failed.
            mem = box.proc.memory
            failed = result.returncode != 0 or result.signal is not None
            result.memory_exceeded = mem.oom_killed or (mem.exceeded and failed)
            result.peak_mb = mem.peak_mb
        return result
    finally:
        box.close()


def _communicate(proc: ZygoteRun, stdin: bytes, limits: Limits, t0: float) -> ExecResult:
    out, err = bytearray(), bytearray()
    state = {"exceeded": False}

    def pump(stream, buf):
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                return
            if len(buf) < limits.output_bytes:
                buf += chunk[: limits.output_bytes - len(buf)]
            if len(buf) >= limits.output_bytes:
                state["exceeded"] = True
                proc.kill()
                return

    def feed():
        try:
            if stdin:
                proc.stdin.write(stdin)
            proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    threads = [threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err), daemon=True)]
    if len(stdin) <= 16384:  # fits the pipe: no thread needed to feed it
        feed()
    else:  # a program that never reads its input must not block the judge past the deadline
        threads.append(threading.Thread(target=feed, daemon=True))
    for t in threads:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.stop()
    for t in threads:
        t.join(timeout=5)
    wall = time.monotonic() - t0
    return ExecResult(proc.returncode, bytes(out), bytes(err), wall, timed_out=timed_out,
                      output_exceeded=state["exceeded"])
