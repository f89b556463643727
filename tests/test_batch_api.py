"""``--batch``: requests through an OpenAI-compatible Batch API, against the scripted server's, which
follows the public API (checked with the ``openai`` SDK where it is installed); a killed run finds its
batch again instead of paying twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from curation.dry_run.scripted_server import ServerProcess
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
RIGHT = "<think>\nadd\n</think>\n\nThe answer is \\boxed{7}."
WRONG = "<think>\nguess\n</think>\n\nThe answer is \\boxed{8}."
ROWS = [{"id": f"p{i}", "problem": f"p{i}: what is {i} + {7 - i}?", "answer": "7"} for i in range(6)]
SCRIPT = {"rules": [{"match": "p0:", "answers": [WRONG]}, {"match": "p1:", "answers": [WRONG, RIGHT]},
                    {"match": "", "answers": [RIGHT]}]}
ARGS = ["--samples", "2", "--rounds", "3", "--seed", "5"]


def command(tmp_path: Path, base_url: str, *extra: str, out: str = "out") -> list[str]:
    src = tmp_path / "rows.jsonl"
    if not src.exists():
        write_jsonl(src, ROWS)
    return [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher", "openai",
            "--teacher-model", "scripted", "--base-url", base_url, "--no-decontaminate", "--quiet",
            "--max-retries", "0", "--out", str(tmp_path / out), *ARGS, *extra]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_the_scripted_batch_api_answers_the_openai_sdk(tmp_path):
    openai = pytest.importorskip("openai")
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "m", "messages": [{"role": "user", "content": f"p{i}: what is 3 + 4?"}], "seed": i}}
             for i in range(3)]
    with ServerProcess({"rules": [{"match": "p2:", "status": 500}, {"match": "", "answers": [RIGHT]}]},
                       batch_delay_s=0.15) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="unused", max_retries=0)
        upload = client.files.create(file=("in.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode()),
                                     purpose="batch")
        assert (upload.object, upload.purpose, upload.bytes > 0) == ("file", "batch", True)
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                      completion_window="24h", metadata={"run": "a"})
        assert batch.status == "validating" and batch.metadata == {"run": "a"}
        while batch.status not in ("completed", "failed"):
            time.sleep(0.05)
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed" and batch.request_counts.total == 3 and batch.request_counts.failed == 1
        out = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
        err = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
        assert [o["custom_id"] for o in out] == ["r0", "r1"] and err[0]["custom_id"] == "r2"
        assert out[0]["response"]["status_code"] == 200 and out[0]["response"]["body"]["choices"][0]["message"][
            "content"] == RIGHT
        assert err[0]["response"]["status_code"] == 500 and "error" in err[0]["response"]["body"]
        assert [b.id for b in client.batches.list()] == [batch.id]
        dup = client.files.create(file=("dup.jsonl", (json.dumps(lines[0]) + "\n") * 2), purpose="batch")
        failed = client.batches.create(input_file_id=dup.id, endpoint="/v1/chat/completions", completion_window="24h")
        while failed.status not in ("completed", "failed"):
            time.sleep(0.05)
            failed = client.batches.retrieve(failed.id)
        assert failed.status == "failed" and [e.code for e in failed.errors.data] == ["duplicate_custom_id"]
        with pytest.raises(openai.NotFoundError):
            client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")


def test_batch_sends_every_round_through_the_batch_api_and_publishes_the_live_runs_rows(tmp_path):
    with ServerProcess(SCRIPT, batch_delay_s=0.15) as srv:
        live = run(command(tmp_path, srv.base_url, out="live"), tmp_path)
        assert live.returncode == 0, live.stderr
        sent_live = srv.stats()["ok"]
        batched = run(command(tmp_path, srv.base_url, "--batch", "--batch-poll-every", "0.05", "--responses",
                              "batch-store", "--price-input", "1", "--price-output", "2", "--batch-price-factor",
                              "0.5", out="batched"), tmp_path)
        assert batched.returncode == 0, batched.stderr
        stats = srv.stats()
    assert stats["batches_created"] == 3 and stats["batch_lines"] == sent_live  # one batch per round, no more
    assert pl.read_parquet(tmp_path / "batched/data").to_dicts() == pl.read_parquet(tmp_path / "live/data").to_dicts()
    gen = json.loads((tmp_path / "batched/report.json").read_text())["generation"]
    assert gen["imported"] == gen["answered"] == sent_live and gen["sent"] == 0
    assert gen["cost_usd"] == round((gen["prompt_tokens"] * 1 + gen["completion_tokens"] * 2) / 1e6 * 0.5, 6)
    assert gen["cost"]["batch"]["answers"] == sent_live and gen["cost"]["live"]["answers"] == 0


def _batches(store: Path) -> list[tuple]:
    if not (store / "answers.sqlite").exists():
        return []
    db = sqlite3.connect(store / "answers.sqlite", timeout=30)
    try:
        return db.execute("SELECT batch_id, imported_at FROM batches").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


@pytest.mark.parametrize("forget", [False, True])
def test_a_killed_batch_run_finds_its_batch_again_instead_of_paying_twice(tmp_path, forget):
    """SIGKILL ``curate --batch`` while its batch runs; the re-run polls the same batch (found in the store,
    or, when the store lost the record, among the server's batches by the digest in its metadata)."""
    right = {"rules": [{"match": "", "answers": [RIGHT]}]}  # one round
    with ServerProcess(right, batch_delay_s=6.0) as srv:
        cmd = command(tmp_path, srv.base_url, "--batch", "--batch-poll-every", "0.1")
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not _batches(tmp_path / ".responses") and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert proc.poll() is None and srv.stats()["batches_created"] == 1
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if forget:  # killed between creating the batch and recording it
            db = sqlite3.connect(tmp_path / ".responses/answers.sqlite")
            db.execute("DELETE FROM batches")
            db.commit()
            db.close()
        again = run(cmd, tmp_path)
        assert again.returncode == 0, again.stderr
        stats = srv.stats()
    assert (stats["batches_created"], stats["files_uploaded"], stats["batch_lines"]) == (1, 1, 12)
    assert json.loads((tmp_path / "out/report.json").read_text())["generation"]["answered"] == 12
    assert [imported is not None for _, imported in _batches(tmp_path / ".responses")] == [True]
