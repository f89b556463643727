"""The Sample record: one teacher response to one problem, with who generated it and how.

Both the ``replay`` teacher (responses stored in the source) and the live rounds build their
rows with ``sample_row``, so a sample looks the same whichever way it came in.
"""

from __future__ import annotations

import polars as pl

from curation.config import TeacherConfig
from curation.records import sample_id

TEACHER_STRUCT = pl.Struct({"backend": pl.String, "model": pl.String, "temperature": pl.Float64,
                            "top_p": pl.Float64, "max_tokens": pl.Int64, "seed": pl.Int64})
GENERATION_STRUCT = pl.Struct({"round": pl.Int64, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
                               "attempts": pl.Int64})
PROBLEM_COLS = ("problem_id", "domain", "source", "problem", "reference", "metadata", "row_index")
SAMPLE_SCHEMA = {
    **{c: pl.Int64 if c == "row_index" else pl.String for c in PROBLEM_COLS},
    "sample_id": pl.String, "sample_index": pl.Int64, "response": pl.String, "finish_reason": pl.String,
    "teacher": TEACHER_STRUCT, "generation": GENERATION_STRUCT,
}
NO_GENERATION = {"round": None, "prompt_tokens": None, "completion_tokens": None, "attempts": None}


def teacher_info(cfg: TeacherConfig, seed: int | None) -> dict:
    return {"backend": cfg.backend, "model": cfg.model, "temperature": cfg.temperature, "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens, "seed": seed}


def sample_row(problem: dict, index: int, response: str, finish_reason: str | None, teacher: dict,
               generation: dict | None = None) -> dict:
    return {**{k: problem[k] for k in PROBLEM_COLS}, "sample_id": sample_id(problem["problem_id"], index),
            "sample_index": index, "response": response, "finish_reason": finish_reason, "teacher": teacher,
            "generation": generation or NO_GENERATION}


def samples_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SAMPLE_SCHEMA) if rows else pl.DataFrame(schema=SAMPLE_SCHEMA)
