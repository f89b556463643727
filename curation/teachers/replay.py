"""The ``replay`` teacher: the source already holds teacher traces; each becomes a Sample."""

from __future__ import annotations

import polars as pl

from curation.config import TeacherConfig
from curation.records import sample_id
from curation.stages import StageResult, split_by_reason

TEACHER_STRUCT = pl.Struct({"backend": pl.String, "model": pl.String, "temperature": pl.Float64,
                            "top_p": pl.Float64, "max_tokens": pl.Int64, "seed": pl.Int64})
SAMPLE_SCHEMA = {
    "problem_id": pl.String, "domain": pl.String, "source": pl.String, "problem": pl.String,
    "reference": pl.String, "metadata": pl.String, "row_index": pl.Int64,
    "sample_id": pl.String, "sample_index": pl.Int64, "response": pl.String, "finish_reason": pl.String,
    "teacher": TEACHER_STRUCT,
}
GENERATION_STRUCT = pl.Struct({"round": pl.Int64, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
                               "attempts": pl.Int64})
SAMPLE_SCHEMA["generation"] = GENERATION_STRUCT
_PROBLEM_COLS = ("problem_id", "domain", "source", "problem", "reference", "metadata", "row_index")


class ReplayTeacher:
    """Registry entry for ``--teacher replay`` (the default): no generation, see ``replay_generate``."""

    live = False


def replay_generate(problems: pl.DataFrame, cfg: TeacherConfig) -> tuple[pl.DataFrame, StageResult]:
    """Returns ``(samples, StageResult over problems)``; problems without responses are rejected."""
    teacher = {"backend": "replay", "model": cfg.model, "temperature": cfg.temperature, "top_p": cfg.top_p,
               "max_tokens": cfg.max_tokens, "seed": cfg.seed}
    samples, reasons = [], []
    for row in problems.iter_rows(named=True):
        responses = row.get("responses") or []
        finish = row.get("finish_reasons") or [None] * len(responses)
        if not responses:
            reasons.append("no_responses")
            continue
        reasons.append(None)
        base = {k: row[k] for k in _PROBLEM_COLS}
        for i, (text, fin) in enumerate(zip(responses, finish, strict=True)):
            samples.append({**base, "sample_id": sample_id(row["problem_id"], i), "sample_index": i,
                            "response": text, "finish_reason": fin, "teacher": teacher,
                            "generation": {"round": None, "prompt_tokens": None, "completion_tokens": None,
                                           "attempts": None}})
    result = split_by_reason(problems, "generate", reasons,
                             ["the source row holds no teacher responses" if r else "" for r in reasons])
    frame = pl.DataFrame(samples, schema=SAMPLE_SCHEMA) if samples else pl.DataFrame(schema=SAMPLE_SCHEMA)
    return frame, result
