"""Run untrusted programs in a bubblewrap sandbox.

What it protects against (each has an adversarial test in ``tests/test_sandbox_attacks.py``):

- reading host files: the sandbox root holds only ``/usr`` (read-only) and its ``/lib``,
  ``/lib64`` and ``/bin`` links, ``/etc/alternatives`` (library symlinks, read-only), a fresh
  ``/proc`` and ``/dev``, and a private, size-capped ``/tmp`` that is the work dir; the rest of
  ``/etc`` (``/etc/shadow``), ``/root`` and ``/home`` are absent, and so are the tests;
- writing outside the work dir: ``/`` is remounted read-only, ``/usr`` is a read-only bind;
- network: a new network namespace (no interfaces but a down loopback), so no TCP, DNS or
  abstract unix sockets reach the host;
- other processes: new PID, IPC and UTS namespaces; ``kill(-1)`` or killing the parent reaches
  only the sandbox; ``/proc/*/environ`` shows only sandbox processes, and bubblewrap itself is
  started with an empty environment, so no secret of the caller's is visible anywhere inside;
- privilege: the process runs as an unprivileged host uid (one per concurrent slot), with every
  capability dropped in a new user namespace in which it cannot create further user
  namespaces, so it cannot remount anything;
- resource exhaustion: rlimits on address space, CPU seconds, processes and threads (per
  slot uid), file size, open files, no core dumps; the ``/tmp`` tmpfs has a size cap; stdout
  and stderr are read by the judge up to a byte cap and the run is killed past it;
- escaping the deadline: the judge SIGKILLs bubblewrap at the wall deadline; the sandbox's
  PID-1 dies with it and the kernel kills everything left in the namespace, double-forked
  daemons included;
- faking infrastructure failures: whether the sandbox started is read from bubblewrap's own
  status channel, never from the program's output.

What it does not protect against: kernel exploits (namespaces and rlimits are not a VM; use
gVisor or a VM for hostile workloads at scale); CPU-time side channels between concurrent
sandboxes; memory pressure up to the configured limit times the number of workers. cgroup v2
limits are applied only when a delegated cgroup v2 hierarchy is writable; otherwise
``isolation()`` reports them as unavailable and rlimits are the only resource limits.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

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
        if "base" not in _block:
            os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
            for block in range(UID_BLOCKS):
                fd = os.open(_block_lock_path(block), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                _block.update(base=UID_BASE + block * UID_BLOCK, index=block, fd=fd)  # held until exit
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
    returncode: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool = False
    output_exceeded: bool = False
    sandbox_error: str | None = None  # the sandbox itself failed (never the program's fault)


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
    probe = run(["true"], limits=Limits(wall_s=20), raw=True)
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


def _bwrap_argv(limits: Limits, files: dict[str, int], status_fd: int) -> list[str]:
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    for name, (fd, mode) in files.items():
        argv += ["--perms", mode, "--file", str(fd), f"/tmp/{name}"]
    argv += ["--remount-ro", "/", "--chdir", "/tmp", "--json-status-fd", str(status_fd)]
    return argv


def _rlimits(limits: Limits) -> list[str]:
    mem = limits.memory_mb << 20
    return ["/usr/bin/prlimit", f"--as={mem}", f"--cpu={limits.cpu_s}", f"--nproc={limits.processes}",
            f"--fsize={limits.file_mb << 20}", f"--nofile={limits.open_files}", "--core=0", "--"]


class Sandbox:
    """One sandboxed process: start it, talk to it over stdin/stdout, then ``finish()``."""

    def __init__(self, argv: list[str], *, files: dict[str, bytes | tuple[bytes, str]] | None = None,
                 limits: Limits | None = None, raw: bool = False):
        self.limits = limits or Limits()
        self.proc: subprocess.Popen | None = None
        self.error: str | None = None
        self._handles = []
        self._slot: int | None = None
        self._status_r: int | None = None
        if shutil.which("bwrap") is None:
            self.error = "bubblewrap (bwrap) is not installed"
            return
        self._slot = _acquire_slot()
        fds: dict[str, tuple[int, str]] = {}
        for name, data in (files or {}).items():
            content, mode = data if isinstance(data, tuple) else (data, "0644")
            fh = tempfile.TemporaryFile()
            fh.write(content)
            fh.seek(0)
            self._handles.append(fh)
            fds[name] = (fh.fileno(), mode)
        status_r, status_w = os.pipe()
        cmd = _bwrap_argv(self.limits, fds, status_w) + ([] if raw else _rlimits(self.limits)) + argv
        uid = _uid_base() + self._slot
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         pass_fds=(*(fd for fd, _ in fds.values()), status_w), user=uid, group=uid,
                                         extra_groups=[], start_new_session=True, close_fds=True,
                                         env={"PATH": "/usr/bin:/bin"})  # bwrap's own init is visible inside
        except OSError as exc:
            os.close(status_r)
            self.error = f"cannot start bwrap: {exc}"
        else:
            self._status_r = status_r
        finally:
            os.close(status_w)

    def kill(self) -> None:
        if self.proc is not None:
            _kill(self.proc)

    def started_ok(self) -> bool:
        """Whether bubblewrap reported its child as started (read after the process ended)."""
        if self._status_r is None:
            return False
        with os.fdopen(self._status_r, "rb") as fh:
            status = fh.read().decode(errors="replace")
        self._status_r = None
        return '"child-pid"' in status

    def close(self) -> None:
        self.kill()
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._status_r is not None:
            os.close(self._status_r)
            self._status_r = None
        for fh in self._handles:
            fh.close()
        self._handles.clear()
        if self._slot is not None:
            _release_slot(self._slot)
            self._slot = None


def run(argv: list[str], *, files: dict[str, bytes | tuple[bytes, str]] | None = None, stdin: bytes = b"",
        limits: Limits | None = None, raw: bool = False) -> ExecResult:
    """Run ``argv`` inside the sandbox with ``files`` placed in ``/tmp`` (the work dir).

    ``raw=True`` skips the ``prlimit`` wrapper: for a command that applies the rlimits itself
    (``launcher.py``) or a trusted probe.
    """
    box = Sandbox(argv, files=files, limits=limits, raw=raw)
    try:
        if box.error:
            return ExecResult(None, None, b"", b"", 0.0, sandbox_error=box.error)
        result = _communicate(box.proc, stdin, box.limits, box.started)
        if not box.started_ok():
            result.sandbox_error = "sandbox did not start: " + result.stderr.decode(errors="replace")[-300:]
        return result
    finally:
        box.close()


def _communicate(proc: subprocess.Popen, stdin: bytes, limits: Limits, t0: float) -> ExecResult:
    out, err = bytearray(), bytearray()
    state = {"exceeded": False}

    def pump(stream, buf):
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            if len(buf) < limits.output_bytes:
                buf += chunk[: limits.output_bytes - len(buf)]
            if len(buf) >= limits.output_bytes:
                state["exceeded"] = True
                _kill(proc)
                return

    readers = [threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err), daemon=True)]
    for t in readers:
        t.start()
    try:
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        proc.wait()
    for t in readers:
        t.join(timeout=5)
    wall = time.monotonic() - t0
    code = proc.returncode
    sig = -code if code is not None and code < 0 else None
    if code is not None and code > 128 and not timed_out:  # prlimit/bwrap report a signal death as 128+N
        sig = code - 128
    return ExecResult(code, sig, bytes(out), bytes(err), wall, timed_out=timed_out,
                      output_exceeded=state["exceeded"])


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
