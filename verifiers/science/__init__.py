"""Science answers: multiple-choice letters in the forms models use, or numbers via the math verifier.

``verify(response, gold, *, choices=None)``: when ``gold`` is a choice (a letter, or an index
into ``choices``), the letter the response gives as its final answer is compared with it. The
final answer is read from the text after ``</think>``, strongest form first:
``\\boxed{C}`` (also ``\\boxed{\\text{(C)}}``), "the answer is (C)" / "Answer: C" / "**Final
Answer:** C", a lone "(C)" or "C." line, the text of exactly one option, and last the final
"(C)" anywhere. The last
statement of the strongest form found counts (models correct themselves); if that statement
names two different letters ("A or C", ``\\boxed{A, C}``) the verdict is ``ambiguous_answer``.
Any other gold (a number, an expression) goes through ``verifiers.math``.
"""

from __future__ import annotations

import re
import time
import unicodedata

from verifiers.math import boxed_answers, split_final
from verifiers.math import verify as verify_math
from verifiers.verdict import Verdict

LETTERS = "ABCDEFGHIJKLMNOP"
_LETTER_LIST = re.compile(r"^\s*\(?\s*([A-P])\s*\)?(?:\s*(?:,|and|or|&|/)\s*\(?\s*([A-P])\s*\)?)*\s*[.)]?\s*$")
_STATEMENTS = [
    # "the (final) answer is (C)", "answer: C", "**Answer:** (C)", "correct option is C"
    re.compile(r"(?:final\s+answer|answer|correct\s+(?:answer|option|choice))\s*(?:is|:)?\s*[*:\s]*"
               r"(?:option\s+|choice\s+)?\(?\s*([A-P])\s*\)?(?:\s*(?:,|and|or|&|/)\s*\(?\s*([A-P])\b\s*\)?)?"
               r"(?![A-Za-z])", re.IGNORECASE),
    # a line that is only "(C)" or "C." or "C)"
    re.compile(r"^\s*\**\s*\(?([A-P])\)?[.)]?\s*\**\s*$", re.MULTILINE),
]
# a parenthesised letter anywhere: "so I pick (C)" (weakest, after the option text: the last counts)
_WEAK = re.compile(r"(?<![A-Za-z0-9])\(([A-P])\)(?![A-Za-z0-9])")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("$", "")
    return re.sub(r"\s+", " ", text).strip(" .,;:")


def choice_letters(final: str, choices: list[str] | None = None) -> tuple[list[str], str] | None:
    """Letters named by the final answer statement, and how they were found; None if none."""
    boxed = boxed_answers(final)
    if boxed:
        content = _TEXT_WRAP.sub(r"\1", boxed[-1]).replace("$", "").strip()
        m = _LETTER_LIST.match(content)
        if m:
            return sorted({x for x in re.findall(r"[A-P]", content)}), "boxed"
        if choices:
            hit = _option_text(content, choices)
            if hit:
                return [hit], "boxed option text"
    for pattern in _STATEMENTS:
        matches = list(pattern.finditer(final))
        if matches:
            last = matches[-1]
            letters = sorted({g.upper() for g in last.groups() if g})
            return letters, "statement"
    if choices:
        hit = _option_text(final, choices)
        if hit:
            return [hit], "option text"
    weak = list(_WEAK.finditer(final))
    if weak:
        return [weak[-1].group(1)], "parenthesised letter"
    return None


_MIN_OPTION_CHARS = 6  # shorter options ("2", "True", "B") are not recognisable by their text


def _option_text(text: str, choices: list[str]) -> str | None:
    """The letter of the one option whose text appears in ``text``; when several do (one option
    may contain another), the unique longest of them; else None."""
    norm = f" {_norm(text)} "
    found = []  # (length of the option's text, letter)
    for letter, option in zip(LETTERS, choices, strict=False):  # at most 16 options (the references check)
        option = _norm(str(option))
        if len(option) >= _MIN_OPTION_CHARS and re.search(r"(?<![a-z0-9])" + re.escape(option) + r"(?![a-z0-9])",
                                                            norm):
            found.append((len(option), letter))
    found.sort(reverse=True)
    if found and (len(found) == 1 or found[0][0] > found[1][0]):
        return found[0][1]
    return None


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
