"""The verifier registry: one table of batch verifiers, read by curation's domain registry and by
the RL rewards.

A ``Verifier`` checks a batch of responses against their golds in one call,
``verifier(responses, golds, extras, options) -> verdicts`` in input order, and never raises for a
bad response. ``golds`` are the values as a dataset holds them (text, numbers, tests), ``extras``
the other columns it reads (``extra_columns``: the choice verifier reads ``choices``), and
``VerifyOptions`` the deadline, the workers, the sandbox and partial credit.

``VERIFIERS`` maps names to verifiers: the built-in ones below, and the name of every domain
registered (``curation.register_domain`` adds it for the domain's verifier), so a reward made for
a domain (``verifiers.rewards.make_reward(NAME)``) grades with the verifier that curated its set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from verifiers.verdict import Verdict

__all__ = ["VerifyOptions", "Verifier", "VERIFIERS", "register_verifier", "get_verifier"]


@dataclass(frozen=True)
class VerifyOptions:
    timeout_s: float = 5.0  # hard wall-clock limit per item sent to the math worker pool
    workers: int | None = None  # worker processes / sandboxes at once (default: the cores)
    sandbox: bool = True  # programs: run them against their tests (False: a static check, passed=None)
    limits: Any = None  # programs: a ``verifiers.code.Limits`` (default ``Limits()``)
    partial_credit: bool = False  # programs: judge each test alone, the verdict carries the counts
    # Run the math pool's calls on its one long-lived thread: for callers on several threads (rewards).
    pool_thread: bool = False


BatchCheck = Callable[[list, list, dict, VerifyOptions], list[Verdict]]


@dataclass(frozen=True)
class Verifier:
    name: str
    check: BatchCheck  # (responses, golds, extras, options) -> verdicts
    extra_columns: tuple[str, ...] = ()  # dataset columns it reads besides the gold
    runs_programs: bool = False  # candidates are executed: the sandbox, its limits and partial credit apply

    def __call__(self, responses, golds, extras: dict | None = None,
                 options: VerifyOptions | None = None) -> list[Verdict]:
        return self.check(list(responses), list(golds), extras or {}, options or VerifyOptions())

    def checked(self, verdict: Verdict) -> bool:
        """Whether ``verdict`` judged the response against its gold: decided (passed True or False)
        and, for a verifier that runs programs, by running the program (a static check, or a response
        with no program, says nothing of the tests). What a pass rate may count."""
        if verdict.passed is None:
            return False
        return not self.runs_programs or ran_program(verdict)


def ran_program(verdict: Verdict) -> bool:
    """Whether a program verdict comes from running the program: its detail names the isolation it
    ran under (``verifiers.code.outcome.code_verdict``), or per-test counts (partial credit)."""
    try:
        detail = json.loads(verdict.detail)
    except (TypeError, ValueError):
        return False
    return isinstance(detail, dict) and (detail.get("isolation", "none") != "none" or "tests_passed" in detail)


VERIFIERS: dict[str, Verifier] = {}


def register_verifier(verifier: Verifier, *, name: str | None = None, replace: bool = False) -> Verifier:
    """Add ``verifier`` under ``name`` (default its own); a name bound to another verifier is an
    error unless ``replace``."""
    key = name or verifier.name
    if VERIFIERS.get(key, verifier) is not verifier and not replace:
        raise ValueError(f"verifier {key!r} is already registered")
    VERIFIERS[key] = verifier
    return verifier


def get_verifier(name: str) -> Verifier:
    try:
        return VERIFIERS[name]
    except KeyError:
        raise ValueError(f"unknown verifier {name!r}; choose one of {', '.join(sorted(VERIFIERS))}") from None


# Every call into the math worker pool with ``pool_thread`` runs on this one thread, which lives as
# long as the process. (1) The shared pool has one set of worker pipes: two threads in its ``map``
# at once read each other's results (seen: StopIteration, lost items). (2) Its fork server dies
# with the *thread* that started it (PR_SET_PDEATHSIG follows the creating thread): started from a
# short-lived trainer thread, it was killed when that thread ended and the next call hit a broken
# pipe. Callers wait for their turn; each call still uses every worker.
_POOL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward-math-pool")


def _math_pool_call(options: VerifyOptions, fn, *args, **kwargs):
    if options.pool_thread:
        return _POOL_THREAD.submit(fn, *args, **kwargs).result()
    return fn(*args, **kwargs)


# -- the built-in verifiers ------------------------------------------------------------------------

def gold_text(gold) -> str | None:
    """A math gold as text (numbers in their short form), None when it is no answer."""
    if isinstance(gold, bool) or gold is None:
        return None
    if isinstance(gold, int):
        return str(gold)
    if isinstance(gold, float):
        return str(int(gold)) if gold.is_integer() and abs(gold) < 1e15 else repr(gold)
    return gold if isinstance(gold, str) else None


def check_math_answers(responses: list, golds: list, extras: dict, options: VerifyOptions) -> list[Verdict]:
    """The final answer against the gold (``verifiers.math``); a gold that is no answer is
    ``unparseable_gold``."""
    from verifiers.math import verify_many

    out: list[Verdict | None] = [None] * len(responses)
    todo = []
    for i, (response, gold) in enumerate(zip(responses, golds, strict=True)):
        text = gold_text(gold)
        if text is None:
            out[i] = Verdict(None, "unparseable_gold", f"gold={gold!r}"[:100])
        else:
            todo.append((i, response, text))
    verdicts = _math_pool_call(options, verify_many, [(r, g) for _, r, g in todo], workers=options.workers,
                               timeout_s=options.timeout_s)
    for (i, _, _), verdict in zip(todo, verdicts, strict=True):
        out[i] = verdict
    return out  # type: ignore[return-value]


def check_choices(responses: list, golds: list, extras: dict, options: VerifyOptions) -> list[Verdict]:
    """A choice letter (or an index into ``choices``) or a value as the gold (``verifiers.science``;
    values go through the math pool)."""
    from verifiers.science import verify_many

    choices = extras.get("choices") or [None] * len(responses)
    items = [(r, g, list(c) if isinstance(c, (list, tuple)) and c else None)
             for r, g, c in zip(responses, golds, choices, strict=True)]
    return _math_pool_call(options, verify_many, items, workers=options.workers, timeout_s=options.timeout_s)


def _static_code_check(code: str) -> Verdict:
    from verifiers.code.test_formats import parse_python

    if len(code) > 200_000:
        return Verdict(None, "not_executed", "too long for the static check")
    try:
        parse_python(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return Verdict(False, "CE", f"{type(exc).__name__}: {exc}"[:300])
    return Verdict(None, "not_executed", "code parses; run with --sandbox to execute it")


def _single_tests(tests) -> list:
    """The tests as units judged one by one (for partial credit): one per stdin/stdout pair,
    call or assert line; a HumanEval ``check(candidate)`` stays one unit."""
    from verifiers.code.test_formats import AssertTests, CallTests, StdioTests, parse_tests

    parsed = parse_tests(tests)
    if isinstance(parsed, StdioTests):
        return [{"inputs": [i], "outputs": [o], "float_tol": parsed.float_tol}
                for i, o in zip(parsed.inputs, parsed.outputs, strict=True)]
    if isinstance(parsed, CallTests):
        return [{"fn_name": parsed.fn_name, "inputs": [a], "outputs": [o]}
                for a, o in zip(parsed.inputs, parsed.outputs, strict=True)]
    if isinstance(parsed, AssertTests) and parsed.check_code is None and parsed.asserts:
        return [{"test_list": [a], "test_setup_code": parsed.setup} for a in parsed.asserts]
    return [tests]


def _combined(verdicts: list[Verdict]) -> Verdict:
    """One verdict over per-test verdicts; ``passed`` is None if any test could not be judged."""
    unjudged = [v for v in verdicts if v.passed is None]
    if unjudged:
        return Verdict(None, unjudged[0].reason, unjudged[0].detail)
    n_ok = sum(v.passed for v in verdicts)
    wrong = next((v.reason for v in verdicts if not v.passed), "AC")
    return Verdict(n_ok == len(verdicts), wrong, json.dumps({"tests_passed": n_ok, "tests": len(verdicts)}))


def check_programs(responses: list, golds: list, extras: dict, options: VerifyOptions) -> list[Verdict]:
    """The last fenced program of the final part judged against the tests in the sandbox
    (``verifiers.code``); without ``options.sandbox`` only a static check (``passed=None``)."""
    from verifiers.code import judge_many, program_of

    out: list[Verdict | None] = [None] * len(responses)
    jobs, owner = [], []
    for i, (response, tests) in enumerate(zip(responses, golds, strict=True)):
        found = program_of(response)
        if isinstance(found, Verdict):
            out[i] = found
            continue
        code, language = found
        if language not in ("python", "cpp"):
            out[i] = Verdict(None, "unsupported_language", language)
            continue
        if not options.sandbox:
            out[i] = _static_code_check(code) if language == "python" else Verdict(None, "not_executed", "")
            continue
        try:
            units = _single_tests(tests) if options.partial_credit else [tests]
        except (ValueError, TypeError) as exc:
            out[i] = Verdict(None, "bad_tests", str(exc)[:300])
            continue
        for unit in units:
            jobs.append({"code": code, "tests": unit, "language": language, "limits": options.limits})
            owner.append(i)
    per_item: dict[int, list[Verdict]] = {}
    for i, verdict in zip(owner, judge_many(jobs, workers=options.workers), strict=True):
        per_item.setdefault(i, []).append(verdict)
    for i, verdicts in per_item.items():
        out[i] = verdicts[0] if len(verdicts) == 1 else _combined(verdicts)
    return out  # type: ignore[return-value]


MATH = register_verifier(Verifier("math", check_math_answers))
CHOICES = register_verifier(Verifier("science", check_choices, extra_columns=("choices",)))
PROGRAMS = register_verifier(Verifier("code", check_programs, runs_programs=True))
