"""The stage contract and the funnel.

A stage maps a batch (a Polars frame) to ``(kept, rejected)``; every rejected row carries a
``reason`` (a short stable code) and a ``detail``. ``Funnel`` adds up per-stage counts and
checks conservation: ``rows_in == kept + sum(rejected by reason)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl


@dataclass
class StageResult:
    kept: pl.DataFrame
    rejected: pl.DataFrame


def split_by_reason(frame: pl.DataFrame, stage: str, reasons: Sequence[str | None],
                    details: Sequence[str] | None = None) -> StageResult:
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
    return StageResult(kept, rejected)


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
