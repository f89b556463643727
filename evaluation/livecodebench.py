"""LiveCodeBench code generation as its own runner (``lcb_runner``) does it.

- Problems: ``code_generation_lite`` rows (``question_content``, ``starter_code``, ``platform``,
  ``difficulty``, ``contest_date``, ``public_test_cases`` JSON, ``private_test_cases`` JSON or
  base64 + zlib + pickle, ``metadata`` JSON with ``func_name``), kept when ``start <= contest_date
  <= end`` (its ``--start_date`` / ``--end_date``); a release version stands for its months.
- Tests: public and private together; a sample scores 1 only if it passes every one.
  ``stdin`` tests are stdin/stdout runs; ``functional`` tests (LeetCode's) call the method of
  ``class Solution`` the problem names, with the arguments decoded from one JSON value per input
  line, through the judge's call protocol: the object lives in the sandbox and the judge compares
  the plain data that comes back (a tuple counts as a list, as in ``grade_call_based``). They are
  never judged as stdin.
- Prompts: the runner's code-generation prompts (with starter code: complete it; without: read
  stdin, write stdout), given as one user turn that the backend renders with the model's chat
  template.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

PAPER_WINDOW = "2024-08-01:2025-02-01"  # arXiv 2503.04872 evaluates LiveCodeBench 2024-08 to 2025-02
TIME_LIMIT_S = 6  # lcb_runner's per-test timeout (codegen_metrics(timeout=6))
PASS_RULE = "a sample scores 1 only if it passes every public and private test (lcb_runner's all-tests rule)"
MAX_PRIVATE_BYTES = 1 << 30  # a decompressed private-test field larger than this is refused (zip bomb)

# The months each release covers, as LiveCodeBench's README states them (release_vN: May 2023 to
# the month named; vN: only the problems that release added). A release's exact cut is its file
# on the Hub, so a window from a release name is exact only to the month.
RELEASE_END = {"v1": "2024-03-31", "v2": "2024-05-31", "v3": "2024-07-31", "v4": "2024-09-30",
               "v5": "2025-01-31", "v6": "2025-04-30"}
_FIRST = "2023-05-01"
_STARTS = {"v1": _FIRST, "v2": "2024-04-01", "v3": "2024-06-01", "v4": "2024-08-01", "v5": "2024-10-01",
           "v6": "2025-02-01"}
RELEASES = {**{f"release_{v}": (_FIRST, end) for v, end in RELEASE_END.items()},
            **{v: (_STARTS[v], RELEASE_END[v]) for v in RELEASE_END},
            "release_latest": (_FIRST, RELEASE_END["v6"])}

_SYSTEM = ("You will be given a question (problem specification) and will generate a correct Python program "
           "that matches the specification and passes all tests.")
_WITH_STARTER = ("You will use the following starter code to write the solution to the problem and enclose "
                 "your code within delimiters.")
_WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
                    "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
                    "the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.")


def _code_block(starter: str) -> str:
    return f"```python\n{starter}\n```\n\n" if starter else "```python\n# YOUR CODE HERE\n```\n\n"


def deepseek_r1_prompt(question: str, starter: str) -> str:
    """``get_deepseek_r1_question_template_answer`` (lcb_runner's style for the R1 models and their
    distills), without the special tokens it writes by hand: the chat template adds them."""
    return (f"{_SYSTEM}\n\nQuestion: {question}\n\n{_WITH_STARTER if starter else _WITHOUT_STARTER}\n"
            + _code_block(starter))


def generic_prompt(question: str, starter: str) -> str:
    """``get_generic_question_template_answer`` (lcb_runner's chat style), its system message first."""
    fmt = _WITH_STARTER if starter else _WITHOUT_STARTER
    return (f"{_SYSTEM}\n\n### Question:\n{question}\n\n### Format: {fmt}\n" + _code_block(starter)
            + "### Answer: (use the provided format with backticks)\n\n")


PROMPTS = {"deepseek_r1": deepseek_r1_prompt, "generic": generic_prompt}


class LcbError(ValueError):
    """A LiveCodeBench row or setting that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    label: str

    def holds(self, when: datetime) -> bool:
        return self.start <= when <= self.end


def parse_window(spec: str) -> Window:
    """``START:END`` (dates, both inclusive, as lcb_runner's --start_date/--end_date) or a release
    name (release_v1 .. release_v6, release_latest, v1 .. v6)."""
    spec = spec.strip()
    if spec in RELEASES:
        start, end = RELEASES[spec]
        return Window(datetime.fromisoformat(start), datetime.fromisoformat(end).replace(hour=23, minute=59,
                                                                                         second=59),
                      f"{spec} ({start}:{end})")
    start, sep, end = spec.partition(":")
    try:
        if not sep:
            raise ValueError
        window = Window(datetime.strptime(start, "%Y-%m-%d"), datetime.strptime(end, "%Y-%m-%d"), spec)
    except ValueError:
        raise LcbError(f"--lcb-window: {spec!r} is neither START:END (YYYY-MM-DD:YYYY-MM-DD) nor a release "
                       f"({', '.join(RELEASES)})") from None
    if window.end < window.start:
        raise LcbError(f"--lcb-window: {spec!r} ends before it starts")
    return window


class _PlainUnpickler(pickle.Unpickler):
    """Only what pickle builds without naming a global: strings, numbers, lists, dicts, tuples.
    Every class, function or persistent id (the way a pickle builds an object or runs code) is
    refused, so the file stays data."""

    def find_class(self, module, name):
        raise LcbError(f"the pickle tries to build an object ({module}.{name})")

    def persistent_load(self, pid):
        raise LcbError("the pickle refers to a persistent object")


def decode_private(field) -> list[dict]:
    """``private_test_cases``: JSON text, or base64 of zlib of a pickled JSON string (or list)."""
    if field is None or field == "":
        return []
    if isinstance(field, list):
        return field
    try:
        return json.loads(field)
    except (json.JSONDecodeError, TypeError):
        pass
    try:
        packed = base64.b64decode(str(field).encode(), validate=False)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(packed, MAX_PRIVATE_BYTES)
        if inflate.unconsumed_tail:
            raise LcbError(f"private_test_cases: more than {MAX_PRIVATE_BYTES} bytes when decompressed")
    except (ValueError, zlib.error) as exc:
        raise LcbError(f"private_test_cases: not JSON nor base64+zlib ({type(exc).__name__})") from None
    try:
        value = _PlainUnpickler(io.BytesIO(raw)).load()
    except LcbError as exc:
        raise LcbError(f"private_test_cases refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle of any kind is one line, not a traceback
        raise LcbError(f"private_test_cases: unreadable pickle ({type(exc).__name__})") from None
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise LcbError("private_test_cases: the pickled text is not JSON") from None
    if not isinstance(value, list):
        raise LcbError(f"private_test_cases: expected a list of tests, got {type(value).__name__}")
    return value


def _test_list(field, what: str) -> list[dict]:
    tests = decode_private(field) if what == "private" else (json.loads(field) if isinstance(field, str)
                                                             else field or [])
    if not isinstance(tests, list) or not all(isinstance(t, dict) and "input" in t and "output" in t
                                              for t in tests):
        raise LcbError(f"{what}_test_cases: expected a list of {{input, output, testtype}}")
    return tests


def method_name(row: dict) -> str | None:
    """The function the functional tests call: ``metadata.func_name``, else the first method the
    starter code declares (the starter code has no bodies, so it is read, not parsed)."""
    meta = row.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            meta = None
    if isinstance(meta, dict) and meta.get("func_name"):
        return str(meta["func_name"])
    names = [n for n in re.findall(r"def\s+(\w+)\s*\(", row.get("starter_code") or "") if n != "__init__"]
    return names[0] if names else None


_SAME = """def _lcb_same(got, want):
    if isinstance(got, tuple):  # lcb_runner does not penalise a tuple for a list
        got = list(got)
    return got == want
"""


def functional_tests(row: dict, tests: list[dict]) -> dict:
    """Call-protocol tests: ``Solution().<method>(*args) == expected`` asserted in the judge, on
    the plain data the sandboxed object returns (arguments and expected values stay JSON text
    in the judge's setup, so any size and any JSON value fits)."""
    name = method_name(row)
    if not name or not name.isidentifier():
        raise LcbError("functional tests but no method name (metadata.func_name or a def in starter_code)")
    try:
        args = [[json.loads(line) for line in str(t["input"]).split("\n") if line.strip()] for t in tests]
        want = [json.loads(t["output"]) if isinstance(t["output"], str) else t["output"] for t in tests]
    except json.JSONDecodeError as exc:
        raise LcbError(f"functional test is not one JSON value per line ({exc.msg})") from None
    target = f"Solution().{name}" if "class Solution" in (row.get("starter_code") or "") else name
    setup = (f"import json as _json\n_ARGS = _json.loads({json.dumps(args)!r})\n"
             f"_WANT = _json.loads({json.dumps(want)!r})\n{_SAME}")
    return {"test_list": [f"assert _lcb_same({target}(*_ARGS[{i}]), _WANT[{i}])" for i in range(len(tests))],
            "test_setup_code": setup}


def lcb_tests(row: dict) -> tuple[dict, dict]:
    """(tests in a format the code judge reads, counts {public, private, kind})."""
    public = _test_list(row.get("public_test_cases"), "public")
    private = _test_list(row.get("private_test_cases"), "private")
    tests = public + private
    if not tests:
        raise LcbError("no tests")
    kinds = {t.get("testtype", "stdin") for t in tests}
    if len(kinds) > 1:
        raise LcbError(f"mixed test types {sorted(kinds)}")
    kind = kinds.pop()
    if kind == "functional":
        judged = functional_tests(row, tests)
    elif kind == "stdin":
        judged = {"inputs": [str(t["input"]) for t in tests], "outputs": [str(t["output"]) for t in tests]}
    else:
        raise LcbError(f"unknown testtype {kind!r}")
    return judged, {"public": len(public), "private": len(private), "kind": kind}


def contest_date(row: dict) -> datetime:
    value = row.get("contest_date")
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        raise LcbError(f"contest_date {value!r} is not an ISO date") from None


def summarize(kept: list[dict], dropped: int, window: Window, prompt_style: str) -> dict:
    """What the results say about the problem set and the rules it was judged by."""
    return {"window": window.label, "problems": len(kept), "outside_window": dropped,
            "by_platform": dict(sorted(Counter(str(r.get("platform", "?")) for r in kept).items())),
            "by_difficulty": dict(sorted(Counter(str(r.get("difficulty", "?")) for r in kept).items())),
            "by_testtype": dict(sorted(Counter(r["_lcb"]["kind"] for r in kept).items())),
            "tests": {"public": sum(r["_lcb"]["public"] for r in kept),
                      "private": sum(r["_lcb"]["private"] for r in kept)},
            "time_limit": f"{TIME_LIMIT_S} s per test",
            "pass_rule": PASS_RULE, "prompt": prompt_style}


# What differs from lcb_runner, listed under the results table.
DIFFERENCES = [
    f"Functional problems: the tests of one sample run in one sandboxed session, {TIME_LIMIT_S} s wall to load "
    f"the program and {TIME_LIMIT_S} s for each test call as in lcb_runner, under one CPU limit of "
    f"{TIME_LIMIT_S} s x (tests + 1) for the session (lcb_runner has no CPU limit); stdin problems get "
    f"{TIME_LIMIT_S} s per test run, as in lcb_runner.",
    "Functional problems: a fresh `Solution()` per test (lcb_runner makes one per sample).",
    "stdin output is compared on whitespace-separated tokens; lcb_runner compares stripped lines and accepts "
    "numbers that are equal as decimals (`1.0` for `1`), which we count as wrong.",
    "The candidate's namespace: LeetCode's prelude (typing, collections, heapq, bisect, ...) for functional "
    "problems and nothing for stdin ones; lcb_runner prepends star imports of string, re, math, itertools, ... "
    "to every program.",
    "Programs run in the bubblewrap sandbox with a 1 GiB address-space limit; lcb_runner runs them in a "
    "subprocess under its reliability guard.",
    "The prompt is lcb_runner's user message rendered with the model's chat template; its DeepSeekR1 style "
    "writes the special tokens itself and prepends R1-Zero's 'A conversation between User and Assistant' text, "
    "which we do not.",
]
