"""A science answer against its gold: a choice letter read from the final part, or a value through
the math verifier (see the package docstring)."""

from __future__ import annotations

import time

from verifiers.math import split_final
from verifiers.math import verify as verify_math
from verifiers.reasoning import split_reasoning
from verifiers.science.choices import LETTERS, choice_letters
from verifiers.verdict import Verdict


def is_free_form(gold: str) -> bool:
    """A gold written as prose (an explanation), not a value: more than six words and no boxed value."""
    return len(gold.split()) > 6 and "\\boxed" not in gold


def _gold_letter(gold, choices: list[str] | None) -> str | None:
    if isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return LETTERS[gold] if choices is None or 0 <= gold < len(choices) else None
    if isinstance(gold, str):
        g = gold.strip().strip("()").strip()
        if len(g) == 1 and g.upper() in LETTERS:
            return g.upper()
    return None


def verify(response: str, gold, *, choices: list[str] | None = None, timeout_s: float = 5.0) -> Verdict:
    """Verify a science answer (see the module docstring). Never raises for a bad response."""
    t0 = time.perf_counter()
    letter = _gold_letter(gold, choices)
    if letter is None:
        if isinstance(gold, (int, float)) and not isinstance(gold, bool):
            gold = str(gold)
        if not isinstance(gold, str) or not gold.strip():
            return Verdict(None, "unparseable_gold", f"gold={gold!r}"[:100])
        if is_free_form(gold):
            return Verdict(None, "free_form_gold", "the gold is prose; no verifier can decide it")
        return verify_math(response, gold, timeout_s=timeout_s)
    if not isinstance(response, str):
        return Verdict(False, "no_answer", "response is not text", time.perf_counter() - t0)
    split = split_reasoning(response)
    if not split.complete:  # a cut-off trace: whatever letter it mentions last is no answer
        return Verdict(False, "truncated_reasoning", f"{split.unclosed} is never closed", time.perf_counter() - t0)
    _, final = split_final(response)
    found = choice_letters(final, choices)
    seconds = time.perf_counter() - t0
    if found is None:
        return Verdict(False, "no_answer", "no choice letter in the final part", seconds)
    letters, how = found
    if choices is not None:
        letters = [x for x in letters if LETTERS.index(x) < len(choices)] or letters
    if len(letters) > 1:
        return Verdict(False, "ambiguous_answer", f"names {', '.join(letters)} ({how})", seconds)
    ok = letters[0] == letter
    return Verdict(ok, "correct" if ok else "wrong_answer", f"answer={letters[0]} via={how}", seconds)


def verify_many(items, *, workers: int | None = None, timeout_s: float = 5.0) -> list[Verdict]:
    """``(response, gold, choices)`` triples; letter golds are checked here, the rest in one
    batch through ``verifiers.math.verify_many`` (hard deadline, worker pool)."""
    from verifiers.math import verify_many as verify_math_many

    items = list(items)
    out: list[Verdict | None] = [None] * len(items)
    math_idx, math_pairs = [], []
    for i, (response, gold, choices) in enumerate(items):
        if (_gold_letter(gold, choices) is not None or not isinstance(gold, (str, int, float))
                or isinstance(gold, bool) or (isinstance(gold, str) and is_free_form(gold))):
            out[i] = verify(response, gold, choices=choices)
        else:
            math_idx.append(i)
            math_pairs.append((response, str(gold)))
    for i, verdict in zip(math_idx, verify_math_many(math_pairs, workers=workers, timeout_s=timeout_s), strict=True):
        out[i] = verdict
    return out  # type: ignore[return-value]
