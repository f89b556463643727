"""Benchmark decontamination: word n-gram overlap (and optionally MinHash similarity).

A problem is contaminated when its text (or its reference answer, where that is text of at
least n words) contains at least ``min_overlap`` (default half) of the distinct word n-grams
(default n=8; lower-cased words split at spaces and punctuation, ``text_normalize.words``) of
some benchmark item. Counting coverage of the item, rather than any single shared n-gram,
keeps stock phrasing ("what is the sum of all of the") from flagging unrelated problems
while a copied or lightly edited item still matches. Benchmark items shorter than n words
are matched by exact normalised text. The fuzzy
mode also flags a problem whose estimated Jaccard similarity of word sets (MinHash over single
tokens) with a benchmark item reaches ``fuzzy_threshold``, which catches some reworded copies
(measured in BENCHMARKS.md: about a fifth of LLM rephrasings, none of the translations to code).
"""

from __future__ import annotations

import numpy as np

from curation.dedup.minhash import band_keys, band_view, lsh_params, signatures
from curation.dedup.text_normalize import shingle_hashes, token_hash_array, words

FUZZY_SHINGLE = 1  # word sets: rewording keeps many words but few word pairs or triples


class BenchmarkIndex:
    """Every n-gram of every benchmark item, mapped to the items holding it."""

    def __init__(self, benchmarks: dict[str, list[str]], *, n: int = 8, min_overlap: float = 0.5,
                 fuzzy_threshold: float | None = None, num_perm: int = 128):
        self.n = n
        self.min_overlap = min_overlap
        self.grams: dict[int, list[int]] = {}
        self.sizes: list[int] = []
        self.short: dict[str, int] = {}
        self.items: list[tuple[str, int]] = []
        texts: list[str] = []
        for name in sorted(benchmarks):
            for j, item in enumerate(benchmarks[name]):
                k = len(self.items)
                self.items.append((name, j))
                texts.append(item or "")
                toks = words(item or "")
                grams = set(shingle_hashes(token_hash_array(toks), n, fold=False).tolist()) if len(toks) >= n \
                    else set()
                self.sizes.append(len(grams))
                if toks and not grams:
                    self.short.setdefault(" ".join(toks), k)
                for h in grams:
                    self.grams.setdefault(h, []).append(k)
        self.fuzzy_threshold = fuzzy_threshold
        if fuzzy_threshold is not None:
            self.num_perm = num_perm
            self.sigs = signatures(texts, num_perm=num_perm, shingle=FUZZY_SHINGLE)
            self.bands, self.rows = lsh_params(fuzzy_threshold, num_perm)
            self.tables: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]
            for i, doc in enumerate(band_view(self.sigs, self.bands, self.rows)):
                for table, key in zip(self.tables, band_keys(doc), strict=True):
                    table.setdefault(key, []).append(i)

    def match(self, text: str) -> tuple[tuple[str, int], str] | None:
        """``((benchmark, item), how)`` for the best-covered item, or None."""
        toks = words(text or "")
        if not toks:
            return None
        exact = self.short.get(" ".join(toks))
        if exact is not None:
            return self.items[exact], "exact text"
        if len(toks) < self.n:
            return None
        counts: dict[int, int] = {}
        for h in set(shingle_hashes(token_hash_array(toks), self.n, fold=False).tolist()):
            for k in self.grams.get(h, ()):
                counts[k] = counts.get(k, 0) + 1
        if not counts:
            return None
        k, shared = max(counts.items(), key=lambda kv: (kv[1] / self.sizes[kv[0]], -kv[0]))
        coverage = shared / self.sizes[k]
        if coverage < self.min_overlap:
            return None
        return self.items[k], f"{coverage:.0%} of its {self.n}-grams"

    def fuzzy_match(self, sigs: np.ndarray) -> list[tuple[tuple[str, int], float] | None]:
        out: list[tuple[tuple[str, int], float] | None] = []
        for sig, doc in zip(sigs, band_view(sigs, self.bands, self.rows), strict=True):
            cands = {i for table, key in zip(self.tables, band_keys(doc), strict=True) for i in table.get(key, ())}
            best = None
            for i in sorted(cands):
                jaccard = float(np.mean(self.sigs[i] == sig))
                if jaccard >= self.fuzzy_threshold and (best is None or jaccard > best[1]):
                    best = (self.items[i], jaccard)
            out.append(best)
        return out


def _matches(index: BenchmarkIndex, problems: list[str], references: list[str] | None
             ) -> list[tuple[tuple[str, int], str] | None]:
    """Per problem, ``((benchmark, item), how)`` for the item it overlaps, or None."""
    out: list[tuple[tuple[str, int], str] | None] = []
    for i, problem in enumerate(problems):
        hit = index.match(problem)
        reference = references[i] if references else None
        if hit is None and reference and len(words(reference)) >= index.n:
            hit = index.match(reference)
            hit = (hit[0], f"reference, {hit[1]}") if hit else None
        elif hit is not None:
            hit = (hit[0], f"problem, {hit[1]}")
        out.append(hit)
    if index.fuzzy_threshold is not None:
        sigs = signatures(problems, num_perm=index.num_perm, shingle=FUZZY_SHINGLE)
        for i, z in enumerate(index.fuzzy_match(sigs)):
            if out[i] is None and z is not None:
                out[i] = (z[0], f"problem, fuzzy jaccard~{z[1]:.2f}")
    return out


def find_contaminated(texts: list[str], benchmarks: dict[str, list[str]], *, n: int = 8,
                      min_overlap: float = 0.5, fuzzy_threshold: float | None = None
                      ) -> list[tuple[str, int] | None]:
    """For each text, the ``(benchmark name, item index)`` it overlaps, or None."""
    index = BenchmarkIndex(benchmarks, n=n, min_overlap=min_overlap, fuzzy_threshold=fuzzy_threshold)
    return [m[0] if m else None for m in _matches(index, texts, None)]


def contamination(problems: list[str], references: list[str], index: BenchmarkIndex) -> list[str | None]:
    """Per problem, a detail naming the benchmark item it overlaps (``name#item (how)``), or None."""
    return [f"{m[0][0]}#{m[0][1]} ({m[1]})" if m else None for m in _matches(index, problems, references)]
