"""The LLM judge (issue 16, class 7) against the scripted server on loopback: only verdicts the
parsers could not decide go to it; strict replies decide, off-format ones stay undecided; its
replies are logged, so a re-run asks for nothing it already has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from curation.dry_run.scripted_server import ServerProcess
from curation.stages.llm_judge import parse_reply
from tests.conftest import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
JUDGE_ROWS = [  # golds the math parsers cannot read: only these reach the judge
    {"id": "a", "problem": "alpha: simplify", "answer": "\\frac{", "responses": ["<think>w</think> \\boxed{1/2}"]},
    {"id": "b", "problem": "beta: simplify", "answer": "$\\sqrt{$", "responses": ["<think>w</think> \\boxed{3}"]},
    {"id": "c", "problem": "gamma: simplify", "answer": "\\frac{", "responses": ["<think>w</think> \\boxed{7}"]},
    {"id": "d", "problem": "delta: what is 2+2?", "answer": "4", "responses": ["<think>w</think> \\boxed{4}",
                                                                           "<think>w</think> \\boxed{5}"]},
]
JUDGE_SCRIPT = {"rules": [{"match": "alpha", "answers": ["Both are one half.\nVERDICT: EQUIVALENT"]},
                          {"match": "beta", "answers": ["Not the same.\nVERDICT: DIFFERENT"]},
                          {"match": "gamma", "answers": ["I would say they are close enough."]}]}


def test_reply_format_is_strict():
    assert parse_reply("They match.\nVERDICT: EQUIVALENT") is True
    assert parse_reply("<think>hmm</think>\nDifferent values.\nVERDICT: DIFFERENT\n") is False
    for off in ("VERDICT: SAME", "Equivalent.", "VERDICT: EQUIVALENT, probably", ""):
        assert parse_reply(off) is None


def test_the_judge_decides_only_what_the_verifier_could_not(tmp_path):
    src = write_jsonl(tmp_path / "src.jsonl", JUDGE_ROWS)
    log = tmp_path / "judge-server.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with ServerProcess(JUDGE_SCRIPT, log=str(log), models=["judge-model"]) as srv:
        cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--no-decontaminate", "--quiet",
               "--judge", "openai", "--judge-model", "judge-model", "--judge-base-url", srv.base_url,
               "--out", str(tmp_path / "out")]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        asked = read_jsonl(log)
        for marker in (tmp_path / ".work/out/samples").glob("*.done"):  # as if killed after judging
            marker.unlink()
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
    assert len(asked) == 3 and all(q["model"] == "judge-model" for q in asked)  # d was decided by the parser
    assert len(read_jsonl(log)) == 3  # the re-run took every reply from the judge's log
    train = pl.read_parquet(tmp_path / "out/data")
    kept = dict(zip(train["id"].str.slice(0, 16).to_list(), train["verdict"].struct.field("detail"), strict=True))
    assert len(kept) == 2 and sum("via=judge" in d for d in kept.values()) == 1
    rejected = pl.read_parquet(tmp_path / "out/rejected")
    reasons = sorted(rejected.filter(pl.col("stage") == "verify")["reason"].to_list())
    assert reasons == ["judge_unparseable", "wrong_answer", "wrong_answer"]
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["verifier"]["judge"]["model"] == "judge-model" and report["verifier"]["decided_by"]["judge"] == 1
    assert "LLM judge `judge-model`" in (tmp_path / "out/README.md").read_text()
