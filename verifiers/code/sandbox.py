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
- network: a new network namespace (no interfaces but a down loopback), so no TCP, DNS or
  abstract unix sockets reach the host;
- other processes: new PID, IPC and UTS namespaces; ``kill(-1)`` or killing the parent reaches
  only the sandbox, and not even its PID 1 (the zygote); ``/proc/*/environ`` shows only
  sandbox processes, and bubblewrap itself is started with an empty environment, so no secret
  of the caller's is visible anywhere inside;
- privilege: the process runs as an unprivileged host uid (one per concurrent slot), with every
  capability dropped in a new user namespace in which it cannot create further user
  namespaces, so it cannot remount anything; the zygote is not dumpable, so runs cannot
  ``ptrace`` it or read its memory;
- one run affecting the next: see ``zygote.py`` (processes killed, ``/tmp``, ``/dev/shm`` and
  System V IPC emptied after every run, fresh ``__main__`` per run; a zygote that cannot be
  restored, stops answering or has served ``MAX_RUNS`` runs is replaced);
- resource exhaustion: rlimits on address space, CPU seconds, processes and threads (per
  slot uid), file size, open files, no core dumps; ``/tmp`` and ``/dev/shm`` have a size cap;
  stdout and stderr are read by the judge up to a byte cap and the run is killed past it;
- escaping the deadline: at the wall deadline the judge has the zygote SIGKILL every process
  of the run (double-forked daemons included); if the zygote does not confirm, the judge
  SIGKILLs bubblewrap, its PID 1 dies and the kernel kills everything left in the namespace;
- faking infrastructure failures: whether a run started and ended is read from the zygote's
  control socket, which no run can reach, never from the program's output.

What it does not protect against: kernel exploits (namespaces and rlimits are not a VM; use
gVisor or a VM for hostile workloads at scale); CPU-time side channels between concurrent
sandboxes; memory pressure up to the configured limit times the number of workers. cgroup v2
limits are applied only when a delegated cgroup v2 hierarchy is writable; otherwise
``isolation()`` reports them as unavailable and rlimits are the only resource limits.
"""

from __future__ import annotations

import fcntl
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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Each process that runs sandboxes holds one block of 256 host uids (one uid per concurrent
# slot) by an exclusive lock on a file, so two curations on one machine never share a uid
# (and with it the process-count limit, or the right to signal each other's processes).
UID_BASE, UID_BLOCK, UID_BLOCKS = 61000, 256, 64
LOCK_DIR = os.path.join(tempfile.gettempdir(), "branch-merge-sandbox-uids")
_slots = threading.Semaphore(UID_BLOCK)
_slot_lock = threading.Lock()
_free_slots: list[int] = list(range(UID_BLOCK))
_block: dict = {}


def _block_lock_path(block: int) -> str:
    return os.path.join(LOCK_DIR, f"{block}.lock")


def uid_block_in_use(uid: int) -> bool:
    """Whether a live process holds the uid block of ``uid`` (for leak checks)."""
    block = (uid - UID_BASE) // UID_BLOCK
    if not 0 <= block < UID_BLOCKS or not os.path.exists(_block_lock_path(block)):
        return False
    if _block.get("index") == block:
        return True
    fd = os.open(_block_lock_path(block), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _uid_base() -> int:
    with _slot_lock:
        if _block.get("pid") != os.getpid():  # first use, or a forked child: take a block of our own
            _block.clear()
            os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
            for block in range(UID_BLOCKS):
                fd = os.open(_block_lock_path(block), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                _block.update(base=UID_BASE + block * UID_BLOCK, index=block, fd=fd, pid=os.getpid())  # held until exit
                break
            else:
                raise RuntimeError(f"all {UID_BLOCKS} sandbox uid blocks are in use")
        return _block["base"]


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0  # per run
    cpu_s: int = 10
    memory_mb: int = 1024  # address space
    processes: int = 64  # processes + threads of one run
    file_mb: int = 16  # largest file it may write
    open_files: int = 64
    output_bytes: int = 4 << 20  # stdout and stderr, each
    tmp_mb: int = 64  # size of the private /tmp
    python: str = "/usr/bin/python3"


@dataclass
class ExecResult:
    returncode: int | None  # negative: killed by that signal (as in ``subprocess``)
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool = False
    output_exceeded: bool = False
    sandbox_error: str | None = None  # the sandbox itself failed (never the program's fault)

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


@lru_cache(maxsize=1)
def isolation() -> dict:
    """The isolation level actually available on this host (recorded in verdicts and reports)."""
    bwrap = shutil.which("bwrap")
    info = {"bwrap": None, "unprivileged_uid": False, "namespaces": [], "rlimits": True,
            "cgroup_v2": False, "python": Limits().python}
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
    info["cgroup_v2"] = _cgroup_v2_writable()
    if not info["unprivileged_uid"]:
        info["error"] = (probe.sandbox_error or probe.stderr.decode(errors="replace"))[:300]
    return info


def _cgroup_v2_writable() -> bool:
    path = "/sys/fs/cgroup/cgroup.subtree_control"
    return os.path.isfile(path) and os.access(path, os.W_OK)


def _acquire_slot() -> int:
    _slots.acquire()
    with _slot_lock:
        return _free_slots.pop()


def _release_slot(slot: int) -> None:
    with _slot_lock:
        _free_slots.append(slot)
    _slots.release()


def _bwrap_argv(tmp_mb: int, zygote_fd: int) -> list[str]:
    size = str(tmp_mb << 20)
    return ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--as-pid-1", "--cap-drop", "ALL", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
            "--size", size, "--tmpfs", "/tmp", "--file", str(zygote_fd), "/sbx/zygote.py",
            "--remount-ro", "/", "--chdir", "/tmp"]


class SandboxLost(Exception):
    """The zygote stopped answering or died: an infrastructure failure, never the program's fault."""


class _Zygote:
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
        self._slot = _acquire_slot()
        ctl, inside = socket.socketpair()
        self.ctl = ctl
        with tempfile.TemporaryFile() as source:
            source.write(_zygote_source())
            source.seek(0)
            argv = _bwrap_argv(tmp_mb, source.fileno()) + [
                python, "-I", "-S", "/sbx/zygote.py", str(inside.fileno())]
            uid = _uid_base() + self._slot
            try:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, pass_fds=(source.fileno(), inside.fileno()),
                                             user=uid, group=uid, extra_groups=[], start_new_session=True,
                                             env={"PATH": "/usr/bin:/bin"})  # bwrap's own init is visible inside
            except OSError as exc:
                self.destroy()
                raise SandboxLost(f"cannot start bwrap: {exc}") from None
            finally:
                inside.close()
        try:
            self.receive(timeout=30)
        except (SandboxLost, TimeoutError) as exc:
            self.destroy()
            raise SandboxLost(f"sandbox did not start: {exc}") from None

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
              python: tuple[str, ...] | None) -> _Run:
        (stdin_r, stdin_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
        run = _Run(self, stdin_w, out_r, err_r)
        job = {"files": files, "rlimits": _rlimits(limits), "argv": argv,
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
        return run

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
        if self._slot is not None:
            _release_slot(self._slot)
            self._slot = None

    def __del__(self):  # a worker thread ended: its zygotes go with it
        try:
            self.destroy()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _Run:
    """One run inside a zygote, shaped like the parts of ``subprocess.Popen`` the judge uses."""

    def __init__(self, zygote: _Zygote, stdin_fd: int, stdout_fd: int, stderr_fd: int):
        self.zygote = zygote
        self.pid: int | None = None
        self.returncode: int | None = None
        self.lost: str | None = None  # why the sandbox failed during the run
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


_local = threading.local()


def _zygote_for(limits: Limits) -> _Zygote:
    """The calling thread's idle zygote for these limits (started on first use)."""
    if _local.__dict__.get("pid") != os.getpid():  # first use in this thread, or in a forked child
        _local.__dict__.update(pid=os.getpid(), idle={})
    idle = _local.idle
    zygote = idle.pop((limits.python, limits.tmp_mb), None)
    if zygote is not None and zygote.usable():
        return zygote
    if zygote is not None:
        zygote.destroy()
    if shutil.which("bwrap") is None:  # looked up per sandbox start, not per run
        raise SandboxLost("bubblewrap (bwrap) is not installed")
    return _Zygote(limits.python, limits.tmp_mb)


def _put_back(zygote: _Zygote) -> None:
    idle = _local.__dict__.get("idle", {})
    if zygote.usable() and zygote.key not in idle and zygote.owner == os.getpid():
        idle[zygote.key] = zygote
    else:
        zygote.destroy()


@lru_cache(maxsize=1)
def _zygote_source() -> bytes:
    return (Path(__file__).parent / "zygote.py").read_bytes()


def _rlimits(limits: Limits) -> list[int]:
    """Values for zygote.LIMITS: address space, CPU, processes, file size, open files, core."""
    return [limits.memory_mb << 20, limits.cpu_s, limits.processes, limits.file_mb << 20, limits.open_files, 0]


class Sandbox:
    """One sandboxed run: start it, talk to it over stdin/stdout, then ``close()``.

    ``argv`` is executed (``execve``); ``python=(script, *args)`` runs ``/tmp/script`` as
    ``__main__`` in a fork of the sandbox's warm interpreter. ``files`` are placed in ``/tmp``.
    """

    def __init__(self, argv: list[str] | None = None, *, python: tuple[str, ...] | None = None,
                 files: dict[str, bytes | tuple[bytes, str]] | None = None, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.proc: _Run | None = None
        self.error: str | None = None
        self._zygote: _Zygote | None = None
        self.started = time.monotonic()
        placed = {name: data if isinstance(data, tuple) else (data, "0644") for name, data in (files or {}).items()}
        try:
            self._zygote = _zygote_for(self.limits)
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
            _put_back(self._zygote)
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
        return result
    finally:
        box.close()


def _communicate(proc: _Run, stdin: bytes, limits: Limits, t0: float) -> ExecResult:
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


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
