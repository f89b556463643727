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

import json
import marshal
import math
import re
import secrets
import select
import time
from functools import lru_cache
from pathlib import Path

from verifiers.code.call_driver import decode
from verifiers.code.sandbox import ExecResult, Limits, Sandbox, isolation, run
from verifiers.code.test_formats import AssertTests, CallTests, StdioTests, called_names, parse_tests
from verifiers.verdict import Verdict

DRIVER = (Path(__file__).parent / "call_driver.py").read_bytes()
LAUNCHER = (Path(__file__).parent / "launcher.py").read_bytes()
_CE = re.compile(rb"(SyntaxError|IndentationError|TabError)[^\n]*\n?\Z")


def _isolation_tag() -> str:
    info = isolation()
    if not info["unprivileged_uid"]:
        return "none"
    return "bwrap+uid+rlimits" + ("+cgroup2" if info["cgroup_v2"] else "")


def _verdict(reason: str, tests: list[dict], message: str = "", seconds: float = 0.0) -> Verdict:
    passed = True if reason == "AC" else (None if reason == "SE" else False)
    detail = json.dumps({"tests": tests, "isolation": _isolation_tag(), "message": message[:500]})
    return Verdict(passed, reason, detail, seconds)


def _classify(result: ExecResult, limits: Limits) -> tuple[str, str] | None:
    """Failure reason of a finished run, or None when it exited cleanly."""
    if result.sandbox_error:
        return "SE", result.sandbox_error
    if result.output_exceeded:
        return "OLE", f"more than {limits.output_bytes} bytes of output"
    if result.timed_out:
        return "TLE", f"wall time over {limits.wall_s:g}s"
    tail = result.stderr[-2000:]
    if b"MemoryError" in tail or b"std::bad_alloc" in tail:
        return "MLE", f"memory over {limits.memory_mb} MB"
    if result.signal in (24, 9) and result.wall_s >= 0.8 * limits.cpu_s:  # SIGXCPU / kill at the CPU limit
        return "TLE", f"CPU time over {limits.cpu_s}s"
    if result.signal:
        return "RE", f"killed by signal {result.signal}"
    if result.returncode:
        return "RE", tail.decode(errors="replace")[-300:] or f"exit code {result.returncode}"
    return None


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


def _python_argv(limits: Limits, script: str, *args: str) -> list[str]:
    """``python -I -S launcher.py <rlimits> script args``: the launcher applies the rlimits itself."""
    return [limits.python, "-I", "-S", "launcher.py", str(limits.memory_mb << 20), str(limits.cpu_s),
            str(limits.processes), str(limits.file_mb << 20), str(limits.open_files), script, *args]


def _judge_stdio(code: str, tests: StdioTests, language: str, limits: Limits) -> Verdict:
    t0 = time.monotonic()
    outcomes: list[dict] = []
    if language == "cpp":
        compiled = run(["sh", "-c", "g++ -O2 -std=c++17 -o a.out solution.cpp 1>&2 && cat a.out"],
                       files={"solution.cpp": code.encode()},
                       limits=Limits(**{**limits.__dict__, "wall_s": max(limits.wall_s, 30), "cpu_s": 30,
                                        "output_bytes": 64 << 20, "processes": 64}))
        if compiled.sandbox_error:
            return _verdict("SE", outcomes, compiled.sandbox_error, time.monotonic() - t0)
        if compiled.returncode != 0 or not compiled.stdout:
            return _verdict("CE", outcomes, compiled.stderr.decode(errors="replace")[-500:], time.monotonic() - t0)
        files, argv = {"a.out": (compiled.stdout, "0755")}, ["./a.out"]
    else:
        files, argv = {"solution.py": code.encode(), "launcher.py": LAUNCHER}, _python_argv(limits, "solution.py")
    for i, (stdin, want) in enumerate(zip(tests.inputs, tests.outputs, strict=True)):
        result = run(argv, files=files, stdin=stdin.encode(), limits=limits, raw=language == "python")
        failure = _classify(result, limits)
        if failure and failure[0] == "RE" and i == 0 and language == "python" and _CE.search(result.stderr.strip()):
            failure = ("CE", failure[1])
        outcome = failure[0] if failure else (
            "AC" if _tokens_equal(result.stdout.decode(errors="replace"), want, tests.float_tol) else "WA")
        outcomes.append({"test": i, "outcome": outcome, "seconds": round(result.wall_s, 4)})
        if outcome != "AC":
            return _verdict(outcome, outcomes, failure[1] if failure else "output differs", time.monotonic() - t0)
    return _verdict("AC", outcomes, "", time.monotonic() - t0)


class _SessionError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class _CallSession:
    """The candidate loaded under the call driver in one sandbox, answering calls until closed."""

    def __init__(self, code: str, limits: Limits, as_main: bool = False):
        self.limits = limits
        self.nonce = secrets.token_hex(8)
        argv = _python_argv(limits, "driver.py", self.nonce, *(["--as-main"] if as_main else []))
        self.box = Sandbox(argv, files={"driver.py": DRIVER, "solution.py": code.encode(), "launcher.py": LAUNCHER},
                           limits=limits, raw=True)
        self.deadline = time.monotonic() + limits.wall_s
        self.buffer = b""
        self.seen = 0

    def _fail_reason(self) -> _SessionError:
        self.box.kill()
        proc = self.box.proc
        try:
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        stderr = b""
        try:
            stderr = proc.stderr.read(self.limits.output_bytes) or b""
        except (OSError, ValueError):
            pass
        if not self.box.started_ok():
            return _SessionError("SE", "sandbox did not start: " + stderr.decode(errors="replace")[-300:])
        result = ExecResult(proc.returncode, -proc.returncode if proc.returncode and proc.returncode < 0 else None,
                            b"", stderr, time.monotonic() - self.box.started)
        if proc.returncode and proc.returncode > 128:
            result.signal = proc.returncode - 128
        failure = _classify(result, self.limits)
        return _SessionError(*(failure or ("RE", "the program exited before answering")))

    def receive(self) -> dict:
        fd = self.box.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if line.startswith(self.nonce.encode()):
                    return json.loads(line[len(self.nonce):])
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.box.kill()
                raise _SessionError("TLE", f"wall time over {self.limits.wall_s:g}s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = __import__("os").read(fd, 65536)
            if not chunk:
                raise self._fail_reason()
            self.seen += len(chunk)
            if self.seen > self.limits.output_bytes:
                self.box.kill()
                raise _SessionError("OLE", f"more than {self.limits.output_bytes} bytes of output")
            self.buffer += chunk

    def start(self) -> list[str]:
        if self.box.error:
            raise _SessionError("SE", self.box.error)
        first = self.receive()
        if "ce" in first:
            raise _SessionError("CE", first["ce"])
        if "load_error" in first:
            reason = "MLE" if first["load_error"].startswith("MemoryError") else "RE"
            raise _SessionError(reason, first["load_error"])
        self.classes = set(first.get("classes", []))
        return first["ready"]

    def call(self, name: str, args: list, kwargs: dict | None = None):
        from verifiers.code.call_driver import encode

        try:
            body = marshal.dumps({"name": name, "args": encode(list(args)), "kwargs": encode(dict(kwargs or {}))})
        except (TypeError, ValueError) as exc:
            raise _NeedsSandboxAsserts(f"a test argument is not plain data: {exc}") from None
        try:
            self.box.proc.stdin.write(len(body).to_bytes(8, "big") + body)
            self.box.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail_reason() from None
        answer = self.receive()
        if "ok" in answer:
            return decode(answer["ok"])
        if "bad" in answer:
            raise _SessionError("WA", "returned something that is not plain data: " + answer["bad"])
        message = answer.get("exc", "unknown error")
        raise _SessionError("MLE" if message.startswith("MemoryError") else "RE", message)

    def close(self) -> None:
        self.box.close()


def _judge_calls(code: str, tests: CallTests, limits: Limits) -> Verdict:
    t0 = time.monotonic()
    outcomes: list[dict] = []
    session = _CallSession(code, limits)
    try:
        session.start()
        for i, (args, want) in enumerate(zip(tests.inputs, tests.outputs, strict=True)):
            t = time.monotonic()
            got = session.call(tests.fn_name, args)
            ok = any(_values_equal(got, w) for w in _expected_forms(want))
            outcomes.append({"test": i, "outcome": "AC" if ok else "WA", "seconds": round(time.monotonic() - t, 4)})
            if not ok:
                return _verdict("WA", outcomes, "returned value differs", time.monotonic() - t0)
    except _SessionError as exc:
        outcomes.append({"test": len(outcomes), "outcome": exc.reason})
        return _verdict(exc.reason, outcomes, str(exc), time.monotonic() - t0)
    finally:
        session.close()
    return _verdict("AC", outcomes, "", time.monotonic() - t0)


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


class _NeedsSandboxAsserts(Exception):
    """The tests pass objects the candidate defines (e.g. its own classes): run them in the sandbox."""


def _judge_asserts_in_sandbox(code: str, tests: AssertTests, limits: Limits, why: str) -> Verdict:
    """Fallback for tests that build the candidate's own objects. Weaker: the assertions (and the
    expected values in them) are inside the sandbox, so a hostile candidate could read them; the
    verdict says so."""
    t0 = time.monotonic()
    nonce = secrets.token_hex(8)
    result = run(_python_argv(limits, "harness.py", nonce),
                 files={"harness.py": _HARNESS.encode(), "solution.py": code.encode(), "launcher.py": LAUNCHER,
                        "setup.py": tests.setup.encode(), "asserts.json": json.dumps(tests.asserts).encode()},
                 limits=limits, raw=True)
    outcomes = []
    for line in result.stdout.split(b"\n"):
        if line.startswith(nonce.encode()):
            i, outcome = json.loads(line[len(nonce):])
            outcomes.append({"test": i, "outcome": outcome})
    note = f"asserts ran inside the sandbox ({why})"
    failure = _classify(result, limits)
    if failure and failure[0] == "SE":
        return _verdict("SE", outcomes, failure[1], time.monotonic() - t0)
    bad = next((o["outcome"] for o in outcomes if o["outcome"] != "AC"), None)
    if bad:
        return _verdict(bad, outcomes, note, time.monotonic() - t0)
    if failure or len(outcomes) != len(tests.asserts):
        reason = failure[0] if failure else "RE"
        if reason == "RE" and _CE.search(result.stderr.strip()):
            reason = "CE"
        return _verdict(reason, outcomes, (failure[1] if failure else "stopped before every test ran") + "; " + note,
                        time.monotonic() - t0)
    return _verdict("AC", outcomes, note, time.monotonic() - t0)


def _judge_asserts(code: str, tests: AssertTests, limits: Limits) -> Verdict:
    try:
        return _judge_asserts_by_proxy(code, tests, limits)
    except _NeedsSandboxAsserts as exc:
        return _judge_asserts_in_sandbox(code, tests, limits, str(exc))


def _judge_asserts_by_proxy(code: str, tests: AssertTests, limits: Limits) -> Verdict:
    t0 = time.monotonic()
    outcomes: list[dict] = []
    session = _CallSession(code, limits)
    try:
        names = set(session.start())
        wanted = called_names(tests.setup + "\n" + (tests.check_code or "\n".join(tests.asserts)))
        if tests.check_code is None and wanted & session.classes:
            own = sorted(wanted & session.classes)
            raise _NeedsSandboxAsserts(f"the tests build the candidate's own classes: {own}")
        namespace: dict = {"__name__": "__judge__"}
        for name in sorted(names & (wanted | ({tests.entry_point} if tests.entry_point else set()))):
            namespace[name] = (lambda n: lambda *a, **k: session.call(n, list(a), k))(name)
        if tests.setup:
            try:
                exec(_compiled(tests.setup, "test_setup"), namespace)  # trusted: it comes with the tests
            except NameError as exc:
                if tests.check_code is None:
                    raise _NeedsSandboxAsserts(f"the test setup uses the candidate's own definitions: {exc}") from None
                raise
        if tests.check_code is not None:
            if tests.entry_point not in names:
                return _verdict("RE", outcomes, f"{tests.entry_point} is not defined", time.monotonic() - t0)
            exec(_compiled(tests.check_code, "test"), namespace)
            checks = [("check", lambda: namespace["check"](namespace[tests.entry_point]))]
        else:
            checks = [(src, (lambda s: lambda: exec(_compiled(s, "test"), namespace))(src))
                      for src in tests.asserts]
        for i, (_, check) in enumerate(checks):
            t = time.monotonic()
            try:
                check()
                outcome = "AC"
            except AssertionError:
                outcome = "WA"
            except (_SessionError, _NeedsSandboxAsserts):
                raise
            except NameError as exc:
                if tests.check_code is None:  # the test expects the candidate module's own globals
                    raise _NeedsSandboxAsserts(f"the test uses the candidate's globals: {exc}") from None
                outcome, message = "RE", f"NameError: {exc}"
            except Exception as exc:  # noqa: BLE001 - the test tripped over what the candidate returned
                outcome, message = "RE", f"{type(exc).__name__}: {exc}"
            outcomes.append({"test": i, "outcome": outcome, "seconds": round(time.monotonic() - t, 4)})
            if outcome != "AC":
                return _verdict(outcome, outcomes, message if outcome == "RE" else "assertion failed",
                                time.monotonic() - t0)
    except _SessionError as exc:
        outcomes.append({"test": len(outcomes), "outcome": exc.reason})
        return _verdict(exc.reason, outcomes, str(exc), time.monotonic() - t0)
    finally:
        session.close()
    return _verdict("AC", outcomes, "", time.monotonic() - t0)


def judge_once(code: str, tests, *, language: str = "python", limits: Limits | None = None) -> Verdict:
    limits = limits or Limits()
    if not isinstance(code, str) or not code.strip():
        return _verdict("CE", [], "no code")
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
