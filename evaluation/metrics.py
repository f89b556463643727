"""pass@1 over K samples per problem, as the paper reports it: the mean over the K sample runs of
each run's accuracy, with the standard deviation across runs."""

from __future__ import annotations

import statistics


def pass_at_1(scores: dict[str, list[float]], k: int) -> dict:
    """``scores``: item id -> per-sample scores (1 right, 0 wrong), sample index order."""
    if not scores:
        return {"pass@1": None, "std": None, "items": 0, "samples": k}
    runs = []
    for j in range(k):
        col = [s[j] for s in scores.values() if len(s) > j]
        if col:
            runs.append(sum(col) / len(col))
    mean = statistics.fmean(runs) if runs else None
    std = statistics.pstdev(runs) if len(runs) > 1 else 0.0
    return {"pass@1": mean, "std": std, "items": len(scores), "samples": k}
