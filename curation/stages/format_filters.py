"""Format filters on teacher responses, each drop with its own reason code.

Where the reasoning ends is ``verifiers.reasoning.split_reasoning``, the definition the
verifiers use too, for every tag style (``<think>`` with or without R1's opener, the
``<|begin_of_thought|>``/``<|begin_of_solution|>`` tags, plain chain-of-thought).

- ``no_think``: no reasoning block (unless ``allow_no_think``).
- ``truncated_reasoning``: a reasoning (or solution) block opened and never closed, in any tag
  style: a cut-off trace, never kept, ``allow_no_think`` or not.
- ``empty_final``: nothing after the reasoning block.
- ``truncated`` / ``bad_finish_reason``: the source's finish reason is known and is not ``stop``.
- ``too_long``: longer than the bound (tokens of the tokenizer when given, else characters).
- ``degenerate_repetition``: the response loops (a long word n-gram repeated many times, or a
  tail that compresses like a loop).
- ``empty_response``: nothing at all.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

import polars as pl

from curation.config import FilterConfig
from curation.settings import ConfigError
from curation.stages.contract import StageResult, split_by_reason
from verifiers import as_think, split_reasoning

DEFAULT_MAX_TOKENS, DEFAULT_MAX_CHARS = 32768, 131072
_WORD = re.compile(r"\S+")


def normalize_think(response: str) -> str:
    """The response in R1's ``<think>...</think>`` form (a missing opener put back, the
    thought/solution tags rewritten); other text unchanged."""
    return as_think(response)


def repetition_detail(text: str, ngram: int = 20, max_repeats: int = 10) -> str | None:
    """Why ``text`` looks like a degenerate loop, or None."""
    words = _WORD.findall(text)
    if len(words) >= ngram * max_repeats:
        counts = Counter(hash(tuple(words[i:i + ngram])) for i in range(0, len(words) - ngram + 1))
        gram, count = counts.most_common(1)[0]
        if count > max_repeats:
            return f"a {ngram}-word sequence repeats {count} times"
    tail = text[-4096:].encode()
    if len(tail) >= 2048:
        ratio = len(tail) / len(zlib.compress(tail, 6))
        if ratio > 12:
            return f"the last {len(tail)} bytes compress {ratio:.0f}x (a loop)"
    return None


class LengthCounter:
    """Counts response length in tokens (when a tokenizer is given) or characters."""

    def __init__(self, tokenizer: str | None):
        self.unit = "tokens" if tokenizer else "characters"
        self._tok = None
        if tokenizer:
            try:
                from transformers import AutoTokenizer
            except ImportError:
                raise ConfigError(["filters.tokenizer: needs transformers: pip install 'branch-merge[tokenize]'"]
                                  ) from None
            try:
                self._tok = AutoTokenizer.from_pretrained(tokenizer)
            except Exception as exc:
                raise ConfigError([f"filters.tokenizer: cannot load {tokenizer!r}: {str(exc).splitlines()[0][:160]}"]
                                  ) from None

    def count(self, texts: list[str]) -> list[int]:
        if self._tok is None:
            return [len(t) for t in texts]
        return [len(ids) for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]

    def bound(self, max_length: int | None) -> int:
        if max_length is not None:
            return max_length
        return DEFAULT_MAX_TOKENS if self._tok is not None else DEFAULT_MAX_CHARS


def format_stage(samples: pl.DataFrame, cfg: FilterConfig, lengths: LengthCounter) -> StageResult:
    """Apply every format filter; kept rows get a normalised ``response`` and a ``length``."""
    responses = samples["response"].to_list()
    finish = samples["finish_reason"].to_list()
    normalized = [normalize_think(r) if isinstance(r, str) and cfg.normalize_reasoning else r for r in responses]
    measured = lengths.count([r or "" for r in normalized])
    bound = lengths.bound(cfg.max_length)
    reasons: list[str | None] = []
    details: list[str] = []
    for text, fin, length in zip(normalized, finish, measured, strict=True):
        reason, detail = _check(text, fin, length, bound, lengths.unit, cfg)
        reasons.append(reason)
        details.append(detail)
    frame = samples.with_columns(pl.Series("response", normalized, dtype=pl.String),
                                 pl.Series("length", measured, dtype=pl.Int64))
    return split_by_reason(frame, "format", reasons, details)


def _check(text, finish, length, bound, unit, cfg: FilterConfig) -> tuple[str | None, str]:
    if not isinstance(text, str) or not text.strip():
        return "empty_response", "no text"
    if cfg.require_stop and finish is not None and finish != "stop":
        if finish == "length":
            return "truncated", "finish_reason=length"
        return "bad_finish_reason", f"finish_reason={finish}"
    split = split_reasoning(text)
    if not split.complete:
        return "truncated_reasoning", f"{split.unclosed} is never closed (a cut-off trace)"
    if split.reasoning is None and not cfg.allow_no_think:
        return "no_think", "no </think> reasoning block (use --allow-no-think for plain chain-of-thought)"
    if not split.final.strip():
        return "empty_final", "nothing after " + ("the thought block" if split.style == "thought" else "</think>")
    if length > bound:
        return "too_long", f"{length} {unit} > {bound}"
    loop = repetition_detail(text, cfg.repetition_ngram, cfg.repetition_max)
    if loop:
        return "degenerate_repetition", loop
    return None, ""
