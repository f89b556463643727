"""Select stage: which verified samples of each problem to keep (``--keep``)."""

from __future__ import annotations

import polars as pl

from curation.stages.contract import StageResult, split_by_reason


def select_stage(samples: pl.DataFrame, keep: str) -> StageResult:
    """``all``, ``first`` (lowest sample index), ``shortest`` (ties: lowest index), or ``N`` (first N)."""
    if keep == "all" or samples.height == 0:
        return split_by_reason(samples, "select", [None] * samples.height)
    limit = 1 if keep in ("first", "shortest") else int(keep)
    ranked: dict[str, list[tuple]] = {}
    for i, (pid, idx, length) in enumerate(zip(samples["problem_id"], samples["sample_index"],
                                              samples["length"], strict=True)):
        key = (length, idx) if keep == "shortest" else (idx,)
        ranked.setdefault(pid, []).append((key, i))
    chosen = {i for members in ranked.values() for _, i in sorted(members)[:limit]}
    reasons = [None if i in chosen else "not_selected" for i in range(samples.height)]
    return split_by_reason(samples, "select", reasons, [f"--keep {keep}" if r else "" for r in reasons])
