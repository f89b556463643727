"""The test formats the judge accepts, normalised into three shapes."""

from __future__ import annotations

import ast
import json
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache


@dataclass
class StdioTests:
    inputs: list[str]
    outputs: list[str]
    float_tol: float | None = None


@dataclass
class CallTests:
    fn_name: str
    inputs: list[list]
    outputs: list


@dataclass
class AssertTests:
    """HumanEval ``check(candidate)`` (``entry_point`` set) or MBPP assert lines."""

    asserts: list[str]
    setup: str = ""
    entry_point: str | None = None
    check_code: str | None = None


def _maybe_json(value):
    """Decode a JSON (or Python-literal, as some datasets store them) string; else return it as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
    return value


def _call_args(value) -> list:
    """Arguments of one call: a list, or (LiveCodeBench) a string with one JSON value per line."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            return [json.loads(line) for line in value.split("\n") if line.strip()]
        except json.JSONDecodeError:
            return [value]
    return [value]


def parse_tests(tests) -> StdioTests | CallTests | AssertTests:
    """Recognise stdin/stdout pairs, function calls or assert-style tests; ValueError otherwise."""
    tests = _maybe_json(tests)
    if isinstance(tests, list) and tests and all(isinstance(t, dict) and "input" in t for t in tests):
        return StdioTests([str(t["input"]) for t in tests], [str(t.get("output", "")) for t in tests])
    if not isinstance(tests, dict):
        raise ValueError(f"tests must be a mapping, got {type(tests).__name__}")
    if "input_output" in tests:  # APPS / TACO rows
        return parse_tests(tests["input_output"])
    if "test" in tests and ("entry_point" in tests or "check(" in str(tests["test"])):
        return AssertTests([], setup=tests.get("prompt_setup", ""), entry_point=tests.get("entry_point"),
                           check_code=tests["test"])
    if "test_list" in tests:
        asserts = [a for a in _maybe_json(tests["test_list"]) if isinstance(a, str) and a.strip()]
        asserts += [a for a in _maybe_json(tests.get("challenge_test_list") or []) if isinstance(a, str) and a.strip()]
        return AssertTests(asserts, setup=tests.get("test_setup_code") or "")
    inputs, outputs = _maybe_json(tests.get("inputs")), _maybe_json(tests.get("outputs"))
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise ValueError("tests need inputs and outputs lists of equal length")
    if not inputs:
        raise ValueError("tests hold no test cases")
    if tests.get("fn_name"):
        return CallTests(str(tests["fn_name"]), [_call_args(a) for a in inputs], outputs)
    tol = tests.get("float_tol")
    return StdioTests([_as_text(i) for i in inputs], [_as_text(o) for o in outputs],
                      float(tol) if tol is not None else None)


def _as_text(value) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


# CPython 3.11's ast.parse counts its recursion depth in state shared by the interpreter's threads,
# and a thread switch inside one parse lets another parse move the count: two threads parsing at once
# can fail with "SystemError: AST constructor recursion depth mismatch" (seen once in judge_many's
# thread pool under load; reports of the same error from threaded programs: python/cpython#106905).
# Parses are short, so they take turns.
_AST_LOCK = threading.Lock()


def parse_python(code: str) -> ast.Module:
    """``ast.parse(code)``, safe to call from many threads at once (raises what ast.parse raises)."""
    with _AST_LOCK:
        return ast.parse(code)


@lru_cache(maxsize=4096)
def called_names(code: str) -> frozenset[str]:
    """Names called anywhere in ``code`` (to know which candidate functions a test uses)."""
    try:
        tree = parse_python(code)
    except SyntaxError:
        return frozenset()
    return frozenset(n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))


@lru_cache(maxsize=4096)
def referenced_modules(code: str) -> frozenset[str]:
    """Standard-library modules ``code`` uses by name without importing them (``sys.getsizeof``)."""
    try:
        tree = parse_python(code)
    except SyntaxError:
        return frozenset()
    imported = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    used = {n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    return frozenset(m for m in used - imported if m in sys.stdlib_module_names and not m.startswith("_"))
