"""The ``ray`` executor: the same pure work as ``local``, on worker actors over a Ray cluster.

The workers (``ray_workers.py``) are long-lived actors spread over the nodes, each with its own
verifier processes and warm sandboxes; a run that executes candidates first checks every node's
sandbox, and the report records the isolation of every node used.

Workers only receive inputs and return values (frames, verdicts, signatures): nothing is read
or written on a worker's disk, so the nodes need no shared storage; the driver keeps the work
folder and writes every part. The run's LLM judge is asked from the driver too (its log is in
the work folder): workers return the verifier's verdicts, and the driver puts what the verifier
could not decide to the judge before keeping or rejecting. A call lost with its worker's node is
sent again to a live worker (the work is pure, so the retry gives the same result); a lost worker
is replaced when the cluster has room; only when no worker is left and none can start does the
run stop.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from curation.config import CurateConfig
from curation.dedup.decontaminate import contamination
from curation.dedup.minhash import signatures
from curation.optional import require
from curation.run.executors.base import Executor
from curation.run.executors.ray_workers import LOOK_EVERY_S, WorkerPool
from curation.run.part_work import PartResult, finish_part
from curation.settings import ConfigError
from curation.stages.contract import StageResult
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge
from curation.stages.verify import settle


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

    def __init__(self, cfg: CurateConfig, lengths: LengthCounter, llm_judge: LLMJudge | None = None):
        super().__init__(cfg, lengths, llm_judge)  # parallel_checks: the number of workers once started
        self.ray = require("ray", "ray", "--executor ray")
        self.pool: WorkerPool | None = None
        self._turn = -1  # the worker the last ``check`` went to
        self.started_here = False
        self.start_seconds = 0.0
        self.retried = 0  # calls sent again because their worker was lost

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
        self.pool = WorkerPool(ray, self.cfg)
        self.pool.start(e.workers or max(1, int(cpus // e.cpus_per_task)))
        self.parallel_checks = self.pool.size
        self.start_seconds = time.perf_counter() - t0

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.started_here:
            self.ray.shutdown()

    def describe(self) -> dict:
        cpus = self.ray.cluster_resources().get("CPU") if self.ray.is_initialized() else None
        nodes = self.pool.nodes if self.pool is not None else []
        return {"kind": "ray", "nodes": len(nodes), "cpus": cpus, "workers": self.parallel_checks,
                "cpus_per_worker": self.cfg.executor.cpus_per_task, "start_seconds": round(self.start_seconds, 2),
                "node_isolation": [{"host": n["host"], "ip": n["ip"], "workers": n["workers"],
                                    "isolation": n["isolation"]} for n in nodes],
                "workers_lost": self.pool.lost if self.pool else 0,
                "workers_replaced": self.pool.replaced if self.pool else 0, "calls_retried": self.retried,
                "task_seconds": self.task_timings()}

    # -- calls, with a lost worker's call sent again to a live one ------------------------------

    def _map(self, method: str, items: Iterable, args=()) -> Iterator[tuple[int, object]]:
        """Call ``method`` on workers for every item (taken from ``items`` only as workers free up,
        at most two calls per worker in flight), yielding ``(index, result)`` as calls finish; a
        call lost with its worker goes again to a live one, and replacements join as they start."""
        ray, pool = self.ray, self.pool
        source = enumerate(items)
        retry: deque = deque()
        running: dict = {}  # ObjectRef -> (index, item, worker, started)
        load: Counter = Counter()
        exhausted = False
        while True:
            pool.refresh()
            while pool.live and (retry or not exhausted):
                worker = min(pool.live, key=lambda w: load[id(w)])
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
                if exhausted and not retry:
                    return
                for _ in pool.waiting():  # work left and no live worker
                    time.sleep(0.2)
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=LOOK_EVERY_S if pool.short else None)
            if not ready:
                continue  # a look for room and for replacements that started
            i, item, worker, started = running.pop(ready[0])
            load[id(worker)] -= 1
            try:
                result = ray.get(ready[0])
            except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError,
                    ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError):
                pool.lose(worker)
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

        for i, graded in self._map("run_part", problems()):
            yield keys[i], finish_part(graded, self.cfg, self.llm_judge)  # the judge (if any) and selection

    async def check(self, samples: pl.DataFrame) -> tuple[StageResult, StageResult]:
        ray, pool = self.ray, self.pool
        while True:
            for _ in pool.waiting():  # admits replacements; waits only while no worker is live
                await asyncio.sleep(0.2)
            self._turn = (self._turn + 1) % len(pool.live)
            worker = pool.live[self._turn]
            t0 = time.perf_counter()
            try:
                graded = await worker.check.remote(samples)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError, ray.exceptions.NodeDiedError):
                pool.lose(worker)
                self.retried += 1
                continue
            self.task_seconds["check"] += time.perf_counter() - t0
            if self.llm_judge is None:
                fmt, ver = settle(graded, self.cfg)
            else:  # the judge's backend blocks: in a thread, as the local executor's check
                fmt, ver = await asyncio.to_thread(settle, graded, self.cfg, self.llm_judge)
            return fmt, ver

    def signatures(self, texts: list[str], *, num_perm: int, shingle: int) -> np.ndarray:
        if len(texts) < 2048:
            return signatures(texts, num_perm=num_perm, shingle=shingle)
        spans = _chunks(len(texts), 4 * len(self.pool.live))
        parts = dict(self._map("signatures", [texts[a:b] for a, b in spans], (num_perm, shingle)))
        return np.concatenate([parts[i] for i in range(len(spans))])

    def contamination(self, problems: list[str], references: list[str], index) -> list[str | None]:
        if len(problems) < 512:
            return contamination(problems, references, index)
        shared = self.ray.put(index)
        spans = _chunks(len(problems), 4 * len(self.pool.live))
        items = [(problems[a:b], references[a:b]) for a, b in spans]
        parts = dict(self._map("contamination_of", items, (shared,)))
        return [d for i in range(len(spans)) for d in parts[i]]

    def retrieve(self, texts: list[str], index, k: int) -> list[list[tuple[int, float]]]:
        if len(texts) < 512:
            return index.candidates(texts, k)
        shared = self.ray.put(index)
        spans = _chunks(len(texts), 4 * len(self.pool.live))
        parts = dict(self._map("retrieve", [texts[a:b] for a, b in spans], (shared, k)))
        return [c for i in range(len(spans)) for c in parts[i]]
