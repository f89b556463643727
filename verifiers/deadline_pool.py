"""A process pool in which every item runs under a hard wall-clock limit.

Why not ``signal.alarm``: it only works in the main thread, and a C-level loop inside sympy
(``9**9**9**9``) never returns to the interpreter to receive the signal. Here an item that
overruns has its worker process killed (SIGKILL) and replaced, and the caller gets a
``TIMEOUT`` result for that item; the other items of its chunk are re-queued.

Workers are forked from a small fork server (``python -m verifiers.deadline_pool``) that has
imported the task's module and run its optional ``warmup()``: every worker starts warm (for
math, with the LaTeX parser's tables already built), replacing a killed worker takes
milliseconds, the caller's ``__main__`` is never re-imported, and nothing is forked from the
caller's own (possibly multi-threaded) process. Workers die with the server and the server
dies with the caller (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import importlib
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import recvfds, sendfds

TIMEOUT = ("timeout", None)
_START_TIMEOUT_S = 120.0


def _resolve(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _die_with_parent(parent_pid: int) -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent_pid:
        os._exit(0)


def _worker_loop(inbox: Connection, outbox: Connection, fn) -> None:
    outbox.send(("ready", os.getpid()))
    while True:
        try:
            chunk = inbox.recv()
        except EOFError:
            return
        if chunk is None:
            return
        if chunk == "clear_caches":
            clear = getattr(sys.modules.get(fn.__module__), "clear_caches", None)
            if clear is not None:
                clear()
            continue
        for index, item in chunk:
            try:
                out = ("ok", fn(item))
            except MemoryError:
                out = ("error", "MemoryError")
            except Exception as exc:  # a verifier bug must not take the pool down
                out = ("error", f"{type(exc).__name__}: {exc}"[:300])
            outbox.send((index, out))


def _serve(ctrl_fd: int, fn_ref: str, memory_bytes: int, parent_pid: int, warm: bool) -> None:
    """Fork server: one byte in on the control socket -> one warm worker out (pid + 2 pipe fds)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    fn = _resolve(fn_ref)
    if warm:
        warmup = getattr(importlib.import_module(fn_ref.partition(":")[0]), "warmup", None)
        if warmup is not None:
            warmup()
    ctrl = socket.socket(fileno=ctrl_fd)
    ctrl.sendall(b"R")
    server_pid = os.getpid()
    while True:
        try:
            cmd = ctrl.recv(1)
        except OSError:
            return
        if not cmd:
            return
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                ctrl.close()
                os.close(to_child_w)
                os.close(from_child_r)
                _die_with_parent(server_pid)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                if memory_bytes:
                    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
                _worker_loop(Connection(to_child_r, writable=False), Connection(from_child_w, readable=False), fn)
            finally:
                os._exit(0)
        os.close(to_child_r)
        os.close(from_child_w)
        ctrl.sendall(struct.pack("!i", pid))
        sendfds(ctrl, [to_child_w, from_child_r])
        os.close(to_child_w)
        os.close(from_child_r)


@dataclass
class _Worker:
    pid: int
    conn: Connection  # results from the worker
    inbox: Connection  # chunks to the worker
    ready: bool = False
    started: float = field(default_factory=time.monotonic)
    last: float = field(default_factory=time.monotonic)
    current: deque = field(default_factory=deque)


class DeadlinePool:
    """``map`` items through ``fn_ref`` (``"module:function"``) with a per-item wall limit.

    Each result is ``("ok", value)``, ``("error", message)``, ``("crash", None)`` (the worker
    died) or ``TIMEOUT``; ``map`` itself never raises for a bad item.
    """

    def __init__(self, fn_ref: str, workers: int | None = None, *, memory_bytes: int = 4 << 30,
                 warm: bool = False):
        """``warm``: run the task module's ``warmup()`` in the fork server first, so every worker
        (including replacements of killed ones) starts warm. Worth it for large batches only."""
        self.fn_ref = fn_ref
        self.warm = warm
        self.size = max(1, workers or os.cpu_count() or 1)
        self.memory_bytes = memory_bytes
        self._workers: list[_Worker] = []
        self._server: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def _ensure_server(self) -> None:
        if self._server is not None and self._server.poll() is None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "verifiers.deadline_pool", str(theirs.fileno()), self.fn_ref,
               str(self.memory_bytes), str(os.getpid()), "1" if self.warm else "0"]
        # Started from a thread that lives as long as the process: the server's PR_SET_PDEATHSIG
        # fires when the *thread* that forked it ends, so a server started from a short-lived
        # caller thread (a worker thread of an RL trainer, asyncio.to_thread) would die with it.
        self._server = _spawner().submit(subprocess.Popen, cmd, pass_fds=(theirs.fileno(),), env=env,
                                         stdin=subprocess.DEVNULL).result()
        theirs.close()
        ours.settimeout(_START_TIMEOUT_S)
        try:
            if ours.recv(1) != b"R":
                raise RuntimeError(f"verifier fork server for {self.fn_ref} failed to start")
        except TimeoutError:
            raise RuntimeError(f"verifier fork server for {self.fn_ref} did not start in {_START_TIMEOUT_S:.0f}s"
                               ) from None
        self._ctrl = ours

    def _spawn(self) -> _Worker:
        self._ensure_server()
        self._ctrl.sendall(b"F")
        (pid,) = struct.unpack("!i", self._recv_exact(4))
        to_child, from_child = recvfds(self._ctrl, 2)
        return _Worker(pid, Connection(from_child, writable=False), Connection(to_child, readable=False))

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._ctrl.recv(n - len(data))
            if not chunk:
                raise RuntimeError(f"verifier fork server for {self.fn_ref} died")
            data += chunk
        return data

    @staticmethod
    def _kill(worker: _Worker) -> None:
        try:
            os.kill(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.conn.close()
        worker.inbox.close()

    def _replace(self, worker: _Worker) -> _Worker:
        self._kill(worker)
        self.restarts += 1
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def map(self, items: list, *, timeout_s: float, chunk_size: int = 8) -> list:
        """Results in item order; calls from several threads take turns (one batch at a time)."""
        with self._lock:
            return self._map(items, timeout_s=timeout_s, chunk_size=chunk_size)

    def _map(self, items: list, *, timeout_s: float, chunk_size: int = 8) -> list:
        n = len(items)
        results: list = [None] * n
        if n == 0:
            return results
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())
        queue: deque = deque()
        start = 0
        while start < n:  # chunks shrink towards the end so that no worker is left with a long tail
            size = max(1, min(chunk_size, (n - start) // (2 * self.size)))
            queue.append([(i, items[i]) for i in range(start, min(n, start + size))])
            start += size
        remaining = n
        while remaining:
            now = time.monotonic()
            for w in self._workers:
                if w.ready and not w.current and queue:
                    chunk = queue.popleft()
                    w.inbox.send(chunk)
                    w.current = deque(chunk)
                    w.last = now
            deadlines = [w.last + timeout_s for w in self._workers if w.current]
            deadlines += [w.started + _START_TIMEOUT_S for w in self._workers if not w.ready]
            wait_s = max(0.0, min(deadlines) - now) if deadlines else 0.05
            for conn in wait([w.conn for w in self._workers], timeout=wait_s):
                w = next(x for x in self._workers if x.conn is conn)
                try:
                    tag, payload = conn.recv()
                except (EOFError, OSError):
                    if w.current:
                        index, _ = w.current.popleft()
                        results[index] = ("crash", None)
                        remaining -= 1
                        if w.current:
                            queue.appendleft(list(w.current))
                    self._replace(w)
                    continue
                w.last = time.monotonic()
                if tag == "ready":
                    w.ready = True
                    continue
                w.current.popleft()
                results[tag] = payload
                remaining -= 1
            now = time.monotonic()
            for w in list(self._workers):
                if w.current and now - w.last > timeout_s:
                    index, _ = w.current.popleft()
                    results[index] = TIMEOUT
                    remaining -= 1
                    if w.current:
                        queue.appendleft(list(w.current))
                    self._replace(w)
                elif not w.ready and now - w.started > _START_TIMEOUT_S:
                    raise RuntimeError(f"verifier worker for {self.fn_ref} did not start "
                                       f"within {_START_TIMEOUT_S:.0f}s")
        return results

    def clear_caches(self) -> None:
        """Have every live worker call its task module's ``clear_caches()`` before its next chunk
        (per-item memos go; warm parser tables stay). For like-for-like benchmarks."""
        for w in self._workers:
            try:
                w.inbox.send("clear_caches")
            except OSError:
                pass

    def close(self) -> None:
        for w in self._workers:
            try:
                w.inbox.send(None)
            except OSError:
                pass
            self._kill(w)
        self._workers.clear()
        if self._ctrl is not None:
            self._ctrl.close()
            self._ctrl = None
        if self._server is not None:
            try:
                self._server.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait(timeout=2)
            self._server = None


_POOLS: dict[tuple[str, int], DeadlinePool] = {}
_POOLS_LOCK = threading.Lock()
_SPAWNER: list[ThreadPoolExecutor] = []


def _spawner() -> ThreadPoolExecutor:
    """The one long-lived thread fork servers are started from (created on first use)."""
    with _POOLS_LOCK:
        if not _SPAWNER:
            _SPAWNER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="deadline-pool-spawner"))
        return _SPAWNER[0]


def shared_pool(fn_ref: str, workers: int | None = None, *, warm: bool = False) -> DeadlinePool:
    """One pool per (function, size), reused across calls and closed at exit.

    ``warm`` applies when the pool is first created (a large first batch asks for it).
    """
    size = max(1, workers or os.cpu_count() or 1)
    key = (fn_ref, size)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = DeadlinePool(fn_ref, size, warm=warm)
        return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
