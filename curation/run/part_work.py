"""The work of one part: its problems and the settings in, kept samples, rejected rows, counts and
generation statistics out.

``run_part`` is what an executor (``curation.run.executors``) calls for each unfinished part of a
run whose traces are in the source. It depends only on its inputs,
so where it runs does not change the output. A live teacher's parts are produced by the
streaming scheduler (``curation.run.streaming``) as the same ``PartResult``. It is
``finish_part(grade_part(...))``: ``grade_part`` is the pure CPU work (replay, format filters,
the verifier), ``finish_part`` the LLM judge, if the run has one, and selection, done where the
judge's log is (on Ray, the driver).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl

from curation.config import CurateConfig
from curation.stages.contract import StageResult, merged_counts, timed
from curation.stages.format_filters import LengthCounter
from curation.stages.generate import replay_stage
from curation.stages.select import select_stage
from curation.stages.verify import Graded, grade, settle
from curation.teachers.generation_stats import PartGeneration
from curation.teachers.replay import ReplayTeacher


@dataclass
class PartResult:
    kept: pl.DataFrame  # the selected samples
    stages: list[StageResult]  # generate, format, verify (once per round), select
    generation: PartGeneration | None  # a live teacher's requests, tokens, failures; None for replay

    def counts(self) -> list[dict]:
        return merged_counts(self.stages)

    def rejected(self) -> pl.DataFrame:
        return pl.concat([s.rejected for s in self.stages])

    def summary(self) -> dict:
        """What the report says of the kept rows: lengths, rows per source, which path decided
        each verdict (``via=`` in its detail), how many are verified; and of every sample the
        verifier saw: checked and passed, or not checked and why (``verify.verdict_outcome``)."""
        verdicts = Counter()
        for stage in self.stages:
            if stage.stage == "verify":
                verdicts.update((stage.info or {}).get("verdicts", {}))
        if self.kept.height == 0:
            return {"lengths": [], "per_source": {}, "decided_by": {}, "verdicts": dict(verdicts),
                    "kept_verdicts": {}}
        details = self.kept["verdict"].struct.field("detail").to_list()
        kept = Counter("verified" if passed else f"unverified:{reason}" for passed, reason in zip(
            self.kept["verdict"].struct.field("passed").to_list(), self.kept["verdict"].struct.field("reason"),
            strict=True))
        return {"lengths": self.kept["length"].to_list(),
                "per_source": dict(Counter(self.kept["source"].to_list())),
                "decided_by": dict(Counter(d.rsplit("via=", 1)[-1] if "via=" in d else "other" for d in details)),
                "verdicts": dict(verdicts), "kept_verdicts": dict(kept)}

    def marker(self) -> dict:
        """What the part's completion marker records (publishing builds the report from it)."""
        return {"counts": self.counts(), "kept": self.kept.height,
                "generation": self.generation.to_dict() if self.generation is not None else None,
                "summary": self.summary()}


@dataclass
class GradedPart:
    """A part's generate stage and its ``Graded`` samples: what is left is the judge and selection."""
    gen: StageResult
    graded: Graded


def grade_part(problems: pl.DataFrame, cfg: CurateConfig, lengths: LengthCounter) -> GradedPart:
    """Generate (replay the source's traces), format-filter and verify one part."""
    gen = timed(replay_stage, problems, ReplayTeacher(cfg.teacher))
    return GradedPart(gen, grade(gen.passed_on, cfg, lengths))


def finish_part(part: GradedPart, cfg: CurateConfig, judge=None) -> PartResult:
    """The run's LLM ``judge`` (if any) for what the verifier could not decide, then selection."""
    stages = [part.gen, *settle(part.graded, cfg, judge)]
    stages.append(timed(select_stage, stages[-1].kept, cfg.select.keep))
    return PartResult(stages[-1].kept, stages, None)


def run_part(problems: pl.DataFrame, cfg: CurateConfig, lengths: LengthCounter, judge=None) -> PartResult:
    """Generate (replay the source's traces), format-filter, verify (with the run's LLM ``judge``
    for what the verifier could not decide, if any) and select over one part."""
    return finish_part(grade_part(problems, cfg, lengths), cfg, judge)
