"""The whole Branch-Merge loop, offline on CPU: curate the three demo sets, train three tiny
experts for a few steps, merge them with the reference plan, evaluate the merge with the hf
backend. It checks that each stage's output feeds the next, not the scores."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import stored_answers, write_jsonl

pytest.importorskip("deepspeed", reason="the train extra is not installed")
pytest.importorskip("mergekit", reason="the merge extra is not installed")

from helpers.tiny_models import build_qwen2  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{args[0]} failed:\n{r.stderr[-3000:]}"
    return r


@pytest.mark.integration
def test_curate_train_merge_evaluate(tmp_path):
    student = build_qwen2(tmp_path / "student")
    curated = {}
    for domain in ("math", "code", "science"):
        extra = ["--keep-unverified"] if domain == "code" else []  # static checks only: no sandbox needed here
        run("curation.cli", domain, "--quiet", "--out", str(tmp_path / "data" / domain), *extra, cwd=tmp_path)
        report = json.loads((tmp_path / "data" / domain / "report.json").read_text())
        assert report["rows"]["train"] > 0 and report["conservation"]
        curated[domain] = tmp_path / "data" / domain
    experts = {}
    for domain, data in curated.items():
        out = tmp_path / "experts" / domain
        run("training.cli", "--branch", domain, "--model", str(student), "--data", str(data), "--output", str(out),
            "--max-steps", "2", "--global-batch", "1", "--zero-stage", "2", "--cutoff", "4096", cwd=tmp_path)
        summary = json.loads((out / "train_summary.json").read_text())
        assert summary["steps"] == 2 and summary["samples"] > 0
        experts[domain] = out
    merged = tmp_path / "merged"
    run("merge.cli", "--plan", "tinyr1", "--math", str(experts["math"]), "--code", str(experts["code"]),
        "--science", str(experts["science"]), "--out", str(merged), cwd=tmp_path)
    assert (merged / "model.safetensors").exists() and (merged / "tokenizer.json").exists()
    card = (merged / "README.md").read_text()
    assert all(str(experts[d]) in card for d in experts) and "branch `math`" in card
    problems = write_jsonl(tmp_path / "demo_eval.jsonl", [
        {"problem": "What is 2 + 3?", "answer": "5"}, {"problem": "What is 7 * 6?", "answer": "42"},
        {"problem": "What is 10 - 4?", "answer": "6"}])
    r = run("evaluation.cli", "--model", str(merged), "--backend", "hf", "--benchmarks", "math500",
            "--benchmark-file", f"math500={problems}", "--samples", "2", "--max-tokens", "8",
            "--out", str(tmp_path / "eval"), cwd=tmp_path)
    res = json.loads((tmp_path / "eval/results.json").read_text())["benchmarks"]["math500"]
    assert res["items"] == 3 and res["samples"] == 2 and res["not_generated"] == 0
    assert len((tmp_path / "eval/math500/graded.jsonl").read_text().splitlines()) == 6
    assert len(stored_answers(tmp_path / "eval/.responses")) == 6  # every generation kept in the answer store
    assert "| Model | MATH-500 |" in r.stdout
