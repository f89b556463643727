"""The executor seam: where the CPU-heavy work of a run happens. The output never depends on it.

The driver (``curation.run.pipeline``) keeps the work folder, the part markers, the teacher
client and publishing; an ``Executor`` only runs pure work on inputs it is handed and returns
values:

- ``run_parts(jobs)``: ``run_part`` over ``(k, problems)`` jobs, yielding ``(k, PartResult)`` as
  parts finish (replayed traces);
- ``check(samples)``: format filters + verifier over a batch of samples (the streaming
  scheduler's verification, awaited; up to ``parallel_checks`` batches at once);
- ``signatures(texts, ...)``, ``contamination(problems, references, index)`` and
  ``retrieve(texts, index, k)``: MinHash signatures, benchmark matching and the benchmark items
  closest to each problem (``--decontam-judge``), for the problem stages;
- ``start``/``close`` around the run, and ``describe`` for the report.

The run's LLM judge, when it has one, is handed to the executor and asked from the driver's
process under every executor (its replies are logged in the work folder).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
import polars as pl

from curation.config import CurateConfig
from curation.run.part_work import PartResult
from curation.stages.contract import StageResult
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge


class Executor(ABC):
    name: ClassVar[str]

    def __init__(self, cfg: CurateConfig, lengths: LengthCounter, llm_judge: LLMJudge | None = None):
        self.cfg, self.lengths, self.llm_judge = cfg, lengths, llm_judge
        self.task_seconds: Counter = Counter()  # wall seconds per kind of task, for the report
        self.parallel_checks = 1  # ``check`` batches the scheduler may have running at once

    def start(self) -> None:  # noqa: B027 - optional: most executors need no start
        """Make the executor ready (a cluster joined, workers started); nothing by default."""

    def close(self) -> None:  # noqa: B027 - optional, as ``start``
        """Release what ``start`` took; nothing by default."""

    @abstractmethod
    def run_parts(self, jobs: Iterable[tuple[int, pl.DataFrame]]) -> Iterator[tuple[int, PartResult]]:
        """``run_part`` over each ``(k, problems)`` job, ``(k, result)`` as parts finish."""

    @abstractmethod
    async def check(self, samples: pl.DataFrame) -> tuple[StageResult, StageResult]:
        """The format filters and the verifier over a batch of samples."""

    @abstractmethod
    def signatures(self, texts: list[str], *, num_perm: int, shingle: int) -> np.ndarray:
        """MinHash signatures of ``texts`` (``curation.dedup.signatures``)."""

    @abstractmethod
    def contamination(self, problems: list[str], references: list[str], index) -> list[str | None]:
        """Per problem, the benchmark item it overlaps or None (``curation.dedup.contamination``)."""

    @abstractmethod
    def retrieve(self, texts: list[str], index, k: int) -> list[list[tuple[int, float]]]:
        """Per text, the ``k`` closest items of a ``curation.dedup.LexicalIndex`` (``index.candidates``)."""

    @abstractmethod
    def describe(self) -> dict:
        """What the report records of where the run's work ran."""

    @contextmanager
    def timed(self, task: str):
        """Add the wall time of the block to ``task_seconds[task]``."""
        t0 = time.perf_counter()
        yield
        self.task_seconds[task] += time.perf_counter() - t0

    def task_timings(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in sorted(self.task_seconds.items())}
