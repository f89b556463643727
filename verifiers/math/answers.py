"""Math answers against a gold: the fast path in the calling process, the rest in the deadline pool.

``verify_many`` decides what it can by normalised strings and exact numbers here and sends the rest
(math-verify, then sympy) to worker processes under a hard wall-clock limit; see the package
docstring for the order of the checks."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from verifiers.deadline_pool import TIMEOUT, shared_pool
from verifiers.math.extract import boxed_spans, last_boxed, split_final
from verifiers.math.normalize import as_number, normalize_answer
from verifiers.math.quantities import as_latex, compare, parse_quantity
from verifiers.reasoning import split_reasoning
from verifiers.verdict import Verdict

_CHECK = "verifiers.math.equivalence:check"
_MAX_PRED_CHARS = 20_000
# A first batch with this many items for the workers starts a pool whose fork server warms the
# LaTeX parser once (about 2 s, serial) so that every worker, including replacements of killed
# ones, starts warm. Smaller batches start faster without it: the workers build their parser
# tables in parallel (1,300 responses, 302 worker items: cold start 4.5-5.1 s instead of 5.6-6.1 s).
_WARM_FROM = 2000
_FINAL_PHRASE = re.compile(r"final answer is|the answer is", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s|\n\s*\n")


def _joined(gap: str) -> bool:
    """Whether two boxes separated by ``gap`` read as one answer ("\\boxed{1} and \\boxed{2}")."""
    return len(gap) <= 60 and not _SENTENCE_END.search(gap)



def final_answer(response: str) -> str | None:
    """The last boxed answer of the final part, or None."""
    _, final = split_final(response)
    return last_boxed(final)


def _prepare(response: str, gold: str) -> tuple[Verdict | None, tuple[str, str] | None]:
    """Fast path. Returns a decided verdict, or the ``(pred_text, gold)`` item for a worker."""
    if not isinstance(gold, str) or not gold.strip():
        return Verdict(None, "unparseable_gold", "empty gold"), None
    if not isinstance(response, str):
        return Verdict(False, "no_answer", "response is not text"), None
    split = split_reasoning(response)
    if not split.complete:  # cut off mid-thought: whatever number it mentions last is no answer
        return Verdict(False, "truncated_reasoning", f"{split.unclosed} is never closed"), None
    final = split.final
    gold_q = parse_quantity(gold)
    if gold_q is not None and gold_q.scientific:
        gold = as_latex(gold_q, gold)  # math-verify must not read the e of 4.5e33 as Euler's number
    spans = boxed_spans(final)
    if not spans:
        if not final.strip():
            return Verdict(False, "no_answer", "empty final part"), None
        if normalize_answer(final) == normalize_answer(gold):
            return Verdict(True, "correct", "answer=<final part> via=string"), None
        return None, (final[-_MAX_PRED_CHARS:], gold)
    phrase = _FINAL_PHRASE.search(final, spans[-1][2])
    if phrase:
        # "...\boxed{255} ... The final answer is $10,455$": the statement after the box wins.
        return None, (final[phrase.start():][:_MAX_PRED_CHARS], gold)
    first = len(spans) - 1
    while first > 0 and _joined(final[spans[first - 1][2]:spans[first][1]]):
        first -= 1
    if first < len(spans) - 1:
        # "\\boxed{(1,2)} and \\boxed{(2,1)}": several boxes form one answer; math-verify joins them.
        return None, (final[spans[first][1]:spans[-1][2]][:_MAX_PRED_CHARS], gold)
    boxed = spans[-1][0]
    if not boxed:
        return Verdict(False, "no_answer", "empty \\boxed{}"), None
    a, g = normalize_answer(boxed), normalize_answer(gold)
    if a == g:
        return Verdict(True, "correct", f"answer={boxed[:80]} via=string"), None
    na, ng = as_number(a), as_number(g)
    if na is not None and ng is not None:
        if na[0] == ng[0]:
            return Verdict(True, "correct", f"answer={boxed[:80]} via=exact_number"), None
        if na[1] and ng[1]:
            return Verdict(False, "wrong_answer", f"answer={boxed[:80]} via=exact_number"), None
    answer_q = parse_quantity(boxed)
    if answer_q is not None and gold_q is not None and (
            answer_q.scientific or gold_q.scientific or answer_q.unit or gold_q.unit):
        same, how = compare(answer_q, gold_q)
        return Verdict(same, "correct" if same else "wrong_answer", f"answer={boxed[:80]} via=quantity ({how})"), None
    return None, ("\\boxed{" + boxed + "}", gold)


def verify_many(pairs: Iterable[tuple[str, str]], *, workers: int | None = None,
                timeout_s: float = 5.0) -> list[Verdict]:
    """Verify ``(response, gold)`` pairs; the result list is in input order.

    Never raises for a bad item: timeouts, crashes and verifier errors become verdicts with
    ``passed=None``.
    """
    pairs = list(pairs)
    out: list[Verdict | None] = [None] * len(pairs)
    todo: dict[tuple[str, str], list[int]] = {}
    for i, (response, gold) in enumerate(pairs):
        t0 = time.perf_counter()
        verdict, item = _prepare(response, gold)
        if verdict is not None:
            out[i] = Verdict(verdict.passed, verdict.reason, verdict.detail, time.perf_counter() - t0)
        else:
            todo.setdefault(item, []).append(i)
    if todo:
        # Sorting by gold sends the samples of one problem to the same worker chunk, where the
        # gold's parse is cached.
        items = sorted(todo, key=lambda it: (it[1], it[0]))
        t0 = time.perf_counter()
        pool = shared_pool(_CHECK, workers, warm=len(items) >= _WARM_FROM)
        results = pool.map(items, timeout_s=timeout_s, chunk_size=8)
        per_item = (time.perf_counter() - t0) / max(1, len(items))
        for item, res in zip(items, results, strict=True):
            verdict = _to_verdict(res, timeout_s, per_item)
            for i in todo[item]:
                out[i] = verdict
    return out  # type: ignore[return-value]


def _to_verdict(result, timeout_s: float, seconds: float) -> Verdict:
    if result == TIMEOUT:
        return Verdict(None, "timeout", f"no decision within {timeout_s:g}s", timeout_s)
    tag, payload = result
    if tag == "ok":
        passed, reason, detail = payload
        return Verdict(passed, reason, detail, seconds)
    if tag == "crash":
        return Verdict(None, "verifier_error", f"worker died (exit code {payload})", seconds)
    return Verdict(None, "verifier_error", str(payload), seconds)


def verify(response: str, gold: str, *, timeout_s: float = 5.0) -> Verdict:
    """Verify one response against one gold answer (see module docstring)."""
    return verify_many([(response, gold)], workers=1, timeout_s=timeout_s)[0]
