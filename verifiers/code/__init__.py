"""Code verification: extract the program, run it in a sandbox, judge it against tests.

``judge(code, tests)`` returns a ``Verdict`` whose reason is AC, WA, TLE, MLE, OLE, RE, CE or SE
(sandbox error: retried once, then ``passed=None``); ``judge_many`` runs many in parallel;
``extract_code`` finds the last fenced block after ``</think>``. See ``sandbox.py`` for what
the isolation protects against and what it does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from verifiers.code.extract import extract_code, extract_code_block
from verifiers.code.judge import judge_once
from verifiers.code.sandbox import Limits, isolation
from verifiers.code.test_formats import parse_tests
from verifiers.verdict import Verdict

__all__ = ["judge", "judge_many", "extract_code", "extract_code_block", "Limits", "isolation",
           "parse_tests"]


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
    with ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda j: judge(j[0], j[1], language=j[2], limits=j[3]), jobs))
