"""A process pool in which every item runs under a hard wall-clock limit.

Why not ``signal.alarm``: it only works in the main thread, and a C-level loop inside sympy
(``9**9**9**9``) never returns to the interpreter to receive the signal. Here an item that
overruns has its worker process killed (SIGKILL) and replaced, and the caller gets a
``TIMEOUT`` result for that item; the other items of its chunk are re-queued.

Workers are plain ``python -m verifiers.deadline_pool`` subprocesses talking over pipes, so
the caller's ``__main__`` is never re-imported (no ``if __name__ == "__main__"`` needed) and
nothing is forked from a threaded parent. A worker dies with its parent (``PR_SET_PDEATHSIG``)
and its start-up time never counts against an item.
"""

from __future__ import annotations

import atexit
import importlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

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


def _worker_main(read_fd: int, write_fd: int, fn_ref: str, memory_bytes: int, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    fn = _resolve(fn_ref)
    outbox.send(("ready", None))
    while True:
        try:
            chunk = inbox.recv()
        except EOFError:
            return
        if chunk is None:
            return
        for index, item in chunk:
            try:
                out = ("ok", fn(item))
            except MemoryError:
                out = ("error", "MemoryError")
            except Exception as exc:  # a verifier bug must not take the pool down
                out = ("error", f"{type(exc).__name__}: {exc}"[:300])
            outbox.send((index, out))


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    inbox: Connection
    ready: bool = False
    started: float = field(default_factory=time.monotonic)
    last: float = field(default_factory=time.monotonic)
    current: deque = field(default_factory=deque)


class DeadlinePool:
    """``map`` items through ``fn_ref`` (``"module:function"``) with a per-item wall limit.

    Each result is ``("ok", value)``, ``("error", message)``, ``("crash", exitcode)`` or
    ``TIMEOUT``; ``map`` itself never raises for a bad item.
    """

    def __init__(self, fn_ref: str, workers: int | None = None, *, memory_bytes: int = 4 << 30):
        self.fn_ref = fn_ref
        self.size = max(1, workers or os.cpu_count() or 1)
        self.memory_bytes = memory_bytes
        self._workers: list[_Worker] = []
        self.restarts = 0

    def _spawn(self) -> _Worker:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        cmd = [sys.executable, "-m", "verifiers.deadline_pool", str(to_child_r), str(from_child_w),
               self.fn_ref, str(self.memory_bytes), str(os.getpid())]
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(cmd, pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        return _Worker(proc, Connection(from_child_r, writable=False), Connection(to_child_w, readable=False))

    def _replace(self, worker: _Worker) -> _Worker:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait(timeout=10)
        worker.conn.close()
        worker.inbox.close()
        self.restarts += 1
        if self.restarts > 50 * self.size and not any(w.ready for w in self._workers):
            raise RuntimeError(f"verifier workers for {self.fn_ref} keep dying at start-up")
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def map(self, items: list, *, timeout_s: float, chunk_size: int = 8) -> list:
        n = len(items)
        results: list = [None] * n
        if n == 0:
            return results
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())
        queue: deque = deque()
        for start in range(0, n, chunk_size):
            queue.append([(i, items[i]) for i in range(start, min(n, start + chunk_size))])
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
                        try:
                            code = w.process.wait(timeout=5)
                        except subprocess.TimeoutExpired:
                            code = None
                        results[index] = ("crash", code)
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

    def close(self) -> None:
        for w in self._workers:
            try:
                w.inbox.send(None)
            except OSError:
                pass
        for w in self._workers:
            try:
                w.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait(timeout=2)
            w.conn.close()
            w.inbox.close()
        self._workers.clear()


_POOLS: dict[tuple[str, int], DeadlinePool] = {}


def shared_pool(fn_ref: str, workers: int | None = None) -> DeadlinePool:
    """One pool per (function, size), reused across calls and closed at exit."""
    size = max(1, workers or os.cpu_count() or 1)
    key = (fn_ref, size)
    if key not in _POOLS:
        _POOLS[key] = DeadlinePool(fn_ref, size)
    return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
