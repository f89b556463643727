"""Paid teacher answers survive any change of recipe: the response store, against a scripted
server on loopback (every request the server receives is in its log)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from curation.dry_run.scripted_server import ServerProcess
from curation.teachers import Completion, GenRequest, ResponseStore
from tests.conftest import read_jsonl, stored_answers, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
WRONG = "<think>\nguess\n</think>\n\nThe answer is \\boxed{99}."
ROWS = [{"id": f"p{i}", "problem": f"p{i}: what is {i} + 7?", "answer": str(i + 7)} for i in range(4)]


def curate(tmp_path: Path, srv: ServerProcess, *extra: str) -> subprocess.CompletedProcess:
    src = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher", "openai", "--base-url",
           srv.base_url, "--teacher-model", "scripted", "--no-decontaminate", "--quiet", "--max-retries", "0",
           "--seed", "3", "--out", str(tmp_path / "out"), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def sent(log: Path) -> list[dict]:
    requests = read_jsonl(log) if log.exists() else []
    log.write_text("")
    return requests


def test_more_rounds_ask_only_for_the_new_rounds_and_restart_asks_for_nothing(tmp_path):
    log = tmp_path / "server.jsonl"
    with ServerProcess({"rules": [{"match": "", "answers": [WRONG]}]}, log=str(log)) as srv:
        first = curate(tmp_path, srv, "--samples", "2", "--rounds", "1")
        assert first.returncode == 0, first.stderr
        assert len(sent(log)) == 8
        again = curate(tmp_path, srv, "--samples", "2", "--rounds", "2")  # a changed recipe, same --out
        assert again.returncode == 0, again.stderr
        said = " ".join(again.stderr.split())
        assert "re-run with --restart" not in said and "the settings of samples changed" in said
        assert "CPU work is redone (8 stored teacher answers are reused)" in said
        round2 = sent(log)
        assert len(round2) == 8  # 4 problems, all wrong in round 1: their round-2 samples only
        report = json.loads((tmp_path / "out/report.json").read_text())
        assert report["generation"]["reused"] == 8 and report["generation"]["sent"] == 8
        assert [r["requests"] for r in report["generation"]["rounds"]] == [8, 8]
        restarted = curate(tmp_path, srv, "--samples", "2", "--rounds", "2", "--restart")
        assert restarted.returncode == 0 and sent(log) == []  # CPU work redone, no answer paid again
        assert json.loads((tmp_path / "out/report.json").read_text())["generation"]["reused"] == 16
        other = curate(tmp_path, srv, "--samples", "2", "--rounds", "2", "--temperature", "0.9")
        assert other.returncode == 0 and len(sent(log)) == 16  # another sampling setting: other answers
        dropped = curate(tmp_path, srv, "--samples", "2", "--rounds", "2", "--drop-answers")
        assert dropped.returncode == 0 and "dropped 16 stored answers" in " ".join(dropped.stderr.split())
        assert len(sent(log)) == 16
    assert len(stored_answers(tmp_path / ".responses")) == 32  # both temperatures' answers, each once


def test_a_store_is_keyed_by_what_determines_an_answer(tmp_path):
    identity = {"model": "m", "endpoint": "chat", "temperature": 0.6, "top_p": 0.95, "max_tokens": 100}
    store = ResponseStore(tmp_path, identity)
    req = GenRequest("pid", 0, "What is 1 + 1?", seed=11, round=1)
    store.put(req, Completion("pid", 0, 1, 11, text="2", finish_reason="stop"))
    store.put(GenRequest("pid", 1, "What is 1 + 1?", 12), Completion("pid", 1, 1, 12, error="timeout"))  # not kept
    assert store.get(GenRequest("other-id", 3, "What is 1 + 1?", seed=11, round=2)).text == "2"
    got = store.get(GenRequest("other-id", 3, "What is 1 + 1?", seed=11, round=2))
    assert (got.problem_id, got.sample_index, got.round) == ("other-id", 3, 2)  # the asking request's place
    assert store.get(GenRequest("pid", 0, "What is 1 + 1? ", seed=11)) is None  # another prompt
    assert store.get(GenRequest("pid", 0, "What is 1 + 1?", seed=12)) is None  # another seed
    assert store.get(GenRequest("pid", 1, "What is 1 + 1?", seed=12)) is None  # a failure is asked again
    for change in ({"model": "n"}, {"temperature": 0.7}, {"max_tokens": 200}, {"endpoint": "completions"}):
        assert ResponseStore(tmp_path, {**identity, **change}).get(req) is None, change
    assert ResponseStore(tmp_path, dict(identity)).get(req).text == "2"  # survives the process (a new handle)
    store.close()


def test_answers_logged_by_runs_before_the_store_are_read_into_it(tmp_path):
    """A work folder of the previous format (answers in responses/part-K.jsonl): its answers are
    keyed and kept, the re-run asks for none of them, and the old files are left in place."""
    log = tmp_path / "server.jsonl"
    with ServerProcess({"rules": [{"match": "", "answers": [WRONG]}]}, log=str(log)) as srv:
        assert curate(tmp_path, srv, "--samples", "2").returncode == 0
        assert len(sent(log)) == 8
        # turn it into the previous format: answers in the work folder's logs, no store
        import sqlite3

        work = tmp_path / ".work/out"
        db = sqlite3.connect(tmp_path / ".responses/answers.sqlite")
        rows = [json.loads(c) for (c,) in db.execute("SELECT completion FROM answers")]
        db.close()
        (tmp_path / ".responses/answers.sqlite").unlink()
        (work / "responses").mkdir()
        write_jsonl(work / "responses/part-00000.jsonl", rows)
        fp = json.loads((work / "fingerprint.json").read_text())
        teacher = {"model": "scripted", "endpoint": "chat", "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768,
                   "prompt": None}
        (work / "fingerprint.json").write_text(json.dumps({"work_format": 4, "recipe": {"teacher": teacher},
                                                           "source": fp["phases"]["load"]["resolved_source"]}))
        again = curate(tmp_path, srv, "--samples", "2")
        assert again.returncode == 0, again.stderr
        assert "8 answers of earlier runs read into the store" in " ".join(again.stderr.split())
        assert sent(log) == []
    assert (work / "responses/part-00000.jsonl").exists()
