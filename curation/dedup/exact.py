"""Exact deduplication of problems on normalised text, keeping the lowest ``problem_id``."""

from __future__ import annotations

from curation.records import exact_dedup_key


def exact_duplicates(problem_ids: list[str], texts: list[str], row_indices: list[int]) -> dict[int, str]:
    """``{row_index: kept problem_id}`` for every row that repeats an earlier-kept problem.

    Within a group of equal normalised texts the lowest ``problem_id`` is kept (ties, i.e. the
    same id, by source order), so the choice does not depend on how the source is ordered.
    """
    groups: dict[str, list[tuple[str, int]]] = {}
    for pid, text, idx in zip(problem_ids, texts, row_indices, strict=True):
        groups.setdefault(exact_dedup_key(text), []).append((pid, idx))
    dropped: dict[int, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        keep_pid, keep_idx = min(members)
        for _, idx in members:
            if idx != keep_idx:
                dropped[idx] = keep_pid
    return dropped
