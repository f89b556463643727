"""Benchmark decontamination: word n-gram overlap (and optionally MinHash similarity).

A problem is contaminated when any word n-gram (default n=8, math-aware tokens) of its text,
or of its reference answer where that is text of at least n words, appears in a benchmark
item. Benchmark items shorter than n words are matched by exact normalised text. The fuzzy
mode also flags a problem whose estimated Jaccard similarity (MinHash over word 3-grams) with
a benchmark item reaches ``fuzzy_threshold``, which catches some reworded copies.
"""

from __future__ import annotations

import numpy as np

from curation.minhash import band_keys, lsh_params, signatures
from curation.text_normalize import shingle_hashes, token_hash_array, tokens


class BenchmarkIndex:
    """Every n-gram of every benchmark item, mapped to the first ``(benchmark, item)`` holding it."""

    def __init__(self, benchmarks: dict[str, list[str]], *, n: int = 8, fuzzy_threshold: float | None = None,
                 num_perm: int = 128):
        self.n = n
        self.grams: dict[int, tuple[str, int]] = {}
        self.short: dict[str, tuple[str, int]] = {}
        self.items: list[tuple[str, int]] = []
        texts: list[str] = []
        for name in sorted(benchmarks):
            for j, item in enumerate(benchmarks[name]):
                toks = tokens(item or "")
                self.items.append((name, j))
                texts.append(item or "")
                if not toks:
                    continue
                if len(toks) < n:
                    self.short.setdefault(" ".join(toks), (name, j))
                    continue
                for h in shingle_hashes(token_hash_array(toks), n, fold=False).tolist():
                    self.grams.setdefault(h, (name, j))
        self.fuzzy_threshold = fuzzy_threshold
        if fuzzy_threshold is not None:
            self.num_perm = num_perm
            self.sigs = signatures(texts, num_perm=num_perm)
            self.bands, self.rows = lsh_params(fuzzy_threshold, num_perm)
            self.tables: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]
            for i, keys in enumerate(band_keys(self.sigs, self.bands, self.rows)):
                for table, key in zip(self.tables, keys, strict=True):
                    table.setdefault(key, []).append(i)

    def match(self, text: str) -> tuple[tuple[str, int], str] | None:
        """``((benchmark, item), how)`` for the first overlap found, or None."""
        toks = tokens(text or "")
        if not toks:
            return None
        if len(toks) < self.n:
            hit = self.short.get(" ".join(toks))
            return (hit, "exact text") if hit else None
        for h in shingle_hashes(token_hash_array(toks), self.n, fold=False).tolist():
            hit = self.grams.get(h)
            if hit is not None:
                return hit, f"{self.n}-gram overlap"
        exact = self.short.get(" ".join(toks))
        return (exact, "exact text") if exact else None

    def fuzzy_match(self, sigs: np.ndarray) -> list[tuple[tuple[str, int], float] | None]:
        out: list[tuple[tuple[str, int], float] | None] = []
        for sig, keys in zip(sigs, band_keys(sigs, self.bands, self.rows), strict=True):
            cands = {i for table, key in zip(self.tables, keys, strict=True) for i in table.get(key, ())}
            best = None
            for i in sorted(cands):
                jaccard = float(np.mean(self.sigs[i] == sig))
                if jaccard >= self.fuzzy_threshold and (best is None or jaccard > best[1]):
                    best = (self.items[i], jaccard)
            out.append(best)
        return out


def find_contaminated(texts: list[str], benchmarks: dict[str, list[str]], *, n: int = 8,
                      fuzzy_threshold: float | None = None) -> list[tuple[str, int] | None]:
    """For each text, the ``(benchmark name, item index)`` it overlaps, or None."""
    index = BenchmarkIndex(benchmarks, n=n, fuzzy_threshold=fuzzy_threshold)
    found = [index.match(t) for t in texts]
    if fuzzy_threshold is not None:
        fuzzy = index.fuzzy_match(signatures(texts, num_perm=index.num_perm))
        found = [f if f is not None else ((z[0], "fuzzy") if z else None) for f, z in zip(found, fuzzy, strict=True)]
    return [f[0] if f else None for f in found]


def contamination(problems: list[str], references: list[str], index: BenchmarkIndex,
                  fuzzy: bool) -> list[str | None]:
    """Per problem, a detail naming the benchmark item it overlaps, or None."""
    out: list[str | None] = []
    for problem, reference in zip(problems, references, strict=True):
        hit = index.match(problem)
        what = "problem"
        if hit is None and reference and len(tokens(reference)) >= index.n:
            hit, what = index.match(reference), "reference"
        out.append(f"{hit[0][0]}#{hit[0][1]} ({what}, {hit[1]})" if hit else None)
    if fuzzy:
        sigs = signatures(problems, num_perm=index.num_perm)
        for i, z in enumerate(index.fuzzy_match(sigs)):
            if out[i] is None and z is not None:
                (name, j), jaccard = z
                out[i] = f"{name}#{j} (problem, fuzzy jaccard~{jaccard:.2f})"
    return out
