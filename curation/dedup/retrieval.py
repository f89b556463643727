"""Candidate benchmark items for each training problem: the retrieval half of rephrase decontamination.

An LLM-rephrased or translated benchmark item shares few word n-grams with its original, so n-gram
coverage misses it; a lexical ranking still puts the original near the top, and a judge decides
(``curation.stages.decontam_judge``). ``LexicalIndex`` is BM25 (k1 1.2, b 0.75) over the benchmark
items, with two choices measured on ``rephrased_benchmark_pairs.jsonl`` (BENCHMARKS.md):

- **passages** (BM25 "MaxP"): an item is scored by its best unit, the whole item or one of its
  lines; a problem that copies only the question of a passage-and-question item ("This question
  refers to the following information. ...") otherwise loses to BM25's length normalisation;
- **two vocabularies fused**: words and numbers (NFKC, lower-cased, ``camelCase`` and ``snake_case``
  split, digit runs as their own tokens) and character 4-grams of those words (renamed identifiers,
  other inflections, code translated to C or JavaScript). Each ranking's scores are divided by the
  query's best score and the two are summed.

``dense_top_k`` ranks by cosine similarity of embeddings (``--decontam-retrieval embeddings``).
Both return, per query, ``[(item, score), ...]`` best first, ties broken by the lower item
index, items with no shared term left out. Everything here is pure and picklable: an executor
may run ``LexicalIndex.candidates`` on its workers.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np

Candidates = list[tuple[int, float]]

_CAMEL = re.compile(r"([a-z])([A-Z])")
_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_LINE = re.compile(r"\n+")
MIN_UNIT_WORDS = 4  # shorter lines ("Options:", "}") are not units of their own
CHAR_N = 4
_BATCH_CELLS = 1 << 23  # dense scores held at once per vocabulary (float32: 32 MB)


def words(text: str) -> list[str]:
    """Words and numbers: NFKC, identifiers split at camelCase and underscores, lower-cased."""
    return _TOKEN.findall(_CAMEL.sub(r"\1 \2", unicodedata.normalize("NFKC", text or "")).lower())


def char_grams(toks: list[str], n: int = CHAR_N) -> list[str]:
    """Character n-grams of each word with its boundaries marked (``#word#``); a short word is one gram."""
    out = []
    for w in toks:
        w = f"#{w}#"
        out.extend([w] if len(w) <= n else [w[i:i + n] for i in range(len(w) - n + 1)])
    return out


def units(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The texts BM25 scores for each item: the item, then each line of at least ``MIN_UNIT_WORDS``
    words when it has two or more such lines. Returns the units and where each item's units start."""
    out: list[str] = []
    starts = []
    for text in texts:
        starts.append(len(out))
        out.append(text)
        lines = [line for line in _LINE.split(text or "") if len(words(line)) >= MIN_UNIT_WORDS]
        if len(lines) > 1:
            out.extend(lines)
    return out, np.asarray(starts, dtype=np.int64)


class BM25:
    """Okapi BM25 over one vocabulary: a (terms x documents) weight matrix; a query scores every
    document by the weights of its distinct terms."""

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75):
        import scipy.sparse as sp

        vocab: dict[str, int] = {}
        cols, rows, tfs = [], [], []
        for d, toks in enumerate(docs):
            for term, n in Counter(toks).items():
                cols.append(vocab.setdefault(term, len(vocab)))
                rows.append(d)
                tfs.append(n)
        tf = np.asarray(tfs, dtype=np.float64)
        rows_a, cols_a = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        length = np.bincount(rows_a, weights=tf, minlength=len(docs))
        avg = max(float(length.mean()) if len(docs) else 0.0, 1e-9)
        df = np.bincount(cols_a, minlength=len(vocab))
        idf = np.log1p((len(docs) - df + 0.5) / (df + 0.5))
        w = tf * (k1 + 1) / (tf + k1 * (1 - b + b * length[rows_a] / avg)) * idf[cols_a]
        self.weights = sp.csr_matrix((w.astype(np.float32), (cols_a, rows_a)), shape=(len(vocab), len(docs)))
        self.vocab = vocab

    def scores(self, queries: list[list[str]]) -> np.ndarray:
        """(queries x documents) scores, dense float32."""
        import scipy.sparse as sp

        cols, indptr = [], [0]
        for toks in queries:
            cols.extend(sorted({self.vocab[t] for t in toks if t in self.vocab}))
            indptr.append(len(cols))
        q = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(len(queries), len(self.vocab)))
        return (q @ self.weights).toarray()


class LexicalIndex:
    """BM25 over benchmark items, passages and two vocabularies fused (see the module docstring)."""

    def __init__(self, texts: list[str]):
        self.size = len(texts)
        unit_texts, self.starts = units(texts)
        unit_words = [words(t) for t in unit_texts]
        self.word = BM25(unit_words)
        self.chars = BM25([char_grams(w) for w in unit_words])
        self.n_units = len(unit_texts)

    def _item_scores(self, bm25: BM25, queries: list[list[str]]) -> np.ndarray:
        s = np.maximum.reduceat(bm25.scores(queries), self.starts, axis=1)
        best = s.max(axis=1, keepdims=True)
        return np.divide(s, best, out=np.zeros_like(s), where=best > 0)

    def scores(self, texts: list[str]) -> np.ndarray:
        """(texts x items) fused scores in [0, 2]; 0: no term in common."""
        toks = [words(t) for t in texts]
        return self._item_scores(self.word, toks) + self._item_scores(self.chars, [char_grams(w) for w in toks])

    def candidates(self, texts: list[str], k: int) -> list[Candidates]:
        """The ``k`` best items of each text (fewer when fewer share a term with it)."""
        out: list[Candidates] = []
        if self.size == 0:
            return [[] for _ in texts]
        batch = max(1, _BATCH_CELLS // max(1, self.n_units))
        for i in range(0, len(texts), batch):
            out.extend(top_k(self.scores(texts[i:i + batch]), k))
        return out


def top_k(scores: np.ndarray, k: int) -> list[Candidates]:
    """Per row, the ``k`` highest positive scores as ``(column, score)``, ties to the lower column."""
    out = []
    n = scores.shape[1]
    for row in scores:
        if k < n:
            cut = np.partition(row, n - k)[n - k]  # the k-th largest value
            idx = np.flatnonzero(row >= cut)
        else:
            idx = np.arange(n)
        idx = idx[row[idx] > 0]
        order = np.lexsort((idx, -row[idx]))[:k]
        out.append([(int(idx[j]), round(float(row[idx[j]]), 4)) for j in order])
    return out


def dense_top_k(queries: np.ndarray, items: np.ndarray, k: int) -> list[Candidates]:
    """Cosine top-``k`` of each query embedding among the item embeddings (rows of both)."""
    def unit(m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=np.float32)
        norm = np.linalg.norm(m, axis=1, keepdims=True)
        return np.divide(m, norm, out=np.zeros_like(m), where=norm > 0)

    if len(items) == 0:
        return [[] for _ in range(len(queries))]
    q, m = unit(queries), unit(items)
    out: list[Candidates] = []
    batch = max(1, _BATCH_CELLS // len(m))
    for i in range(0, len(q), batch):
        sims = q[i:i + batch] @ m.T
        out.extend(top_k(np.where(sims > 0, sims, 0.0), k))
    return out
