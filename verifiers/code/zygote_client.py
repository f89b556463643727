"""The judge's side of a zygote: one warm bubblewrap sandbox per worker thread, and its runs.

``Zygote`` starts bubblewrap with ``zygote.py`` as PID 1 and speaks its control-socket protocol;
``ZygoteRun`` is one run inside it; each thread keeps its idle zygotes for reuse (``zygote_for``,
``put_back``). ``SandboxLost`` is an infrastructure failure, never the program's fault.
"""

from __future__ import annotations

import marshal
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from verifiers.code.bwrap import bwrap_argv, proc_masks
from verifiers.code.cgroups import RunMemory, SandboxCgroup, fallback_processes
from verifiers.code.limits import Limits
from verifiers.code.uid_slots import acquire_slot, release_slot, uid_base


class SandboxLost(Exception):
    """The zygote stopped answering or died: an infrastructure failure, never the program's fault."""


class Zygote:
    """One bubblewrap sandbox holding a warm interpreter (``zygote.py``) that forks each run.

    It runs as one slot's unprivileged uid for its whole life and serves one run at a time.
    """

    MAX_RUNS = 1000  # replaced after this many runs, to bound whatever a run could leave behind

    def __init__(self, python: str, tmp_mb: int):
        self.key = (python, tmp_mb)
        self.owner = os.getpid()
        self.runs = 0
        self.broken = False
        self.proc: subprocess.Popen | None = None
        self._buffer = b""
        self.cgroup: SandboxCgroup | None = None
        self._slot = acquire_slot()
        ctl, inside = socket.socketpair()
        self.ctl = ctl
        masks = {path: _data_fd(data) for path, data in proc_masks().items()}
        with tempfile.TemporaryFile() as source:
            source.write(_zygote_source())
            source.seek(0)
            argv = bwrap_argv(tmp_mb, source.fileno(), masks) + [
                python, "-I", "-S", "/sbx/zygote.py", str(inside.fileno())]
            uid = uid_base() + self._slot
            try:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE,
                                             pass_fds=(source.fileno(), inside.fileno(), *masks.values()),
                                             user=uid, group=uid, extra_groups=[], start_new_session=True,
                                             env={"PATH": "/usr/bin:/bin"})  # bwrap's own init is visible inside
            except OSError as exc:
                self.destroy()
                raise SandboxLost(f"cannot start bwrap: {exc}") from None
            finally:
                inside.close()
                for fd in masks.values():
                    os.close(fd)
        try:
            self.receive(timeout=30)
        except (SandboxLost, TimeoutError) as exc:
            self.destroy()
            raise SandboxLost(f"sandbox did not start: {exc}") from None
        self._confine()

    def _confine(self) -> None:
        """Move bubblewrap and the zygote into a cgroup of their own (before any run exists), and
        make the zygote the last process the kernel would kill for memory. Without a cgroup the
        sandbox still works, with the weaker fallback bound recorded in each verdict."""
        tree = _descendants(self.proc.pid)
        for pid in tree:
            try:
                with open(f"/proc/{pid}/oom_score_adj", "w") as fh:
                    fh.write("-1000")
            except OSError:
                pass
        cgroup = SandboxCgroup.create()
        if cgroup is None:
            return
        try:
            for pid in tree:
                cgroup.add(pid)
        except OSError:
            _kill(self.proc)  # processes of a half-made cgroup must not serve runs
            self.proc.wait(timeout=10)
            cgroup.remove()
            self.broken = True
            raise SandboxLost("cannot move the sandbox into its cgroup") from None
        self.cgroup = cgroup

    def usable(self) -> bool:
        return not self.broken and self.proc is not None and self.proc.poll() is None and self.runs < self.MAX_RUNS

    def send(self, obj: dict) -> None:
        body = marshal.dumps(obj)
        try:
            self.ctl.sendall(len(body).to_bytes(4, "big") + body)
        except OSError as exc:
            self.broken = True
            raise SandboxLost(f"the sandbox is gone: {exc}") from None

    def receive(self, timeout: float | None) -> dict:
        """The next message; ``TimeoutError`` when none came in time, ``SandboxLost`` when it died."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if len(self._buffer) >= 4:
                size = int.from_bytes(self._buffer[:4], "big")
                if len(self._buffer) >= 4 + size:
                    body, self._buffer = self._buffer[4:4 + size], self._buffer[4 + size:]
                    return marshal.loads(body)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.ctl], [], [], remaining)
            if not ready:
                raise TimeoutError
            try:
                chunk = self.ctl.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.broken = True
                raise SandboxLost(self._stderr_tail() or "the sandbox exited")
            self._buffer += chunk

    def _stderr_tail(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        try:
            self.proc.wait(timeout=2)
            return self.proc.stderr.read(1 << 16).decode(errors="replace").strip()[-300:]
        except (subprocess.TimeoutExpired, OSError, ValueError):
            return ""

    def start(self, files: dict[str, tuple[bytes, str]], limits: Limits, argv: list[str] | None,
              python: tuple[str, ...] | None) -> ZygoteRun:
        (stdin_r, stdin_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
        run = ZygoteRun(self, stdin_w, out_r, err_r)
        if self.cgroup is not None:
            try:
                self.cgroup.arm(limits.memory_mb, limits.processes)
            except OSError as exc:
                run.close_pipes()
                for fd in (stdin_r, out_w, err_w):
                    os.close(fd)
                self.broken = True
                raise SandboxLost(f"cannot set the run's cgroup limits: {exc}") from None
        job = {"files": files, "rlimits": _rlimits(limits, self.cgroup is not None), "argv": argv,
               "script": python[0] if python else None, "args": list(python[1:]) if python else []}
        self.runs += 1
        try:
            try:
                socket.send_fds(self.ctl, [b"R"], [stdin_r, out_w, err_w])
            except OSError as exc:
                self.broken = True
                raise SandboxLost(f"the sandbox is gone: {exc}") from None
            finally:
                for fd in (stdin_r, out_w, err_w):
                    os.close(fd)
            self.send(job)
            try:
                reply = self.receive(timeout=30)
            except TimeoutError:
                self.broken = True
                raise SandboxLost("the sandbox did not start the run in 30s") from None
            if "pid" not in reply:
                self.broken = self.broken or bool(reply.get("tainted"))
                raise SandboxLost(f"the sandbox could not start the run: {reply.get('error')}")
        except SandboxLost:
            run.close_pipes()
            raise
        run.pid = reply["pid"]
        run.isolation = self._isolation(limits, reply.get("namespaces", []))
        return run

    def _isolation(self, limits: Limits, namespaces: list[str]) -> str:
        """What this run actually got, in the order it was set up (recorded in its verdict)."""
        parts = ["bwrap", "uid", *(f"{n}ns/run" for n in namespaces), "procmask", "rlimits"]
        if self.cgroup is not None:
            parts.append(f"cgroup{self.cgroup.version}:memory,pids")
        else:
            parts.append(f"tree<={limits.memory_mb * fallback_processes(limits.memory_mb, limits.processes)}MB")
        return "+".join(parts)

    def destroy(self) -> None:
        self.broken = True
        if os.getpid() != self.owner:  # a forked copy of the object: the sandbox is the parent's
            self.proc = self._slot = None
        if self.proc is not None:
            _kill(self.proc)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None
        self.ctl.close()
        if self.cgroup is not None and os.getpid() == self.owner:
            self.cgroup.remove()
            self.cgroup = None
        if self._slot is not None:
            release_slot(self._slot)
            self._slot = None

    def __del__(self):  # a worker thread ended: its zygotes go with it
        try:
            self.destroy()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class ZygoteRun:
    """One run inside a zygote, shaped like the parts of ``subprocess.Popen`` the judge uses."""

    def __init__(self, zygote: Zygote, stdin_fd: int, stdout_fd: int, stderr_fd: int):
        self.zygote = zygote
        self.pid: int | None = None
        self.returncode: int | None = None
        self.lost: str | None = None  # why the sandbox failed during the run
        self.isolation = "none"
        self.memory: RunMemory | None = None  # the host's reading of the run's cgroup
        self.stdin = open(stdin_fd, "wb")  # noqa: SIM115 - closed by close_pipes
        self.stdout = open(stdout_fd, "rb")  # noqa: SIM115
        self.stderr = open(stderr_fd, "rb")  # noqa: SIM115

    def finished(self) -> bool:
        return self.returncode is not None or self.lost is not None

    def wait(self, timeout: float | None = None) -> int | None:
        if self.finished():
            return self.returncode
        try:
            message = self.zygote.receive(timeout)
        except TimeoutError:
            raise subprocess.TimeoutExpired("sandboxed run", timeout) from None
        except SandboxLost as exc:
            self.lost = f"the sandbox died during the run: {exc}"
            return None
        self.returncode = os.waitstatus_to_exitcode(message["status"])
        if self.zygote.cgroup is not None:
            self.memory = self.zygote.cgroup.reading()
        if message.get("tainted"):
            self.zygote.broken = True
        return self.returncode

    def kill(self) -> None:
        if self.finished():
            return
        try:
            self.zygote.send({"op": "kill"})
        except SandboxLost:
            self.zygote.destroy()

    def stop(self) -> None:
        """Kill the run and wait until the zygote confirms; a zygote that does not is destroyed
        (which ends the run with it) and the run counts as lost."""
        self.kill()
        try:
            self.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.lost = "the sandbox did not stop the run"
            self.zygote.destroy()

    def close_pipes(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass


thread_zygotes = threading.local()


def zygote_for(limits: Limits) -> Zygote:
    """The calling thread's idle zygote for these limits (started on first use)."""
    if thread_zygotes.__dict__.get("pid") != os.getpid():  # first use in this thread, or in a forked child
        thread_zygotes.__dict__.update(pid=os.getpid(), idle={})
    idle = thread_zygotes.idle
    zygote = idle.pop((limits.python, limits.tmp_mb), None)
    if zygote is not None and zygote.usable():
        return zygote
    if zygote is not None:
        zygote.destroy()
    if shutil.which("bwrap") is None:  # looked up per sandbox start, not per run
        raise SandboxLost("bubblewrap (bwrap) is not installed")
    return Zygote(limits.python, limits.tmp_mb)


def put_back(zygote: Zygote) -> None:
    idle = thread_zygotes.__dict__.get("idle", {})
    if zygote.usable() and zygote.key not in idle and zygote.owner == os.getpid():
        idle[zygote.key] = zygote
    else:
        zygote.destroy()


@lru_cache(maxsize=1)
def _zygote_source() -> bytes:
    return (Path(__file__).parent / "zygote.py").read_bytes()


def _rlimits(limits: Limits, tree_limited: bool) -> list[int]:
    """Values for zygote.LIMITS: address space, CPU, processes, file size, open files, core.

    With a cgroup the tree's memory is the limit, and the address space rlimit is set well above
    it so that the cgroup, which the host reads, is what a memory bomb runs into. Without one,
    address space is limited per process and the process budget is cut to bound the tree."""
    if tree_limited:
        return [(limits.memory_mb * 4 + 1024) << 20, limits.cpu_s, limits.processes, limits.file_mb << 20,
                limits.open_files, 0]
    return [limits.memory_mb << 20, limits.cpu_s, fallback_processes(limits.memory_mb, limits.processes),
            limits.file_mb << 20, limits.open_files, 0]


def _data_fd(data: bytes) -> int:
    fd = os.memfd_create("bm-sandbox-data", 0)  # inheritable by bwrap through pass_fds
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (bubblewrap and the zygote it started)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            pass
    return found


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
