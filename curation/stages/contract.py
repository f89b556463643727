"""The stage contract, the rejected-row schema and the funnel.

Every stage (load, the problem stages, generate, format, verify, select) takes a batch and its
typed settings and returns a ``StageResult``: the kept rows, the rejected rows (already in the
one published ``REJECTED_SCHEMA``, each with ``stage``, ``reason`` and ``detail``), how many rows
came in, and for a stage that emits another kind of row (generate: problems in, samples out)
the rows it passes on. ``split_by_reason`` builds a result from one reason per row, so a row
cannot be lost, and ``count()`` is the one place a stage's numbers are taken:
``rows_in == kept + sum(rejected by reason)``, which ``Funnel`` sums over parts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

# A verdict as stored while curating (with its timing) and as published (without: re-running a
# recipe gives byte-identical rows; timings are summarised in report.json instead).
VERDICT_STRUCT = pl.Struct({"passed": pl.Boolean, "reason": pl.String, "detail": pl.String, "seconds": pl.Float64})
PUBLISHED_VERDICT = pl.Struct({"passed": pl.Boolean, "reason": pl.String, "detail": pl.String})

REJECTED_SCHEMA = {
    "stage": pl.String, "reason": pl.String, "detail": pl.String, "row_index": pl.Int64, "problem_id": pl.String,
    "sample_id": pl.String, "source": pl.String, "problem": pl.String, "reference": pl.String,
    "response": pl.String, "finish_reason": pl.String, "verdict": PUBLISHED_VERDICT,
    "responses": pl.List(pl.String), "raw": pl.String,
}


def published_verdict() -> pl.Expr:
    v = pl.col("verdict").struct
    return pl.struct(v.field("passed"), v.field("reason"), v.field("detail")).alias("verdict")


def to_rejected(frame: pl.DataFrame) -> pl.DataFrame:
    """Project any stage's rejected rows onto the one published rejected schema."""
    cols = []
    for name, dtype in REJECTED_SCHEMA.items():
        if name == "verdict" and name in frame.columns:
            cols.append(published_verdict())
        elif name in frame.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(cols)


def rejected_frame(rows: list[dict] | None = None) -> pl.DataFrame:
    """Rejected rows built by hand (``stage``, ``reason``, ``detail`` and any schema columns)."""
    if not rows:
        return pl.DataFrame(schema=REJECTED_SCHEMA)
    return to_rejected(pl.DataFrame(rows, schema={k: REJECTED_SCHEMA[k] for k in rows[0]}))


@dataclass
class StageResult:
    stage: str
    kept: pl.DataFrame
    rejected: pl.DataFrame  # REJECTED_SCHEMA
    rows_in: int
    out: pl.DataFrame | None = None  # what the stage passes on, when not its kept rows (generate: samples)
    info: dict | None = None  # report facts of a problem stage (benchmarks checked, clusters)
    seconds: float = 0.0

    @property
    def passed_on(self) -> pl.DataFrame:
        return self.kept if self.out is None else self.out

    def count(self) -> dict:
        c = StageCount(self.stage)
        c.add(self.rows_in, self.kept.height, self.rejected, self.seconds,
              None if self.out is None else self.out.height)
        return c.to_dict()


def split_by_reason(frame: pl.DataFrame, stage: str, reasons: Sequence[str | None],
                    details: Sequence[str] | None = None, *, out: pl.DataFrame | None = None,
                    info: dict | None = None) -> StageResult:
    """Split ``frame`` into kept rows (reason None) and rejected rows tagged with their reason."""
    if len(reasons) != frame.height:
        raise ValueError(f"stage {stage}: {len(reasons)} reasons for {frame.height} rows")
    mask = pl.Series([r is None for r in reasons], dtype=pl.Boolean)
    kept = frame.filter(mask)
    rej_idx = [i for i, r in enumerate(reasons) if r is not None]
    rejected = frame[rej_idx] if rej_idx else frame.clear()
    rejected = rejected.with_columns(
        pl.lit(stage).alias("stage"),
        pl.Series("reason", [reasons[i] for i in rej_idx], dtype=pl.String),
        pl.Series("detail", [(details[i] if details else "") or "" for i in rej_idx], dtype=pl.String),
    )
    return StageResult(stage, kept, to_rejected(rejected), frame.height, out=out, info=info)


def timed(fn: Callable[..., StageResult], *args, **kwargs) -> StageResult:
    """Run a stage and record its wall time in the result."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    result.seconds += time.perf_counter() - t0
    return result


@dataclass
class StageCount:
    stage: str
    rows_in: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    rows_out: int | None = None  # when a stage emits a different kind of row (problems -> samples)

    def add(self, rows_in: int, kept: int, rejected: pl.DataFrame | Counter, seconds: float = 0.0,
            rows_out: int | None = None) -> None:
        self.rows_in += rows_in
        self.kept += kept
        if isinstance(rejected, pl.DataFrame):
            rejected = Counter(rejected["reason"].to_list()) if rejected.height else Counter()
        self.rejected.update(rejected)
        self.seconds += seconds
        if rows_out is not None:
            self.rows_out = (self.rows_out or 0) + rows_out

    @property
    def conserved(self) -> bool:
        return self.rows_in == self.kept + sum(self.rejected.values())

    def to_dict(self) -> dict:
        out = {"stage": self.stage, "rows_in": self.rows_in, "kept": self.kept,
               "rejected": dict(sorted(self.rejected.items())), "rejected_total": sum(self.rejected.values()),
               "conserved": self.conserved, "seconds": round(self.seconds, 4)}
        if self.rows_out is not None:
            out["rows_out"] = self.rows_out
        return out

    @classmethod
    def from_dict(cls, d: dict) -> StageCount:
        return cls(d["stage"], d["rows_in"], d["kept"], Counter(d["rejected"]), d.get("seconds", 0.0),
                   d.get("rows_out"))


def merged_counts(results: Sequence[StageResult]) -> list[dict]:
    """One count per stage (in first-seen order), summed over the results of that stage (rounds)."""
    funnel = Funnel(list(dict.fromkeys(r.stage for r in results)))
    funnel.merge([r.count() for r in results])
    return funnel.to_list()


class Funnel:
    """Ordered per-stage counts, summed over parts."""

    def __init__(self, stages: Sequence[str]):
        self.stages = {name: StageCount(name) for name in stages}

    def __getitem__(self, name: str) -> StageCount:
        return self.stages[name]

    def merge(self, counts: Sequence[dict]) -> None:
        for d in counts:
            other = StageCount.from_dict(d)
            self.stages[other.stage].add(other.rows_in, other.kept, other.rejected, other.seconds, other.rows_out)

    @property
    def conserved(self) -> bool:
        return all(s.conserved for s in self.stages.values())

    def to_list(self) -> list[dict]:
        return [s.to_dict() for s in self.stages.values()]
