"""Generate stage of a run whose traces are in the source: problems in, samples out.

A problem without stored responses is rejected (``no_responses``); the result passes on one
sample per stored response (``out``). A live teacher's generate stage is assembled by the
streaming scheduler (``curation.run.streaming``) as it settles each problem.
"""

from __future__ import annotations

import polars as pl

from curation.stages.contract import StageResult, split_by_reason
from curation.teachers.replay import ReplayTeacher
from curation.teachers.samples import samples_frame


def replay_stage(problems: pl.DataFrame, teacher: ReplayTeacher) -> StageResult:
    samples, reasons = [], []
    for row in problems.iter_rows(named=True):
        found = teacher.samples_of(row)
        reasons.append(None if found else "no_responses")
        samples += found
    return split_by_reason(problems, "generate", reasons,
                           ["the source row holds no teacher responses" if r else "" for r in reasons],
                           out=samples_frame(samples))
