"""Streaming rejection sampling against a scripted server on loopback: no barrier between rounds or
parts, parts marked done only once settled, visible teacher failures, greedy duplicates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from curation.dry_run.scripted_server import ServerProcess
from tests.conftest import read_jsonl, stored_answers, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
RIGHT = "<think>\nadd\n</think>\n\nThe answer is \\boxed{7}."
WRONG = "<think>\nguess\n</think>\n\nThe answer is \\boxed{8}."


def _curate(tmp_path: Path, srv: ServerProcess, rows: list[dict], *extra: str, out: str = "out"):
    src = write_jsonl(tmp_path / f"{out}.jsonl", rows)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher", "openai", "--base-url",
           srv.base_url, "--teacher-model", "scripted", "--no-decontaminate", "--quiet", "--max-retries", "0",
           "--out", str(tmp_path / out), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _problem(name: str) -> dict:
    return {"id": name, "problem": f"{name}: what is 3 + 4?", "answer": "7"}


def test_a_slow_answer_holds_up_neither_other_rounds_nor_other_parts(tmp_path):
    # part 0 = [slow, fast-wrong], part 1 = [quick-a, quick-b]; the slow answer takes 2.5 s
    script = {"rules": [{"match": "slow:", "answers": [RIGHT], "latency_ms": 2500},
                        {"match": "wrong:", "answers": [WRONG], "latency_ms": 20},
                        {"match": "quick", "answers": [RIGHT], "latency_ms": 20}]}
    rows = [_problem("slow"), _problem("wrong"), _problem("quick-a"), _problem("quick-b")]
    log = tmp_path / "server.jsonl"
    with ServerProcess(script, log=str(log)) as srv:
        r = _curate(tmp_path, srv, rows, "--samples", "1", "--rounds", "3", "--part-size", "2", "--concurrency", "4")
    assert r.returncode == 0, r.stderr
    requests = read_jsonl(log)
    slow_done = next(q["t_start"] + q["latency_s"] for q in requests if q["prompt"].startswith("slow:"))
    wrong = sorted(q["t_start"] for q in requests if q["prompt"].startswith("wrong:"))
    assert len(wrong) == 3 and wrong[-1] < slow_done  # its rounds 2 and 3 went out while slow was pending
    work = tmp_path / ".work/out"
    part0, part1 = (work / f"samples/part-{k:05d}.done" for k in (0, 1))
    assert part1.stat().st_mtime < slow_done < part0.stat().st_mtime  # part 1 finished first
    # a part is marked done only after the last answer of its problems was stored (part 0 ends last)
    assert part0.stat().st_mtime >= max(a["stored_at"] for a in stored_answers(tmp_path / ".responses"))
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["conservation"] and report["rows"]["train"] == 3
    assert [r["requests"] for r in report["generation"]["rounds"]] == [4, 1, 1]


def test_a_run_in_which_every_request_fails_exits_non_zero_with_the_servers_reason(tmp_path):
    script = {"rules": [{"match": "q", "status": 400}]}
    with ServerProcess(script) as srv:
        r = _curate(tmp_path, srv, [_problem("q1"), _problem("q2")])
    assert r.returncode == 1, r.stderr
    last = [line for line in r.stderr.splitlines() if line.startswith("curate: error:")]
    assert last == ["curate: error: every request to the teacher failed (http_400 x2): http_400: scripted status 400 "
                    "for rule 'q'"]
    assert "teacher: first http_400" in r.stderr  # said on the console as it happened
    report = json.loads((tmp_path / "out/report.json").read_text())  # still published, every problem rejected
    assert report["generation"]["first_errors"] == {"http_400": "scripted status 400 for rule 'q'"}
    assert report["funnel"][4]["rejected"] == {"teacher_failed": 2}


def test_a_wrong_model_name_fails_in_the_preflight_naming_the_served_ones(tmp_path):
    log = tmp_path / "server.jsonl"
    with ServerProcess(log=str(log), models=["deepseek-r1"]) as srv:
        r = _curate(tmp_path, srv, [_problem("q1")])
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert errors == [f"curate: error: teacher.model: {srv.base_url} does not serve 'scripted' (it serves: "
                      "deepseek-r1); set --teacher-model to one of them"]
    assert not log.exists() or not read_jsonl(log)  # not one completion was asked for


def test_identical_responses_under_different_seeds_are_counted_and_warned_about(tmp_path):
    with ServerProcess({"default": RIGHT}) as srv:  # answers the same text whatever the seed: greedy
        r = _curate(tmp_path, srv, [_problem("q1"), _problem("q2")], "--samples", "3")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["generation"]["duplicate_responses"] == 4
    assert "repeat another response to the same problem word for word" in r.stderr
