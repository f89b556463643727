"""The ``replay`` teacher: the source already holds teacher traces; each becomes a Sample."""

from __future__ import annotations

import polars as pl

from curation.config import TeacherConfig
from curation.stages import StageResult, split_by_reason
from curation.teachers.samples import sample_row, samples_frame, teacher_info


class ReplayTeacher:
    """Registry entry for ``--teacher replay`` (the default): no generation, see ``replay_generate``."""

    live = False


def replay_generate(problems: pl.DataFrame, cfg: TeacherConfig) -> StageResult:
    """Generate stage of the replay teacher: problems without responses are rejected; the result
    passes on one sample per stored response (``out``)."""
    teacher = teacher_info(cfg, cfg.seed)
    samples, reasons = [], []
    for row in problems.iter_rows(named=True):
        responses = row.get("responses") or []
        finish = row.get("finish_reasons") or [None] * len(responses)
        if not responses:
            reasons.append("no_responses")
            continue
        reasons.append(None)
        samples += [sample_row(row, i, text, fin, teacher)
                    for i, (text, fin) in enumerate(zip(responses, finish, strict=True))]
    return split_by_reason(problems, "generate", reasons,
                           ["the source row holds no teacher responses" if r else "" for r in reasons],
                           out=samples_frame(samples))
