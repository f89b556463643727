"""A candidate loaded under the call driver in one sandbox, answering calls from the judge.

Time: by default the session has one budget (``Limits.wall_s`` from its start, ``cpu_s`` of CPU).
With ``Limits.per_test`` (LiveCodeBench's rule) loading the program gets ``wall_s`` and so does
each test (``begin_test``), so a slow test fails alone and many tests do not add up to a TLE.
"""

from __future__ import annotations

import json
import marshal
import os
import secrets
import select
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from verifiers.code.call_driver import decode, encode
from verifiers.code.outcome import classify_run, code_verdict, time_limit_message
from verifiers.code.sandbox import ExecResult, Limits, Sandbox
from verifiers.code.structures import rebuild
from verifiers.verdict import Verdict


@lru_cache(maxsize=4)
def script(name: str) -> bytes:
    """A file of this package that runs inside the sandbox (read once, on first use)."""
    return (Path(__file__).parent / name).read_bytes()


def python_files(code: str, **extra: bytes) -> dict[str, bytes]:
    """The candidate (plus ``extra`` files) for a sandboxed Python run."""
    return {"solution.py": code.encode(), **extra}


class NeedsSandboxAsserts(Exception):
    """The tests pass objects the candidate defines (e.g. its own classes): run them in the sandbox."""


class SessionError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class CallSession:
    """The candidate loaded under the call driver in one sandbox, answering calls until closed."""

    def __init__(self, code: str, limits: Limits, *, leetcode: bool = False, tests: int = 1):
        self.limits = limits
        self.nonce = secrets.token_hex(8)
        # per test: the CPU rlimit (one for the process) covers the load and every test
        box_limits = replace(limits, cpu_s=limits.cpu_s * (tests + 1)) if limits.per_test else limits
        self.box = Sandbox(python=("driver.py", self.nonce, *(["leetcode"] if leetcode else [])),
                           files=python_files(code, **{"driver.py": script("call_driver.py")}), limits=box_limits)
        self.deadline = time.monotonic() + limits.wall_s
        self.buffer = b""
        self.seen = 0

    def _fail_reason(self) -> SessionError:
        proc = self.box.proc
        proc.stop()
        if not self.box.started_ok():
            return SessionError("SE", proc.lost)
        stderr = b""
        try:
            stderr = proc.stderr.read(self.limits.output_bytes) or b""
        except (OSError, ValueError):
            pass
        result = ExecResult(proc.returncode, b"", stderr, time.monotonic() - self.box.started,
                            isolation=proc.isolation, memory_exceeded=bool(proc.memory and proc.memory.exceeded))
        failure = classify_run(result, self.box.limits)
        if failure and failure[0] == "TLE":
            failure = ("TLE", time_limit_message(self.limits))  # one text whichever clock ran out
        return SessionError(*(failure or ("RE", "the program exited before answering")))

    def begin_test(self) -> None:
        """A test starts: under ``Limits.per_test`` its own deadline, else the session's goes on."""
        if self.limits.per_test:
            self.deadline = time.monotonic() + self.limits.wall_s

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
                raise SessionError("TLE", time_limit_message(self.limits))
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._fail_reason()
            self.seen += len(chunk)
            if self.seen > self.limits.output_bytes:
                self.box.kill()
                raise SessionError("OLE", f"more than {self.limits.output_bytes} bytes of output")
            self.buffer += chunk

    def start(self) -> list[str]:
        if self.box.error:
            raise SessionError("SE", self.box.error)
        first = self.receive()
        if "ce" in first:
            raise SessionError("CE", first["ce"])
        if "load_error" in first:
            reason = "MLE" if first["load_error"].startswith("MemoryError") and self._memory_exceeded() else "RE"
            raise SessionError(reason, first["load_error"])
        self.classes = set(first.get("classes", []))
        return first["ready"]

    def call(self, name: str, args: list, kwargs: dict | None = None):
        return self._request({"name": name}, args, kwargs)

    def new(self, cls: str, args, kwargs) -> _Remote:
        """An object of the candidate's class ``cls``, made and kept inside the sandbox."""
        return self._request({"new": cls}, args, kwargs)

    def _request(self, head: dict, args=(), kwargs=None, *, attr: bool = False):
        def ref(value):
            return value.handle if isinstance(value, _Remote) and value.session is self else None

        try:
            body = marshal.dumps({**head, "args": encode(list(args), 0, ref),
                                  "kwargs": encode(dict(kwargs or {}), 0, ref)})
        except (TypeError, ValueError) as exc:
            raise NeedsSandboxAsserts(f"a test argument is not plain data: {exc}") from None
        try:
            self.box.proc.stdin.write(len(body).to_bytes(8, "big") + body)
            self.box.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail_reason() from None
        answer = self.receive()
        if attr and answer.get("callable") is True:
            return _RemoteMethod(self, head["obj"], head["attr"])
        if "ok" in answer:
            try:
                return decode(answer["ok"], lambda tag, v: _Remote(self, v) if tag == "ref" else rebuild(tag, v))
            except (TypeError, ValueError, AttributeError, IndexError) as exc:
                raise SessionError("WA", f"returned something that is not plain data: {exc}") from None
        if "bad" in answer:
            raise SessionError("WA", "returned something that is not plain data: " + answer["bad"])
        message = str(answer.get("exc", "unknown error"))
        raise SessionError("MLE" if message.startswith("MemoryError") and self._memory_exceeded() else "RE", message)

    def _memory_exceeded(self) -> bool:
        """Whether the host saw the run's tree at its memory limit (a MemoryError is only text the
        candidate controls); without a cgroup the rlimit's MemoryError is all there is."""
        zygote = self.box._zygote
        if zygote is None or zygote.cgroup is None:
            return True
        return zygote.cgroup.reading().exceeded

    @property
    def isolation(self) -> str:
        return self.box.proc.isolation if self.box.proc is not None else "none"

    def close(self) -> None:
        self.box.close()


class _Remote:
    """The judge's handle on an object of the candidate's that lives in the sandbox: attributes
    are read and methods called over the protocol; it compares equal only to itself."""

    def __init__(self, session: CallSession, handle: int):
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "handle", handle)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self.session._request({"obj": self.handle, "attr": name}, attr=True)

    def __setattr__(self, name: str, value) -> None:
        self.session._request({"obj": self.handle, "set": name}, [value])


class _RemoteMethod:
    def __init__(self, session: CallSession, handle: int, name: str):
        self.session, self.handle, self.name = session, handle, name

    def __call__(self, *args, **kwargs):
        return self.session._request({"obj": self.handle, "name": self.name}, args, kwargs)


def in_session(code: str, limits: Limits, body, *, leetcode: bool = False, tests: int = 1) -> Verdict:
    """Run ``body(session, outcomes)`` against the candidate loaded under the call driver.

    ``body`` calls ``session.begin_test()`` before each of its ``tests`` and returns a failing
    verdict or None; session failures (TLE, OLE, a crash) become the verdict of the test being run.
    """
    t0 = time.monotonic()
    outcomes: list[dict] = []
    session = CallSession(code, limits, leetcode=leetcode, tests=tests)
    isolation = session.isolation
    try:
        failed = body(session, outcomes, t0)
        if failed is not None:
            return failed
    except SessionError as exc:
        outcomes.append({"test": len(outcomes), "outcome": exc.reason})
        return code_verdict(exc.reason, outcomes, str(exc), time.monotonic() - t0, isolation)
    finally:
        session.close()
    return code_verdict("AC", outcomes, "", time.monotonic() - t0, isolation)
