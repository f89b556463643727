"""The ``local`` executor: the run's pure work in this process; the verifiers' own process pools
and the sandbox pool use the machine's cores."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from curation.config import CurateConfig
from curation.dedup.decontaminate import contamination
from curation.dedup.minhash import signatures
from curation.run.executors.base import Executor
from curation.run.part_work import PartResult, run_part
from curation.stages.contract import StageResult
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge
from curation.stages.verify import format_and_verify


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, cfg: CurateConfig, lengths: LengthCounter, llm_judge: LLMJudge | None = None):
        super().__init__(cfg, lengths, llm_judge)
        # one verification batch at a time: the verifiers' process pools already use every core
        self.parallel_checks = 1

    def run_parts(self, jobs: Iterable[tuple[int, pl.DataFrame]]) -> Iterator[tuple[int, PartResult]]:
        for k, problems in jobs:
            with self.timed("part"):
                result = run_part(problems, self.cfg, self.lengths, self.llm_judge)
            yield k, result

    async def check(self, samples: pl.DataFrame) -> tuple[StageResult, StageResult]:
        with self.timed("check"):
            fmt, ver = await asyncio.to_thread(format_and_verify, samples, self.cfg, self.lengths, self.llm_judge)
        return fmt, ver

    def signatures(self, texts: list[str], *, num_perm: int, shingle: int) -> np.ndarray:
        with self.timed("signatures"):
            return signatures(texts, num_perm=num_perm, shingle=shingle)

    def contamination(self, problems: list[str], references: list[str], index) -> list[str | None]:
        with self.timed("contamination"):
            return contamination(problems, references, index)

    def retrieve(self, texts: list[str], index, k: int) -> list[list[tuple[int, float]]]:
        with self.timed("retrieve"):
            return index.candidates(texts, k)

    def describe(self) -> dict:
        return {"kind": "local", "nodes": 1, "cpus": os.cpu_count(), "task_seconds": self.task_timings()}
