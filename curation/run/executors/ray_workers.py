"""The Ray executor's worker actors: what each one does, and the pool that keeps them.

A worker is a long-lived actor holding ``--ray-cpus-per-task`` CPUs, placed with Ray's SPREAD
strategy. It imports the verifiers once and keeps its verifier processes and, for code, its
bubblewrap sandboxes warm between calls (``verifiers.code.keep_sandboxes_warm``). Before a worker
gets its first call it reports its node; for a run that executes candidates a node that cannot
sandbox stops the run with one line naming it (candidates never run bare), whether the worker is
one of the first or a replacement.

A worker lost with its node is replaced when the cluster has room for it (free CPUs for one
more worker, e.g. a node that joined): the pool looks at most once a second and starts no more
workers than it lost, so a run on preemptible nodes keeps its size as nodes come and go.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import numpy as np
import polars as pl

from curation.config import CurateConfig
from curation.dedup.decontaminate import contamination
from curation.dedup.minhash import signatures
from curation.domains import get_domain
from curation.run.part_work import GradedPart, grade_part
from curation.settings import ConfigError
from curation.stages.format_filters import LengthCounter
from curation.stages.verify import Graded, grade

LOOK_EVERY_S = 1.0  # how often the pool asks the cluster for room while it is short of workers
NO_WORKER_WAIT_S = 120.0  # with every worker lost: how long to wait for a replacement to start


class Worker:
    """The body of a worker actor (wrapped with ``ray.remote`` by the pool). It only receives inputs
    and returns values: nothing is read or written on its node's disk."""

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

    def run_part(self, problems: pl.DataFrame) -> GradedPart:
        return grade_part(problems, self.cfg, self.lengths)  # the driver adds the judge and selection

    def check(self, samples: pl.DataFrame) -> Graded:
        return grade(samples, self.cfg, self.lengths)

    def signatures(self, texts: list[str], num_perm: int, shingle: int) -> np.ndarray:
        return signatures(texts, num_perm=num_perm, shingle=shingle)

    def contamination_of(self, item: tuple[list[str], list[str]], index) -> list[str | None]:
        return contamination(item[0], item[1], index)

    def retrieve(self, texts: list[str], index, k: int) -> list[list[tuple[int, float]]]:
        return index.candidates(texts, k)


class WorkerPool:
    """The run's live workers, the replacements starting for lost ones, and the nodes used."""

    def __init__(self, ray, cfg: CurateConfig):
        self.ray, self.cfg = ray, cfg
        self.cpus = cfg.executor.cpus_per_task
        self.actor = ray.remote(Worker).options(num_cpus=self.cpus, scheduling_strategy="SPREAD", max_restarts=0)
        self.live: list = []
        self.starting: dict = {}  # a replacement's node() reference -> the actor, until it answers
        self.nodes: list[dict] = []  # every node a worker of the run was on, with its isolation
        self.size = 0  # how many workers the run keeps
        self.lost = self.replaced = 0
        self._next_look = 0.0
        self.check_sandbox = get_domain(cfg.domain).executes_code and cfg.verify.sandbox

    def start(self, count: int) -> None:
        """``count`` workers, each node checked before any call."""
        self.size = count
        workers = [self.actor.remote(self.cfg, self.cpus) for _ in range(count)]
        for worker, info in zip(workers, self.ray.get([w.node.remote() for w in workers]), strict=True):
            self._record(info)
            self.live.append(worker)
        for info in self.nodes:
            self._refuse_unless_sandboxed(info)

    def _record(self, info: dict) -> None:
        entry = next((n for n in self.nodes if n["node_id"] == info["node_id"]), None)
        if entry is None:
            self.nodes.append({**info, "workers": 1})
        else:
            entry["workers"] += 1

    def _refuse_unless_sandboxed(self, n: dict) -> None:
        if self.check_sandbox and not (n["isolation"] or {}).get("unprivileged_uid"):
            why = (n["isolation"] or {}).get("error") or "bubblewrap (bwrap) is not installed"
            raise ConfigError([f"verify.sandbox: Ray node {n['host']} ({n['ip']}, node id {n['node_id'][:12]}) "
                               f"cannot run the code sandbox ({why}); install bubblewrap there or leave it out "
                               "of the cluster"])

    @property
    def short(self) -> bool:
        """Fewer workers live than the run keeps."""
        return len(self.live) < self.size

    def lose(self, worker) -> None:
        """A worker died with its node (its call goes again to a live one)."""
        if worker in self.live:
            self.live.remove(worker)
            self.lost += 1

    def refresh(self) -> None:
        """Admit the replacements whose node answered; start new ones where the cluster has room."""
        errors = self.ray.exceptions
        if self.starting:
            ready, _ = self.ray.wait(list(self.starting), num_returns=len(self.starting), timeout=0)
            for ref in ready:
                worker = self.starting.pop(ref)
                try:
                    info = self.ray.get(ref)
                except (errors.RayActorError, errors.ActorDiedError, errors.NodeDiedError):
                    continue  # gone before it started: still short, looked at again
                try:
                    self._refuse_unless_sandboxed(info)
                except ConfigError:
                    self.ray.kill(worker)
                    raise
                self._record(info)
                self.live.append(worker)
                self.replaced += 1
        short = self.size - len(self.live) - len(self.starting)
        if short > 0 and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + LOOK_EVERY_S
            room = int(self.ray.available_resources().get("CPU", 0.0) // self.cpus)
            for _ in range(min(short, room)):
                worker = self.actor.remote(self.cfg, self.cpus)
                self.starting[worker.node.remote()] = worker

    def waiting(self) -> Iterator[None]:
        """With every worker lost: yields (the caller sleeps a moment) until a replacement is live;
        when none has started in ``NO_WORKER_WAIT_S`` the run stops."""
        deadline = time.monotonic() + NO_WORKER_WAIT_S
        while True:
            self.refresh()
            if self.live:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("every Ray worker of the run was lost (their nodes left the cluster) and no "
                                   f"replacement started in {NO_WORKER_WAIT_S:g} s")
            yield

    def close(self) -> None:
        for worker in [*self.live, *self.starting.values()]:
            try:
                self.ray.kill(worker)
            except Exception:  # noqa: BLE001 - a worker already gone with its node
                pass
        self.live, self.starting = [], {}
