"""Math-aware word tokens and stable token hashes, shared by dedup and decontamination.

Lower-cased; whitespace, punctuation, braces and ``$`` dropped; digits, LaTeX commands
(``\\frac``) and operators (``+ - * / = ^ < > !``) kept as tokens, so two problems that differ
only in their numbers do not look alike.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import xxhash

_TOKEN = re.compile(r"\\[a-z]+|[^\W\d_]+|\d+(?:\.\d+)?|[+\-*/=^<>!|]")


def tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    return _TOKEN.findall(text)


_WORD = re.compile(r"[^\s.,;:!?\"'()\[\]{}$`]+")


def words(text: str) -> list[str]:
    """Coarser units for n-gram overlap: lower-cased words split at spaces and punctuation, so a
    formula stays a few words (``x^2``, ``\\frac``, ``6x``) rather than a run of symbols."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


class _TokenHashes(dict):
    """token -> stable 64-bit hash (the same in every process and run), filled on first use."""

    def __missing__(self, token: str) -> int:
        if len(self) > 1 << 22:  # bound the memory of very large vocabularies
            self.clear()
        value = self[token] = xxhash.xxh64_intdigest(token.encode())
        return value


TOKEN_HASHES = _TokenHashes()


def token_hash(token: str) -> int:
    return TOKEN_HASHES[token]


_MULT = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant, odd
_MASK32 = np.uint64(0xFFFFFFFF)


def shingle_hashes(token_hashes: np.ndarray, n: int, *, fold: bool = True) -> np.ndarray:
    """32-bit hashes of every window of ``n`` consecutive tokens (one window if shorter).

    ``h = sum_k t[i+k] * M^(n-1-k)`` in uint64 arithmetic, folded to 32 bits (``fold=False``
    keeps all 64, for exact n-gram lookups where 32-bit collisions would matter). Vectorised
    over the whole array; ``shingle_hash_py`` computes the same value for one window.
    """
    t = token_hashes
    if len(t) == 0:
        return np.zeros(0, dtype=np.uint64)
    n = min(n, len(t))
    windows = len(t) - n + 1
    h = np.zeros(windows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _MULT + t[k:k + windows]
        return (h >> np.uint64(32)) ^ (h & _MASK32) if fold else h


def shingle_hash_py(window: tuple[str, ...]) -> int:
    """``shingle_hashes`` for one window, in plain Python (for the baseline and tests)."""
    h = 0
    for tok in window:
        h = (h * 0x9E3779B97F4A7C15 + token_hash(tok)) & 0xFFFFFFFFFFFFFFFF
    return (h >> 32) ^ (h & 0xFFFFFFFF)


def token_hash_array(toks: list[str]) -> np.ndarray:
    return np.fromiter((token_hash(t) for t in toks), dtype=np.uint64, count=len(toks))
