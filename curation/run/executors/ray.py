"""The ``ray`` executor: the same pure work as ``local``, on worker actors over a Ray cluster.

Each worker is a long-lived actor holding ``--ray-cpus-per-task`` CPUs, spread over the nodes
(Ray's SPREAD strategy). It imports the verifiers once, keeps its verifier processes and, for
code, its bubblewrap sandboxes warm between calls (``verifiers.code.keep_sandboxes_warm``). A
run that executes candidates first asks every worker whether its node can sandbox: a node that
cannot stops the run with one line naming it (candidates never run bare), and the report
records the isolation of every node used.

Workers only receive inputs and return values (frames, verdicts, signatures): nothing is read
or written on a worker's disk, so the nodes need no shared storage; the driver keeps the work
folder and writes every part. A call lost with its worker's node is sent again to a live worker
(the work is pure, so the retry gives the same result); only when no worker is left does the run
stop.
"""

from __future__ import annotations

import socket
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from curation.config import CurateConfig
from curation.dedup.decontaminate import contamination
from curation.dedup.minhash import signatures
from curation.domains import get_domain
from curation.optional import require
from curation.run.executors.base import Executor
from curation.run.part_work import PartResult, run_part
from curation.settings import ConfigError
from curation.stages.contract import StageResult
from curation.stages.format_filters import LengthCounter
from curation.stages.verify import format_and_verify


class _Worker:
    """The body of a worker actor (wrapped with ``ray.remote`` when the executor starts)."""

    def __init__(self, cfg: CurateConfig, cpus: float):
        import os

        self.cfg = cfg
        workers = max(1, int(cpus))
        cfg.output.workers = workers  # the verifiers' pools use this actor's CPUs, not the node's
        self.lengths = LengthCounter(cfg.filters.tokenizer)
        self.needs_sandbox = get_domain(cfg.domain).executes_code and cfg.verify.sandbox
        if self.needs_sandbox:
            from verifiers.code import keep_sandboxes_warm

            keep_sandboxes_warm(workers)
        self.pid = os.getpid()

    def node(self) -> dict:
        import ray

        info = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                "ip": ray.util.get_node_ip_address(), "pid": self.pid, "isolation": None}
        if self.needs_sandbox:
            from verifiers.code import isolation

            info["isolation"] = dict(isolation())
        return info

    def run_part(self, problems: pl.DataFrame) -> PartResult:
        return run_part(problems, self.cfg, self.lengths)

    def check(self, samples: pl.DataFrame) -> tuple[StageResult, StageResult]:
        return tuple(format_and_verify(samples, self.cfg, self.lengths))

    def signatures(self, texts: list[str], num_perm: int, shingle: int) -> np.ndarray:
        return signatures(texts, num_perm=num_perm, shingle=shingle)

    def contamination_of(self, item: tuple[list[str], list[str]], index) -> list[str | None]:
        return contamination(item[0], item[1], index)


def _unreachable(address: str, timeout_s: float = 5.0) -> str | None:
    """Why nothing answers at a ``host:port`` (or ``ray://host:port``) cluster address, or None.
    Ray itself keeps retrying an address that does not answer for minutes."""
    if address == "auto" or address == "local":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return "expected HOST:PORT, 'auto' or ray://HOST:PORT"
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        return f"nothing answers there: {exc.strerror or exc}"
    return None


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    size = max(1, -(-n // max(1, parts)))
    return [(i, min(n, i + size)) for i in range(0, n, size)]


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, cfg: CurateConfig, lengths: LengthCounter):
        super().__init__(cfg, lengths)  # parallel_checks: the number of workers once started
        self.ray = require("ray", "ray", "--executor ray")
        self.workers: list = []
        self.nodes: list[dict] = []
        self._turn = -1  # the worker the last ``check`` went to
        self.started_here = False
        self.start_seconds = 0.0
        self.lost = self.retried = 0  # workers lost with their nodes; calls sent again because of it

    # -- the cluster --------------------------------------------------------------------------

    def start(self) -> None:
        ray, e = self.ray, self.cfg.executor
        t0 = time.perf_counter()
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if e.address:
                if problem := _unreachable(e.address):
                    raise ConfigError([f"executor.address: cannot join the Ray cluster at {e.address} ({problem})"])
                try:
                    ray.init(address=e.address, **kwargs)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise ConfigError([f"executor.address: cannot join the Ray cluster at {e.address} "
                                       f"({str(exc).splitlines()[0][:160]})"]) from None
            else:
                try:
                    ray.init(address="auto", **kwargs)
                except (ConnectionError, RuntimeError, ValueError):
                    ray.init(**kwargs)  # no cluster running here: a local one for this run
                    self.started_here = True
        cpus = float(ray.cluster_resources().get("CPU", 0))
        count = e.workers or max(1, int(cpus // e.cpus_per_task))
        actor = ray.remote(_Worker).options(num_cpus=e.cpus_per_task, scheduling_strategy="SPREAD",
                                            max_restarts=0)
        self.workers = [actor.remote(self.cfg, e.cpus_per_task) for _ in range(count)]
        self.nodes = self._ask_nodes()
        self.parallel_checks = len(self.workers)
        self.start_seconds = time.perf_counter() - t0
        if get_domain(self.cfg.domain).executes_code and self.cfg.verify.sandbox:
            bad = [n for n in self.nodes if not (n["isolation"] or {}).get("unprivileged_uid")]
            if bad:
                n = bad[0]
                why = (n["isolation"] or {}).get("error") or "bubblewrap (bwrap) is not installed"
                raise ConfigError([f"verify.sandbox: Ray node {n['host']} ({n['ip']}, node id {n['node_id'][:12]}) "
                                   f"cannot run the code sandbox ({why}); install bubblewrap there or leave it out "
                                   "of the cluster"])

    def _ask_nodes(self) -> list[dict]:
        infos = self.ray.get([w.node.remote() for w in self.workers])
        by_node: dict[str, dict] = {}
        for info in infos:
            entry = by_node.setdefault(info["node_id"], {**info, "workers": 0})
            entry["workers"] += 1
        return list(by_node.values())

    def close(self) -> None:
        for w in self.workers:
            try:
                self.ray.kill(w)
            except Exception:  # noqa: BLE001 - a worker already gone with its node
                pass
        self.workers = []
        if self.started_here:
            self.ray.shutdown()

    def describe(self) -> dict:
        cpus = self.ray.cluster_resources().get("CPU") if self.ray.is_initialized() else None
        return {"kind": "ray", "nodes": len(self.nodes), "cpus": cpus, "workers": self.parallel_checks,
                "cpus_per_worker": self.cfg.executor.cpus_per_task, "start_seconds": round(self.start_seconds, 2),
                "node_isolation": [{"host": n["host"], "ip": n["ip"], "workers": n["workers"],
                                    "isolation": n["isolation"]} for n in self.nodes],
                "workers_lost": self.lost, "calls_retried": self.retried,
                "task_seconds": self.task_timings()}

    # -- calls, with a lost worker's call sent again to a live one ------------------------------

    def _lost(self, worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
            self.lost += 1
        if not self.workers:
            raise RuntimeError("every Ray worker of the run was lost (their nodes left the cluster)")

    def _map(self, method: str, items: Iterable, args=()) -> Iterator[tuple[int, object]]:
        """Call ``method`` on workers for every item (taken from ``items`` only as workers free up,
        at most two calls per worker in flight), yielding ``(index, result)`` as calls finish; a
        call lost with its worker goes again to a live one."""
        ray = self.ray
        source = enumerate(items)
        retry: deque = deque()
        running: dict = {}  # ObjectRef -> (index, item, worker, started)
        load: Counter = Counter()
        exhausted = False
        while True:
            while self.workers and (retry or not exhausted):
                worker = min(self.workers, key=lambda w: load[id(w)])
                if load[id(worker)] >= 2:
                    break
                if retry:
                    i, item = retry.popleft()
                else:
                    try:
                        i, item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                ref = getattr(worker, method).remote(item, *args)
                running[ref] = (i, item, worker, time.perf_counter())
                load[id(worker)] += 1
            if not running:
                return
            ready, _ = ray.wait(list(running), num_returns=1)
            i, item, worker, started = running.pop(ready[0])
            load[id(worker)] -= 1
            try:
                result = ray.get(ready[0])
            except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError,
                    ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError):
                self._lost(worker)
                self.retried += 1
                retry.append((i, item))
                continue
            self.task_seconds[method] += time.perf_counter() - started
            yield i, result

    def run_parts(self, jobs: Iterable[tuple[int, pl.DataFrame]]) -> Iterator[tuple[int, PartResult]]:
        keys: dict[int, int] = {}

        def problems():
            for i, (k, frame) in enumerate(jobs):  # read from the driver's disk as workers free up
                keys[i] = k
                yield frame

        for i, result in self._map("run_part", problems()):
            yield keys[i], result

    async def check(self, samples: pl.DataFrame) -> tuple[StageResult, StageResult]:
        ray = self.ray
        while True:
            worker = self.workers[self._next_worker()]
            t0 = time.perf_counter()
            try:
                fmt, ver = await worker.check.remote(samples)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError, ray.exceptions.NodeDiedError):
                self._lost(worker)
                self.retried += 1
                continue
            self.task_seconds["check"] += time.perf_counter() - t0
            return fmt, ver

    def _next_worker(self) -> int:
        self._turn = (self._turn + 1) % len(self.workers)
        return self._turn

    def signatures(self, texts: list[str], *, num_perm: int, shingle: int) -> np.ndarray:
        if len(texts) < 2048:
            return signatures(texts, num_perm=num_perm, shingle=shingle)
        spans = _chunks(len(texts), 4 * len(self.workers))
        parts = dict(self._map("signatures", [texts[a:b] for a, b in spans], (num_perm, shingle)))
        return np.concatenate([parts[i] for i in range(len(spans))])

    def contamination(self, problems: list[str], references: list[str], index) -> list[str | None]:
        if len(problems) < 512:
            return contamination(problems, references, index)
        shared = self.ray.put(index)
        spans = _chunks(len(problems), 4 * len(self.workers))
        items = [(problems[a:b], references[a:b]) for a, b in spans]
        parts = dict(self._map("contamination_of", items, (shared,)))
        return [d for i in range(len(spans)) for d in parts[i]]
