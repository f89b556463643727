"""Executors: where the CPU-heavy work of a run happens. The output never depends on it.

The driver (``curation.run.pipeline``) keeps the work folder, the part markers, the teacher client
and publishing; an executor only runs pure work on inputs it is handed and returns values:

- ``run_parts(jobs, cfg)``: ``run_part`` over ``(k, problems)`` jobs, yielding ``(k, PartResult)``
  as parts finish (replayed traces);
- ``check(samples, cfg)``: format filters + verifier over a batch of samples (the streaming
  scheduler's verification, awaited);
- ``signatures(texts, ...)`` and ``contamination(problems, references, index)``: MinHash
  signatures and benchmark matching of the problem stages.

``local`` runs them in this process (the verifiers' own process pools and the sandbox pool use
the machine's cores); ``ray`` (``curation.run.executors.ray``) runs them on worker actors spread over
a Ray cluster's nodes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from curation.config import CurateConfig
from curation.run.part_work import PartResult, run_part
from curation.stages.contract import StageResult
from curation.stages.format_filters import LengthCounter


class LocalExecutor:
    name = "local"

    def __init__(self, cfg: CurateConfig, lengths: LengthCounter, judge=None):
        self.cfg, self.lengths, self.judge = cfg, lengths, judge
        self.task_seconds: Counter = Counter()

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run_parts(self, jobs: Iterable[tuple[int, pl.DataFrame]]) -> Iterator[tuple[int, PartResult]]:
        for k, problems in jobs:
            t0 = time.perf_counter()
            result = run_part(problems, self.cfg, self.lengths, self.judge)
            self.task_seconds["part"] += time.perf_counter() - t0
            yield k, result

    async def check(self, samples: pl.DataFrame) -> tuple[StageResult, StageResult]:
        from curation.stages.verify import format_and_verify

        t0 = time.perf_counter()
        fmt, ver = await asyncio.to_thread(format_and_verify, samples, self.cfg, self.lengths, self.judge)
        self.task_seconds["check"] += time.perf_counter() - t0
        return fmt, ver

    # one verification batch at a time: the verifiers' process pools already use every core
    parallel_checks = 1

    def signatures(self, texts: list[str], *, num_perm: int, shingle: int) -> np.ndarray:
        from curation.dedup.minhash import signatures

        t0 = time.perf_counter()
        out = signatures(texts, num_perm=num_perm, shingle=shingle)
        self.task_seconds["signatures"] += time.perf_counter() - t0
        return out

    def contamination(self, problems: list[str], references: list[str], index) -> list[str | None]:
        from curation.dedup.decontaminate import contamination

        t0 = time.perf_counter()
        out = contamination(problems, references, index)
        self.task_seconds["contamination"] += time.perf_counter() - t0
        return out

    def describe(self) -> dict:
        return {"kind": "local", "nodes": 1, "cpus": os.cpu_count(),
                "task_seconds": {k: round(v, 3) for k, v in sorted(self.task_seconds.items())}}


def make_executor(cfg: CurateConfig, lengths: LengthCounter, judge=None):
    """The executor the config names (``ray`` needs the ``ray`` extra: a one-line error without it;
    the LLM judge runs with the local one)."""
    if cfg.executor.kind == "ray":
        from curation.run.executors.ray import RayExecutor

        return RayExecutor(cfg, lengths)
    return LocalExecutor(cfg, lengths, judge)
