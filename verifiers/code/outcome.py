"""Turning a finished run into a verdict reason (shared by every kind of test)."""

from __future__ import annotations

import json
import re

from verifiers.code.sandbox import ExecResult, Limits
from verifiers.verdict import Verdict

COMPILE_ERROR = re.compile(rb"(SyntaxError|IndentationError|TabError)[^\n]*\n?\Z")


def code_verdict(reason: str, tests: list[dict], message: str = "", seconds: float = 0.0,
             isolation: str = "none") -> Verdict:
    """``isolation``: what the run(s) behind this verdict actually got ("none": nothing ran).
    ``AC_weak``: every test passed, but checked where the candidate could have forged it."""
    passed = True if reason == "AC" else (None if reason in ("SE", "AC_weak") else False)
    detail = json.dumps({"tests": tests, "isolation": isolation, "message": message[:500]})
    return Verdict(passed, reason, detail, seconds)


def time_limit_message(limits: Limits) -> str:
    """One text whichever clock ran out first (wall or CPU: a race for a busy loop), so the
    published verdict does not depend on it."""
    if limits.per_test:
        return f"time limit exceeded ({limits.wall_s:g}s per test)"
    return f"time limit exceeded (wall {limits.wall_s:g}s, CPU {limits.cpu_s}s)"


def classify_run(result: ExecResult, limits: Limits) -> tuple[str, str] | None:
    """Failure reason of a finished run, or None when it exited cleanly."""
    if result.sandbox_error:
        return "SE", result.sandbox_error
    if result.output_exceeded:
        return "OLE", f"more than {limits.output_bytes} bytes of output"
    if result.timed_out:
        return "TLE", time_limit_message(limits)
    tail = result.stderr[-2000:]
    if result.memory_exceeded:  # the host's cgroup reading, whatever the program printed
        return "MLE", f"memory over {limits.memory_mb} MB"
    if "cgroup" not in result.isolation and (b"MemoryError" in tail or b"std::bad_alloc" in tail):
        return "MLE", f"memory over {limits.memory_mb} MB"  # weaker: no cgroup, only the rlimit's error
    if result.signal in (24, 9) and result.wall_s >= 0.8 * limits.cpu_s:  # SIGXCPU / kill at the CPU limit
        return "TLE", time_limit_message(limits)
    if result.signal:
        return "RE", f"killed by signal {result.signal}"
    if result.returncode:
        return "RE", tail.decode(errors="replace")[-300:] or f"exit code {result.returncode}"
    return None
