"""A batch input file written by ``curate --export-requests`` is answered by vLLM's offline runner
(``python -m vllm.entrypoints.openai.run_batch``, the CPU build, one engine start) on the tiny
hand-written reasoner, and ``--import-responses`` of its output answers every sample."""

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import read_jsonl, write_jsonl
from helpers.tiny_reasoner import ANSWER, QUICK
from helpers.vllm_env import MISSING, cpu_env

pytestmark = [pytest.mark.integration, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]
ROOT = Path(__file__).resolve().parents[1]
SERVED = "tiny-r1"


def curate(tmp_path: Path, *extra: str):
    from curation.cli import main

    src = write_jsonl(tmp_path / "p.jsonl", [{"id": f"p{i}", "problem": p, "answer": "7"} for i, p in enumerate(QUICK)])
    result = CliRunner().invoke(main, ["math", "--source", str(src), "--teacher", "openai", "--teacher-model", SERVED,
                                       "--samples", "2", "--max-tokens", "64", "--seed", "3", "--no-decontaminate",
                                       "--quiet", "--out", str(tmp_path / "out"), *extra])
    assert result.exit_code == 0, f"{result.output[-3000:]}\n{result.exception!r}"
    return result


def test_vllms_run_batch_answers_an_exported_file_and_the_import_answers_all_samples(tiny_reasoner, tmp_path):
    requests = tmp_path / "requests.jsonl"
    assert "12 request(s) written" in curate(tmp_path, "--export-requests", str(requests)).output
    assert len(read_jsonl(requests)) == 12 and not (tmp_path / "out").exists()
    output, log = tmp_path / "responses.jsonl", tmp_path / "run_batch.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.run_batch", "-i", str(requests), "-o", str(output),
           "--model", str(tiny_reasoner), "--served-model-name", SERVED, "--reasoning-parser", "deepseek_r1",
           "--no-enable-chunked-prefill"]  # see vllm_offline.py: a seeded request's prefill split on CPU
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, env={**cpu_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))},
                              stdout=fh, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, log.read_text()[-3000:]
    lines = read_jsonl(output)
    assert len(lines) == 12 and all(line["response"]["status_code"] == 200 for line in lines)
    result = curate(tmp_path, "--import-responses", str(output))
    assert "12 new answer(s)" in " ".join(result.output.split())
    report = json.loads((tmp_path / "out/report.json").read_text())
    gen = report["generation"]
    assert (gen["requests"], gen["answered"], gen["imported"], gen["sent"], gen["failed"]) == (12, 12, 12, 0, {})
    rows = pl.read_parquet(tmp_path / "out/data").to_dicts()
    assert len(rows) == 12 and all(r["verdict"]["passed"] for r in rows) and report["conservation"]
    # the reasoning vLLM's parser split off is back inside <think>, as the openai teacher joins it
    assert rows[0]["messages"][1]["content"] == "<think>\n" + ANSWER
