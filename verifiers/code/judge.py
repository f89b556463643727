"""The trusted judge: holds the tests and expected outputs, runs candidates in the sandbox.

Verdict reasons: ``AC`` accepted, ``WA`` wrong answer, ``TLE`` time limit, ``MLE`` memory limit,
``OLE`` output limit, ``RE`` runtime error, ``CE`` compile error, ``SE`` sandbox error (the
infrastructure failed; retried once, then ``passed=None``, never scored as wrong).

- stdin/stdout: one sandboxed run per test; the judge compares whitespace-separated tokens
  (all of them, no prefix match), floats within ``float_tol`` when given.
- function calls: the candidate is loaded under ``call_driver.py`` in one sandbox; the judge
  sends the arguments and compares the returned plain data.
- assert-style (HumanEval, MBPP): the assertions run here, in the judge, with the candidate's
  functions bound to proxies that call into the sandbox; expected values never enter it, and
  what comes back is plain data (no objects with a rigged ``__eq__``).
"""

from __future__ import annotations

import importlib
import json
import math
import secrets
import time
from dataclasses import replace
from functools import lru_cache

from verifiers.code.outcome import COMPILE_ERROR, classify_run, code_verdict
from verifiers.code.sandbox import Limits, run
from verifiers.code.session import (
    CallSession,
    NeedsSandboxAsserts,
    SessionError,
    in_session,
    python_files,
)
from verifiers.code.structures import HELPERS
from verifiers.code.test_formats import (
    AssertTests,
    CallTests,
    StdioTests,
    called_names,
    parse_tests,
    referenced_modules,
)
from verifiers.verdict import Verdict


def _tokens_equal(got: str, want: str, tol: float | None) -> bool:
    a, b = got.split(), want.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if tol is None:
            return False
        try:
            if not math.isclose(float(x), float(y), rel_tol=tol, abs_tol=tol):
                return False
        except ValueError:
            return False
    return True


def _values_equal(got, want, tol: float = 1e-9) -> bool:
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        return got == want or math.isclose(got, want, rel_tol=tol, abs_tol=tol)
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(_values_equal(a, b, tol) for a, b in zip(got, want, strict=True))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_values_equal(got[k], want[k], tol) for k in got)
    return type(got) is type(want) and got == want


@lru_cache(maxsize=4096)
def _compiled(source: str, name: str):
    """Trusted test code, compiled once per distinct text."""
    return compile(source, name, "exec")


def _expected_forms(want) -> list:
    """What a call's expected output may mean: itself; APPS wraps it in a one-element list;
    LiveCodeBench stores it as JSON text (so "7" may mean the string or the number)."""
    forms = [want]
    if isinstance(want, list) and len(want) == 1:
        forms.append(want[0])
    if isinstance(want, str):
        try:
            forms.append(json.loads(want))
        except json.JSONDecodeError:
            pass
    return forms


def _judge_stdio(code: str, tests: StdioTests, language: str, limits: Limits) -> Verdict:
    t0 = time.monotonic()
    outcomes: list[dict] = []
    if language == "cpp":
        compiled = run(["sh", "-c", "g++ -O2 -std=c++17 -o a.out solution.cpp 1>&2 && cat a.out"],
                       files={"solution.cpp": code.encode()},
                       limits=replace(limits, wall_s=max(limits.wall_s, 30), cpu_s=30, output_bytes=64 << 20))
        if compiled.sandbox_error:
            return code_verdict("SE", outcomes, compiled.sandbox_error, time.monotonic() - t0, compiled.isolation)
        if compiled.returncode != 0 or not compiled.stdout:
            return code_verdict("CE", outcomes, compiled.stderr.decode(errors="replace")[-500:], time.monotonic() - t0,
                            compiled.isolation)
        files, argv, python = {"a.out": (compiled.stdout, "0755")}, ["./a.out"], None
    else:
        files, argv, python = python_files(code), None, ("solution.py",)
    isolation = "none"
    for i, (stdin, want) in enumerate(zip(tests.inputs, tests.outputs, strict=True)):
        result = run(argv, python=python, files=files, stdin=stdin.encode(), limits=limits)
        isolation = result.isolation
        failure = classify_run(result, limits)
        if (failure and failure[0] == "RE" and i == 0 and language == "python"
                and COMPILE_ERROR.search(result.stderr.strip())):
            failure = ("CE", failure[1])
        outcome = failure[0] if failure else (
            "AC" if _tokens_equal(result.stdout.decode(errors="replace"), want, tests.float_tol) else "WA")
        outcomes.append({"test": i, "outcome": outcome})
        if outcome != "AC":
            return code_verdict(outcome, outcomes, failure[1] if failure else "output differs", time.monotonic() - t0,
                            isolation)
    return code_verdict("AC", outcomes, "", time.monotonic() - t0, isolation)


def _judge_calls(code: str, tests: CallTests, limits: Limits) -> Verdict:
    def body(session: CallSession, outcomes: list[dict], t0: float) -> Verdict | None:
        session.start()
        for i, (args, want) in enumerate(zip(tests.inputs, tests.outputs, strict=True)):
            session.begin_test()
            got = session.call(tests.fn_name, args)
            ok = any(_values_equal(got, w) for w in _expected_forms(want))
            outcomes.append({"test": i, "outcome": "AC" if ok else "WA"})
            if not ok:
                return code_verdict("WA", outcomes, "returned value differs", time.monotonic() - t0, session.isolation)
        return None

    return in_session(code, limits, body, tests=len(tests.inputs))


_HARNESS = """
import json, sys
nonce = sys.argv[1]
out = open(1, "w", closefd=False)
ns = {"__name__": "__main__"}
exec(compile(open("solution.py").read(), "solution.py", "exec"), ns)
exec(compile(open("setup.py").read(), "setup.py", "exec"), ns)
for i, src in enumerate(json.load(open("asserts.json"))):
    try:
        exec(compile(src, "test", "exec"), ns)
        outcome = "AC"
    except AssertionError:
        outcome = "WA"
    except BaseException as exc:
        outcome = "MLE" if isinstance(exc, MemoryError) else "RE"
    out.write(nonce + json.dumps([i, outcome]) + "\\n")
    out.flush()
"""


def _judge_asserts_in_sandbox(code: str, tests: AssertTests, limits: Limits, why: str) -> Verdict:
    """Fallback for tests the call protocol cannot carry (arguments that are not plain data, tests
    that read the candidate's module globals). Weak: the assertions and their expected values run
    in the candidate's own process, which can read them and print the result lines itself, so
    all-passed is ``AC_weak`` (``passed=None``), never a plain AC; failures still count."""
    t0 = time.monotonic()
    nonce = secrets.token_hex(8)
    if limits.per_test:  # one run holds every test here: their limits add up
        n = len(tests.asserts) + 1
        limits = replace(limits, wall_s=limits.wall_s * n, cpu_s=limits.cpu_s * n, per_test=False)
    result = run(python=("harness.py", nonce),
                 files=python_files(code, **{"harness.py": _HARNESS.encode(), "setup.py": tests.setup.encode(),
                                             "asserts.json": json.dumps(tests.asserts).encode()}),
                 limits=limits)
    outcomes = []
    for line in result.stdout.split(b"\n"):
        if line.startswith(nonce.encode()):
            i, outcome = json.loads(line[len(nonce):])
            outcomes.append({"test": i, "outcome": outcome})
    note = f"asserts ran inside the sandbox ({why})"
    iso = result.isolation
    failure = classify_run(result, limits)
    if failure and failure[0] == "SE":
        return code_verdict("SE", outcomes, failure[1], time.monotonic() - t0, iso)
    bad = next((o["outcome"] for o in outcomes if o["outcome"] != "AC"), None)
    if bad == "MLE" and not result.memory_exceeded and "cgroup" in iso:
        bad = "RE"  # a MemoryError the host did not see is the program's own doing
    if bad:
        return code_verdict(bad, outcomes, note, time.monotonic() - t0, iso)
    if failure or len(outcomes) != len(tests.asserts):
        reason = failure[0] if failure else "RE"
        if reason == "RE" and COMPILE_ERROR.search(result.stderr.strip()):
            reason = "CE"
        message = (failure[1] if failure else "stopped before every test ran") + "; " + note
        return code_verdict(reason, outcomes, message, time.monotonic() - t0, iso)
    return code_verdict("AC_weak", outcomes, note, time.monotonic() - t0, iso)


def _judge_asserts(code: str, tests: AssertTests, limits: Limits) -> Verdict:
    try:
        return _judge_asserts_by_proxy(code, tests, limits)
    except NeedsSandboxAsserts as exc:
        return _judge_asserts_in_sandbox(code, tests, limits, str(exc))


def _judge_asserts_by_proxy(code: str, tests: AssertTests, limits: Limits) -> Verdict:
    wanted = called_names(tests.setup + "\n" + (tests.check_code or "\n".join(tests.asserts)))
    leetcode = bool(wanted & {"Solution", "list_node", "tree_node", "ListNode", "TreeNode"})

    def body(session: CallSession, outcomes: list[dict], t0: float) -> Verdict | None:
        names = set(session.start())
        # the candidate's classes the tests build (``Solution()``) are made and kept in the
        # sandbox; the judge holds handles and gets plain data back (lists and trees included)
        namespace: dict = {"__name__": "__judge__", **(HELPERS if leetcode else {})}
        for name in sorted(names & (wanted | ({tests.entry_point} if tests.entry_point else set()))):
            if name in session.classes and name not in HELPERS:
                namespace[name] = (lambda n: lambda *a, **k: session.new(n, a, k))(name)
            elif name not in HELPERS:
                namespace[name] = (lambda n: lambda *a, **k: session.call(n, list(a), k))(name)
        for module in sorted(referenced_modules(tests.setup + "\n" + (tests.check_code or "\n".join(tests.asserts)))):
            if module not in namespace:  # a test naming a module the candidate imported (``sys.getsizeof``)
                namespace[module] = importlib.import_module(module)
        if tests.setup:
            try:
                exec(_compiled(tests.setup, "test_setup"), namespace)  # trusted: it comes with the tests
            except NameError as exc:
                if tests.check_code is None:
                    raise NeedsSandboxAsserts(f"the test setup uses the candidate's own definitions: {exc}") from None
                raise
        if tests.check_code is not None:
            if tests.entry_point not in names:
                return code_verdict("RE", outcomes, f"{tests.entry_point} is not defined", time.monotonic() - t0,
                                session.isolation)
            exec(_compiled(tests.check_code, "test"), namespace)
            checks = [lambda: namespace["check"](namespace[tests.entry_point])]
        else:
            checks = [(lambda s: lambda: exec(_compiled(s, "test"), namespace))(src) for src in tests.asserts]
        for i, check in enumerate(checks):
            session.begin_test()
            outcome, message = "AC", ""
            try:
                check()
            except AssertionError:
                outcome, message = "WA", "assertion failed"
            except (SessionError, NeedsSandboxAsserts):
                raise
            except NameError as exc:
                if tests.check_code is None:  # the test expects the candidate module's own globals
                    raise NeedsSandboxAsserts(f"the test uses the candidate's globals: {exc}") from None
                outcome, message = "RE", f"NameError: {exc}"
            except Exception as exc:  # noqa: BLE001 - the test tripped over what the candidate returned
                outcome, message = "RE", f"{type(exc).__name__}: {exc}"
            outcomes.append({"test": i, "outcome": outcome})
            if outcome != "AC":
                return code_verdict(outcome, outcomes, message, time.monotonic() - t0, session.isolation)
        return None

    tests_run = 1 if tests.check_code is not None else len(tests.asserts)
    return in_session(code, limits, body, leetcode=leetcode, tests=tests_run)


def judge_once(code: str, tests, *, language: str = "python", limits: Limits | None = None) -> Verdict:
    limits = limits or Limits()
    if not isinstance(code, str) or not code.strip():
        return code_verdict("CE", [], "no code")
    try:
        parsed = parse_tests(tests)
    except (ValueError, TypeError) as exc:
        return Verdict(None, "bad_tests", str(exc)[:300])
    if language not in ("python", "cpp"):
        return Verdict(None, "unsupported_language", language)
    if isinstance(parsed, StdioTests):
        return _judge_stdio(code, parsed, language, limits)
    if language != "python":
        return Verdict(None, "unsupported_language", f"{type(parsed).__name__} tests need python")
    if isinstance(parsed, CallTests):
        return _judge_calls(code, parsed, limits)
    return _judge_asserts(code, parsed, limits)
