"""Per-sandbox cgroups: a memory and a pids limit on the whole process tree of each run.

The judge (root, as in CI) creates one cgroup per sandbox under its own cgroup, in the memory
and pids controllers of cgroup v1 (this machine) or in cgroup v2 where its hierarchy has both
controllers. bubblewrap and the zygote are moved into it as soon as the zygote reports ready,
before any untrusted code ran, so every process of every run is created inside it; the sandbox
mounts no cgroup filesystem, so no run can see or change it. Before each run the judge sets
``memory limit = usage now + memory_mb`` (the zygote's own pages are already charged) and
``pids = processes + 2`` (bubblewrap and the zygote), and resets the counters (v1) or notes
them (v2); after the run it reads whether the tree hit the limit and how much it used. These
readings come from the host, so a program cannot fake or hide a memory-limit exceedance.

``tree_limits()`` says whether this works here; where it does not, the caller cuts the process
budget instead (see ``fallback_processes``) and the verdict records which bound was in force.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

ROOT = "/sys/fs/cgroup"
# Without cgroups the memory of a run's tree is bounded only by memory_mb x processes: the
# process budget is cut so that this product stays under this many MB.
FALLBACK_TREE_MB = 8192


def _fresh_name(role: str) -> str:
    """``bm-ROLE-PID-RANDOM``: the random part because a cgroup whose removal timed out outlives its
    process, and a later process with the same pid must still create its own."""
    return f"bm-{role}-{os.getpid()}-{secrets.token_hex(4)}"


def fallback_processes(memory_mb: int, processes: int) -> int:
    return max(4, min(processes, FALLBACK_TREE_MB // max(1, memory_mb)))


def _own_path(controller: str) -> str | None:
    """This process's cgroup path in ``controller``'s v1 hierarchy ('' for v2)."""
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controller in controllers.split(",") or (controller == "" and controllers == ""):
                    return path
    except OSError:
        return None
    return None


def _write(path: str, value) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


def _read_int(path: str, default: int = 0) -> int:
    try:
        with open(path) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _read_keyed(path: str) -> dict[str, int]:
    try:
        with open(path) as fh:
            return {k: int(v) for k, v in (line.split() for line in fh if line.strip())}
    except (OSError, ValueError):
        return {}


@dataclass
class RunMemory:
    """What the host saw of one run's tree."""

    exceeded: bool  # the tree reached its memory limit (an allocation failed or a process was OOM-killed)
    oom_killed: bool
    peak_mb: float | None  # the tree's peak memory above the zygote's own (v1 only)


class SandboxCgroup:
    """One sandbox's cgroup (v1: one directory per controller; v2: one directory)."""

    def __init__(self, version: int, dirs: dict[str, str]):
        self.version = version
        self.dirs = dirs
        self._base = 0
        self._oom_before = 0
        self._max_before = 0

    @classmethod
    def create(cls) -> SandboxCgroup | None:
        kind = tree_limits()
        if kind is None:
            return None
        name = _fresh_name("sandbox")
        dirs = {}
        try:
            for controller, parent in _parents(kind).items():
                path = os.path.join(parent, name)
                os.mkdir(path)
                dirs[controller] = path
        except OSError:
            cls(kind, dirs).remove()
            return None
        return cls(kind, dirs)

    def add(self, pid: int) -> None:
        for path in self.dirs.values():
            _write(os.path.join(path, "cgroup.procs"), pid)

    def contains(self, pid: int) -> bool:
        try:
            with open(os.path.join(next(iter(self.dirs.values())), "cgroup.procs")) as fh:
                return str(pid) in fh.read().split()
        except OSError:
            return False

    def arm(self, memory_mb: int, processes: int) -> None:
        """Limits for the next run; OSError when they cannot be set (the run must not start)."""
        if self.version == 1:
            mem, pids = self.dirs["memory"], self.dirs["pids"]
            self._base = _read_int(os.path.join(mem, "memory.usage_in_bytes"))
            limit = self._base + (memory_mb << 20)
            _write(os.path.join(mem, "memory.limit_in_bytes"), limit)
            _write(os.path.join(mem, "memory.failcnt"), 0)
            _write(os.path.join(mem, "memory.max_usage_in_bytes"), 0)
            self._oom_before = _read_keyed(os.path.join(mem, "memory.oom_control")).get("oom_kill", 0)
            _write(os.path.join(pids, "pids.max"), processes + 2)
        else:
            d = self.dirs["unified"]
            self._base = _read_int(os.path.join(d, "memory.current"))
            _write(os.path.join(d, "memory.max"), self._base + (memory_mb << 20))
            if os.path.exists(os.path.join(d, "memory.swap.max")):
                _write(os.path.join(d, "memory.swap.max"), 0)
            events = _read_keyed(os.path.join(d, "memory.events"))
            self._oom_before, self._max_before = events.get("oom_kill", 0), events.get("max", 0)
            _write(os.path.join(d, "pids.max"), processes + 2)

    def reading(self) -> RunMemory:
        if self.version == 1:
            mem = self.dirs["memory"]
            failed = _read_int(os.path.join(mem, "memory.failcnt")) > 0
            oom = _read_keyed(os.path.join(mem, "memory.oom_control")).get("oom_kill", 0) > self._oom_before
            peak = max(0, _read_int(os.path.join(mem, "memory.max_usage_in_bytes")) - self._base) / 2**20
            return RunMemory(failed or oom, oom, peak)
        events = _read_keyed(os.path.join(self.dirs["unified"], "memory.events"))
        oom = events.get("oom_kill", 0) > self._oom_before
        return RunMemory(oom or events.get("max", 0) > self._max_before, oom, None)

    def remove(self) -> None:
        """Remove the directories once their processes are gone (retried briefly)."""
        for path in list(self.dirs.values()):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.dirs = {}


def _parents(kind: int) -> dict[str, str]:
    if kind == 1:
        return {c: os.path.join(ROOT, c) + (_own_path(c) or "/").rstrip("/") for c in ("memory", "pids")}
    return {"unified": ROOT + (_own_path("") or "/").rstrip("/")}


@lru_cache(maxsize=1)
def tree_limits() -> int | None:
    """1 or 2 when per-sandbox memory and pids cgroups can be created here (tried once), else None."""
    if os.geteuid() != 0:
        return None
    kinds = []
    if os.path.isfile(f"{ROOT}/memory/memory.limit_in_bytes") and os.path.isdir(f"{ROOT}/pids"):
        kinds.append(1)
    if os.path.isfile(os.path.join(ROOT, "cgroup.controllers")):
        kinds.append(2)
    for kind in kinds:
        name = _fresh_name("probe")
        made = []
        try:
            for parent in _parents(kind).values():
                os.mkdir(os.path.join(parent, name))
                made.append(os.path.join(parent, name))
            files = ("memory.limit_in_bytes", "pids.max") if kind == 1 else ("memory.max", "pids.max")
            present = {f for d in made for f in files if os.path.exists(os.path.join(d, f))}
            if present == set(files):
                return kind
        except OSError:
            pass
        finally:
            for path in made:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
    return None
