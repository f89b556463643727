"""MinHash signatures computed in vectorised batches, LSH banding, near-duplicate clusters.

Signatures are bit-for-bit those of ``datasketch.MinHash`` (scheme ``affine32``, seed 1) fed
the same 32-bit shingle hashes, and the banding is ``datasketch.MinHashLSH``'s (same ``(b, r)``
for a threshold), so results equal a plain datasketch loop, only computed in batches: one
numpy pass per batch of documents instead of one ``update`` call per shingle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from curation.dedup.text_normalize import TOKEN_HASHES, shingle_hashes, tokens

SEED = 1
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


def permutations(num_perm: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters for ``(num_perm, seed)``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` exactly as ``datasketch.MinHashLSH`` picks them (equal weights)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def _batch_shingles(texts: list[str], shingle: int) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes of a batch, flat, with each document's shingle count.

    Token hashes of the whole batch go into one array and the rolling n-gram hash runs once
    over it; windows that would straddle two documents are dropped. A document shorter than
    ``shingle`` tokens gets one window over all its tokens (as datasketch would be fed).
    """
    docs = [tokens(t) for t in texts]
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    cache = TOKEN_HASHES
    flat = np.fromiter((cache[t] for d in docs for t in d), dtype=np.uint64, count=int(lengths.sum()))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    windows = shingle_hashes(flat, shingle) if len(flat) >= shingle else np.zeros(0, dtype=np.uint64)
    # a window starting at p is valid when p + shingle <= end of its document
    counts = np.maximum(lengths - shingle + 1, 0)
    first_window = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(int(counts.sum())) + np.repeat(starts - first_window, counts)
    parts = [windows[pos]]
    short = np.flatnonzero((lengths > 0) & (lengths < shingle))
    if len(short):  # rare: documents with fewer tokens than the shingle size
        counts = counts.copy()
        extra = {int(i): shingle_hashes(flat[starts[i]:starts[i] + lengths[i]], shingle) for i in short}
        counts[short] = 1
        merged = []
        cursor = 0
        for i in range(len(docs)):
            if i in extra:
                merged.append(extra[i])
            elif counts[i]:
                merged.append(parts[0][cursor:cursor + counts[i]])
                cursor += counts[i]
        parts = [np.concatenate(merged) if merged else np.zeros(0, dtype=np.uint64)]
    return parts[0], counts


def signatures(texts: list[str], *, num_perm: int = 128, shingle: int = 3, batch: int = 2048) -> np.ndarray:
    """``(len(texts), num_perm)`` uint32 MinHash signatures. An empty text gets the all-max row."""
    a, b = permutations(num_perm)
    out = np.full((len(texts), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    for start in range(0, len(texts), batch):
        flat, counts = _batch_shingles(texts[start:start + batch], shingle)
        nonempty = np.flatnonzero(counts)
        if len(nonempty) == 0:
            continue
        with np.errstate(over="ignore"):
            mixed = _fmix32(flat.astype(np.uint32))
            permuted = a[:, None] * mixed[None, :] + b[:, None]  # uint32 wrap-around, as datasketch
        offsets = np.concatenate([[0], np.cumsum(counts[nonempty])[:-1]])
        out[start + nonempty] = np.minimum.reduceat(permuted, offsets, axis=1).T
    return out


def band_view(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(docs, bands, rows)`` view of the signatures, one LSH band per middle index."""
    return np.ascontiguousarray(sigs[:, : bands * rows]).reshape(len(sigs), bands, rows)


def band_keys(doc_bands: np.ndarray) -> list[bytes]:
    """One document's band keys: the bytes of each band (datasketch keys its tables the same way)."""
    return [band.tobytes() for band in doc_bands]


@dataclass
class NearDupIndex:
    """Kept documents' band keys, so later batches can be checked against them."""

    ids: list[str]
    sigs: np.ndarray
    threshold: float
    num_perm: int
    shingle: int

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "signatures.npy", self.sigs)
        (folder / "index.json").write_text(json.dumps({"ids": self.ids, "threshold": self.threshold,
                                                       "num_perm": self.num_perm, "shingle": self.shingle}))

    @classmethod
    def load(cls, folder: Path) -> NearDupIndex:
        meta = json.loads((folder / "index.json").read_text())
        return cls(meta["ids"], np.load(folder / "signatures.npy"), meta["threshold"], meta["num_perm"],
                   meta["shingle"])


def cluster(sigs: np.ndarray, keys: list, threshold: float, *, prior: NearDupIndex | None = None
            ) -> list[int | str]:
    """Greedy LSH clustering in the order of ``keys`` (sort them first for "lowest id wins").

    Returns, per document, its own position if kept, the position of the kept document it
    duplicates, or the id (a ``str``) of a document in ``prior`` that it duplicates.
    """
    bands, rows = lsh_params(threshold, sigs.shape[1])
    tables: list[dict[bytes, int | str]] = [{} for _ in range(bands)]
    if prior is not None and len(prior.ids):
        for pid, doc in zip(prior.ids, band_view(prior.sigs, bands, rows), strict=True):
            for table, key in zip(tables, band_keys(doc), strict=True):
                table.setdefault(key, pid)
    view = band_view(sigs, bands, rows)
    result: list[int | str] = list(range(len(keys)))
    for i in sorted(range(len(keys)), key=lambda i: keys[i]):
        doc_keys = band_keys(view[i])
        hits = [table[k] for table, k in zip(tables, doc_keys, strict=True) if k in table]
        if hits:
            prior_hits = [h for h in hits if isinstance(h, str)]
            result[i] = min(prior_hits) if prior_hits else min(hits, key=lambda j: keys[j])
            continue
        for table, k in zip(tables, doc_keys, strict=True):
            table[k] = i
    return result


def find_near_duplicates(texts: list[str], *, threshold: float = 0.8, num_perm: int = 128,
                         shingle: int = 3) -> list[int]:
    """For each text, the index of the kept text it near-duplicates, or its own index.

    Texts are visited in order, so the earliest of a cluster is kept.
    """
    sigs = signatures(texts, num_perm=num_perm, shingle=shingle)
    return [int(x) for x in cluster(sigs, list(range(len(texts))), threshold)]
