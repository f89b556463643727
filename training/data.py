"""Curated shards and mixtures of them -> rows with ``messages`` (``training.conversation``
turns them into token ids and loss masks).

A branch may train on a mixture of curated sets (``--data A --data B*2 --data C@500``): each set
in the order given, repeated a whole number of times (``*N``) or sampled to a row count (``@N``:
whole copies, then a sample without replacement seeded by the train seed and the set's name,
its last path part).
Only ``messages`` is read, so sets whose other columns differ still mix; the order of samples
in training is the seeded step plan's (``training.packing``).
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SPEC = re.compile(r"^(?P<ref>.+?)(?P<op>[*@])(?P<n>[^*@/]*)$")


def load_rows(path_or_id: str, max_samples: int | None = None):
    """The train split of a curated folder or Hub dataset id, as an iterable of rows."""
    from pathlib import Path

    import datasets

    from curation import ref_problem

    local = Path(path_or_id)
    if problem := ref_problem(path_or_id, "data", hub="Hub dataset id"):
        raise FileNotFoundError(problem)
    try:
        ds = datasets.load_dataset(str(local) if local.exists() else path_or_id, split="train")
    except Exception as exc:  # offline, missing, private: one line with the cause
        raise ValueError(f"data: cannot load {path_or_id}: {type(exc).__name__}: {str(exc).splitlines()[0]}") \
            from None
    if "messages" not in ds.column_names:
        raise ValueError(f"{path_or_id}: no 'messages' column (is it a curated set?)")
    if max_samples:
        ds = ds.select(range(min(max_samples, len(ds))))
    return ds


@dataclass(frozen=True)
class SetSpec:
    """One set of a mixture: ``ref`` repeated ``factor`` times, or sampled to ``rows`` rows."""

    ref: str
    factor: int = 1
    rows: int | None = None


def parse_spec(spec) -> tuple[SetSpec | None, str | None]:
    """``A``, ``A*N`` or ``A@N`` -> ``(SetSpec, None)``, or ``(None, problem)``. A path that exists
    is taken as it is, even if its name ends like a factor."""
    if not isinstance(spec, str) or not spec.strip():
        return None, f"data: a set must be a folder or Hub id, got {spec!r}"
    spec = spec.strip()
    m = _SPEC.match(spec)
    if m is None or Path(spec).expanduser().exists():
        return SetSpec(spec), None
    if not m["n"].isdigit() or int(m["n"]) < 1:
        what = "repeat factor after *" if m["op"] == "*" else "row count after @"
        return None, f"data: {spec!r}: the {what} must be a positive integer"
    n = int(m["n"])
    return (SetSpec(m["ref"], factor=n) if m["op"] == "*" else SetSpec(m["ref"], rows=n)), None


def mixture_indices(size: int, spec: SetSpec, seed: int) -> np.ndarray:
    """The row indices one set contributes, in order: every row ``factor`` times, or for ``@N``
    whole copies and then a seeded sample (sorted) of the rest."""
    if spec.rows is None:
        return np.tile(np.arange(size), spec.factor)
    whole, rest = divmod(spec.rows, size) if size else (0, 0)
    # seeded by the set's name (its last path part), not its whole path: the same set sampled in
    # another folder or on another machine gives the same rows
    rng = np.random.default_rng([seed, zlib.crc32(Path(spec.ref).name.encode())])
    return np.concatenate([np.tile(np.arange(size), whole), np.sort(rng.choice(size, rest, replace=False))])


class MixedRows:
    """The rows of a mixture, set after set, each ``{"messages": ...}``; ``len()`` counts them."""

    def __init__(self, parts: list):
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __iter__(self):
        return itertools.chain.from_iterable(self.parts)


def load_mixture(specs: list[str], seed: int, max_samples: int | None = None) -> tuple[MixedRows, list[dict]]:
    """Load every set of the mixture (``max_samples``: the first N rows of each) -> ``(rows,
    per set {data, rows, factor, sampled_to, used})`` for train_config.json and the card."""
    parts, sets = [], []
    for text in specs:
        spec, problem = parse_spec(text)
        if problem:
            raise ValueError(problem)
        ds = load_rows(spec.ref, max_samples).select_columns(["messages"])
        idx = mixture_indices(len(ds), spec, seed)
        parts.append(ds if spec == SetSpec(spec.ref) else ds.select(idx))
        sets.append({"data": spec.ref, "rows": len(ds), "factor": spec.factor if spec.rows is None else None,
                     "sampled_to": spec.rows, "used": len(idx)})
    return MixedRows(parts), sets
