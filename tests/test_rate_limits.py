"""Request and token budgets: the client's ``RateBudget`` on a clock the test moves, then the ``openai``
teacher and ``curate`` against a scripted server that refuses what goes beyond 2 requests a second."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curation.config import TeacherConfig
from curation.dry_run.limits import WindowLimit
from curation.dry_run.scripted_server import ServerProcess
from curation.teachers import GenRequest, OpenAITeacher
from curation.teachers.rate_limit import RateBudget, parse_duration, retry_after_s
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
RIGHT = "<think>\nadd\n</think>\n\nThe answer is \\boxed{7}."
SCRIPT = {"rules": [{"match": "", "answers": [RIGHT]}]}


class FakeTime:
    """A clock that only moves when a request sleeps."""

    def __init__(self):
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def starts(budget: RateBudget, t: FakeTime, tokens: list[int]) -> list[float]:
    async def go():
        out = []
        for n in tokens:
            await budget.turn(n)
            out.append(round(t.now - 100.0, 6))
        return out

    return asyncio.run(go())


def test_requests_are_spaced_evenly_and_tokens_flow_at_their_rate():
    t = FakeTime()
    assert starts(RateBudget(90, clock=t.clock, sleep=t.sleep), t, [1] * 4) == [0, 0.666667, 1.333333, 2.0]
    t = FakeTime()  # 6,000 tokens a minute: a request of 1,000 tokens holds the next one 10 s
    assert starts(RateBudget(tokens_per_minute=6000, clock=t.clock, sleep=t.sleep), t, [1000, 500, 1]) == [0, 10, 15]
    t = FakeTime()  # both: the slower of the two decides
    assert starts(RateBudget(60, 6000, clock=t.clock, sleep=t.sleep), t, [50, 50, 50]) == [0, 1, 2]


def test_a_pause_holds_every_request_and_headers_pause_until_their_reset():
    t = FakeTime()
    budget = RateBudget(clock=t.clock, sleep=t.sleep)
    budget.pause(3.0, "retry_after")
    assert starts(budget, t, [1, 1]) == [3.0, 3.0] and budget.pauses == {"retry_after": 1}
    budget.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"})
    budget.observe({"x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "60s"})  # room left
    assert starts(budget, t, [50]) == [4.5]
    budget.observe({"x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "250ms"})  # < a request
    assert starts(budget, t, [50]) == [4.75]


def test_durations_and_retry_after_as_servers_write_them():
    assert [parse_duration(s) for s in ("1s", "6m0s", "20ms", "1m30.5s", "2", "soon", "")] == [
        1.0, 360.0, 0.02, 90.5, 2.0, None, None]
    assert retry_after_s({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after_s({"Retry-After": "2"}) == 2.0 and retry_after_s({}) is None


def test_the_token_estimate_is_the_prompt_plus_max_tokens_and_learns_the_prompt_ratio():
    budget = RateBudget()
    assert budget.estimate("x" * 400, 1000) == 1100  # 4 characters per token until an answer says more
    budget.learn("x" * 400, 200)
    assert budget.estimate("x" * 400, 1000) == 1200


def test_the_server_window_refuses_beyond_its_rate_and_says_when_to_come_back():
    now = [0.0]
    limit = WindowLimit(2, tokens=None, window_s=1.0, clock=lambda: now[0])
    assert [limit.admit(1)[0] for _ in range(3)] == [True, True, False]
    ok, headers = limit.admit(1)
    assert not ok and headers["Retry-After"] == "1" and headers["x-ratelimit-remaining-requests"] == "0"
    now[0] = 1.0
    assert limit.admit(1)[0]


def teacher(base: str, **settings) -> OpenAITeacher:
    return OpenAITeacher(TeacherConfig(backend="openai", model="scripted", base_urls=[base], max_tokens=64,
                                       **settings))


def ask(t: OpenAITeacher, n: int) -> list:
    out = []
    t.generate([GenRequest(f"p{i}", 0, f"p{i}: what is 3 + 4?", i) for i in range(n)], out.append)
    return out


@pytest.mark.parametrize(("limit", "budget"), [({"rate_limit": 2}, {"requests_per_minute": 90}),
                                               ({"token_limit": 150}, {"tokens_per_minute": 4500})])
def test_a_budget_keeps_under_the_servers_limit_where_a_burst_is_refused(limit, budget):
    """2 requests a second, or 150 tokens a second (a request counts ~40 prompt words + 64 max tokens)."""
    with ServerProcess(SCRIPT, **limit) as srv:
        burst = ask(teacher(srv.base_url, concurrency=8), 6)
        refused = srv.stats().get("rate_limited", 0)
    assert all(c.ok for c in burst) and refused > 0  # without a budget the limit bites
    with ServerProcess(SCRIPT, **limit) as srv:
        paced = ask(teacher(srv.base_url, concurrency=8, **budget), 8)
        stats = srv.stats()
    assert all(c.ok for c in paced) and stats.get("rate_limited", 0) == 0 and stats["ok"] == 8


def test_remaining_requests_headers_are_honoured_and_a_429_pauses_the_shared_budget():
    # one request at a time: the answers say when the window is spent, so no request is refused
    with ServerProcess(SCRIPT, rate_limit=2) as srv:
        t = teacher(srv.base_url, concurrency=1)
        assert all(c.ok for c in ask(t, 6)) and srv.stats().get("rate_limited", 0) == 0
    assert t.budget.pauses["remaining_requests"] >= 2
    with ServerProcess(SCRIPT, rate_limit=2, limit_headers=False) as srv:  # without them: refused, then paused
        t = teacher(srv.base_url, concurrency=1)
        assert all(c.ok for c in ask(t, 6)) and srv.stats().get("rate_limited", 0) > 0
    assert t.budget.pauses["retry_after"] > 0


def test_curate_with_a_request_budget_gets_every_answer_without_a_429(tmp_path):
    """The issue's case: 6 problems x 2 samples against a server that allows 2 requests a second."""
    rows = [{"id": f"p{i}", "problem": f"p{i}: what is {i} + {7 - i}?", "answer": "7"} for i in range(6)]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    with ServerProcess(SCRIPT, rate_limit=2) as srv:
        r = subprocess.run([sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher", "openai",
                            "--base-url", srv.base_url, "--teacher-model", "scripted", "--samples", "2",
                            "--no-decontaminate", "--quiet", "--out", str(tmp_path / "out"),
                            "--requests-per-minute", "90"], env={**os.environ, "PYTHONPATH": str(ROOT),
                                                                 "HF_HUB_OFFLINE": "1"},
                           capture_output=True, text=True, timeout=300)
        stats = srv.stats()
    assert r.returncode == 0, r.stderr
    assert stats["ok"] == 12 and stats.get("rate_limited", 0) == 0
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["generation"]["answered"] == 12 and "http_429" not in report["generation"]["retried"]
    assert report["teacher"]["requests_per_minute"] == 90 and "tokens_per_minute" not in report["teacher"]
