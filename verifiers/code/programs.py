"""Programs in responses judged against tests: the program a response gives, one judged program
(a sandbox error retried once), and many judged in parallel sandboxes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from verifiers.code.extract import extract_code_block
from verifiers.code.judge import judge_once
from verifiers.code.sandbox import Limits
from verifiers.verdict import Verdict

# A long-lived worker process (a Ray actor) judges on threads that outlive one call, so each
# thread's sandbox (its zygote) stays warm from one batch to the next; None: threads per call.
_warm_pool: ThreadPoolExecutor | None = None


def keep_sandboxes_warm(workers: int) -> None:
    """From now on ``judge_many`` in this process runs on ``workers`` threads that live as long as
    the process, and so do their sandboxes (about 15 MB each). For long-lived worker processes;
    verdicts do not depend on it."""
    global _warm_pool
    if _warm_pool is None:
        _warm_pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="judge")


def program_of(response) -> tuple[str, str] | Verdict:
    """The program a response gives, ``(code, language)`` (language defaults to python), or the
    verdict for a response that gives none: not text, a cut-off trace (``truncated_reasoning``:
    a reasoning block opened and never closed, however much code it shows) or no fenced block."""
    from verifiers.reasoning import split_reasoning

    if not isinstance(response, str):
        return Verdict(False, "no_code", "response is not text")
    split = split_reasoning(response)
    if not split.complete:
        return Verdict(False, "truncated_reasoning", f"{split.unclosed} is never closed")
    found = extract_code_block(response)
    if found is None:
        return Verdict(False, "no_code", "no fenced code block after </think>")
    return found[0], found[1] or "python"


def judge(code: str, tests, *, language: str = "python", limits: Limits | None = None) -> Verdict:
    """Judge one program; a sandbox error is retried once and never reported as wrong."""
    verdict = judge_once(code, tests, language=language, limits=limits)
    if verdict.reason == "SE":
        verdict = judge_once(code, tests, language=language, limits=limits)
    return verdict


def judge_many(items: Iterable, *, workers: int | None = None) -> list[Verdict]:
    """Judge ``(code, tests)`` pairs or dicts with ``code``, ``tests``, ``language``, ``limits``.

    Runs ``workers`` sandboxes at a time (default: the number of cores); order is kept.
    """
    jobs = []
    for item in items:
        if isinstance(item, dict):
            jobs.append((item["code"], item["tests"], item.get("language", "python"), item.get("limits")))
        else:
            code, tests = item[0], item[1]
            jobs.append((code, tests, item[2] if len(item) > 2 else "python", None))
    def one(j):
        return judge(j[0], j[1], language=j[2], limits=j[3])

    if _warm_pool is not None:
        return list(_warm_pool.map(one, jobs))
    with ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1)) as pool:
        return list(pool.map(one, jobs))
