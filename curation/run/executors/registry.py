"""``EXECUTORS``, the registry behind ``--executor``, and the executor a config names."""

from __future__ import annotations

from curation.config import CurateConfig
from curation.run.executors.base import Executor
from curation.run.executors.local import LocalExecutor
from curation.run.executors.ray import RayExecutor
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(cfg: CurateConfig, lengths: LengthCounter, llm_judge: LLMJudge | None = None) -> Executor:
    """The executor the config names (``ray`` needs the ``ray`` extra: a one-line error without it),
    with the run's LLM judge, if any."""
    return EXECUTORS[cfg.executor.kind](cfg, lengths, llm_judge)
