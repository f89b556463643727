"""The ``vllm`` teacher and ``evaluate --backend vllm`` with vLLM's real engine (its CPU build here)
on a tiny model written by hand (``helpers/tiny_reasoner.py``: 'quick' problems are answered right in
12 tokens, 'slow' ones ramble until ``max_tokens``, the words drawn by the request's seed).

One engine serves the whole module (a start costs 20-60 s here): the teacher keeps one engine per
process, and every teacher, ``curate`` and ``evaluate`` run below gets that one. Only the killed run
starts its own, in the child process it kills.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import stored_answers, write_jsonl
from helpers.tiny_reasoner import ANSWER, QUICK, SLOW
from helpers.vllm_env import CPU_ENV, MISSING, cpu_env

from curation.config import TeacherConfig
from curation.teachers import GenRequest, RequestQueue, VLLMTeacher
from curation.teachers.requests import render_chat

pytestmark = [pytest.mark.integration, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _vllm_cpu_settings():
    with pytest.MonkeyPatch.context() as mp:
        for key, value in CPU_ENV.items():
            mp.setenv(key, os.environ.get(key, value))
        yield
    from curation.teachers.vllm_offline import release

    release()  # the next module starts a server of its own: do not hold two engines at once


def teacher_of(model: Path, max_tokens: int) -> VLLMTeacher:
    return VLLMTeacher(TeacherConfig(backend="vllm", model=str(model), max_tokens=max_tokens))


def curate(*args: str):
    from curation.cli import main

    result = CliRunner().invoke(main, ["math", "--teacher", "vllm", "--no-decontaminate", "--quiet", *args])
    assert result.exit_code == 0, f"{result.output[-3000:]}\n{result.exception!r}"
    return result


def problems_file(path: Path, problems: list[str], answer: str = "7") -> Path:
    return write_jsonl(path, [{"id": f"p{i}", "problem": p, "answer": answer} for i, p in enumerate(problems)])


def test_a_killed_run_resumes_asking_only_for_what_is_missing(tiny_reasoner, tmp_path):
    """SIGKILL a ``curate --teacher vllm`` child once its quick answers are logged while its slow ones
    still run; the re-run (in this process) asks only for the slow ones, and publishes what an
    uninterrupted run publishes."""
    src = problems_file(tmp_path / "p.jsonl", QUICK[:3] + SLOW[:2])
    args = ["--source", str(src), "--teacher-model", str(tiny_reasoner), "--samples", "2", "--max-tokens", "1500",
            "--seed", "5"]
    store = tmp_path / "killed-answers"  # each run its own answer store: the clean run must generate too
    killed = [*args, "--out", str(tmp_path / "killed"), "--responses", str(store)]
    cmd = [sys.executable, "-m", "curation.cli", "math", "--teacher", "vllm", "--no-decontaminate", "--quiet", *killed]
    proc = subprocess.Popen(cmd, env={**cpu_env(), "PYTHONPATH": str(ROOT)}, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if len(stored_answers(store)) >= 6:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = stored_answers(store)
    assert len(before) == 6 and all(r["text"] == ANSWER and r["finish_reason"] == "stop" for r in before)

    curate(*killed)
    after = stored_answers(store)
    asked_again = after[len(before):]  # in the order they were stored
    assert len(asked_again) == 4 and all(r["finish_reason"] == "length" and r["completion_tokens"] == 1500
                                         for r in asked_again)
    assert len({(r["problem_id"], r["sample_index"]) for r in after}) == 10  # nothing asked twice

    curate(*args, "--out", str(tmp_path / "clean"), "--responses", str(tmp_path / "clean-answers"))
    rows = {name: pl.read_parquet(tmp_path / name / "data").sort("id").to_dicts()
            for name in ("killed", "clean")}
    assert rows["killed"] == rows["clean"] and {r["problem_id"] for r in rows["clean"]} == {
        r["problem_id"] for r in before}
    report = json.loads((tmp_path / "killed/report.json").read_text())
    assert report["generation"]["answered"] == 10 and report["conservation"]


def test_every_request_answered_seeds_reproduce_and_the_prompt_has_one_bos(tiny_reasoner):
    teacher = teacher_of(tiny_reasoner, 48)
    reqs = [GenRequest("quick", 0, QUICK[0], 1), GenRequest("quick", 1, QUICK[0], 2),
            GenRequest("slow", 0, SLOW[0], 1), GenRequest("slow", 1, SLOW[0], 2), GenRequest("slow", 2, SLOW[0], 1),
            GenRequest("huge", 0, "quick " * 3000, 1)]  # longer than the model's 2,048-token context
    out = {}
    teacher.generate(reqs, lambda c: out.setdefault(c.problem_id, {}).__setitem__(c.sample_index, c))
    assert sorted((p, i) for p in out for i in out[p]) == sorted(r.key for r in reqs)  # each exactly once
    quick, slow = out["quick"], out["slow"]
    assert all(c.text == ANSWER and c.finish_reason == "stop" and c.completion_tokens == 12 for c in quick.values())
    assert all(c.ok and c.finish_reason == "length" and c.completion_tokens == 48 for c in slow.values())
    assert slow[0].text == slow[2].text != slow[1].text  # the seed decides the sample, nothing else does
    tok = teacher.tokenizer  # the template writes the BOS; the tokenizer must not add a second one
    assert quick[0].prompt_tokens == len(tok.encode(render_chat(tok, QUICK[0]), add_special_tokens=False))
    assert quick[0].prompt_tokens == len(tok.encode(render_chat(tok, QUICK[0]))) - 1
    huge = out["huge"][0]
    assert not huge.ok and huge.error == "invalid_request" and "maximum context length" in huge.detail


def test_more_prompt_tokens_than_one_engine_step_takes(tiny_reasoner):
    """150 seeded requests of ~35 prompt tokens: more than the 4,096 tokens one step schedules, so a
    prefill would be split over two steps, which kills vLLM's CPU engine for a seeded request
    ("CPU Generator does not use offset"); the teacher keeps prefills whole on CPU."""
    out = []
    teacher_of(tiny_reasoner, 16).generate(
        [GenRequest(f"q{i}", 0, f"#{i} {QUICK[i % len(QUICK)]} Show the work.", i) for i in range(150)], out.append)
    assert len(out) == 150 and all(c.text == ANSWER for c in out) and sum(c.prompt_tokens for c in out) > 4096


def test_answers_are_handed_on_as_they_finish_not_when_the_batch_does(tiny_reasoner):
    """A slow request (256 tokens) and a quick one (12) go in together; when the quick answer comes
    back, a second quick request is asked, as the scheduler asks a next round. It is answered
    while the slow one still runs: nothing waited for the batch to end."""
    teacher = teacher_of(tiny_reasoner, 256)  # the same engine, other sampling settings
    order = []

    async def main() -> None:
        queue = RequestQueue()

        def on_result(c) -> None:
            order.append((c.problem_id, c.completion_tokens))
            if c.problem_id == "quick1":
                queue.put(GenRequest("quick2", 0, QUICK[1], 2))
                queue.close()

        queue.put(GenRequest("slow", 0, SLOW[0], 1))
        queue.put(GenRequest("quick1", 0, QUICK[0], 1))
        await teacher.serve(queue, on_result)

    asyncio.run(main())
    assert order == [("quick1", 12), ("quick2", 12), ("slow", 256)]


def test_curate_math_with_the_vllm_teacher_answers_and_verifies_every_sample(tiny_reasoner, tmp_path):
    src = problems_file(tmp_path / "p.jsonl", QUICK[:4])
    curate("--source", str(src), "--teacher-model", str(tiny_reasoner), "--samples", "2", "--max-tokens", "64",
           "--out", str(tmp_path / "out"))
    report = json.loads((tmp_path / "out/report.json").read_text())
    gen = report["generation"]
    assert (gen["requests"], gen["answered"], gen["failed"]) == (8, 8, {})
    assert report["conservation"] and report["teacher"]["backend"] == "vllm"
    rows = pl.read_parquet(tmp_path / "out/data").to_dicts()
    assert len({r["problem_id"] for r in rows}) == 4 and all(r["verdict"]["passed"] for r in rows)


def test_evaluate_with_the_vllm_backend(tiny_reasoner, tmp_path):
    from evaluation.cli import main

    bench = write_jsonl(tmp_path / "aime.jsonl", [
        {"id": "a", "problem": QUICK[0], "answer": "7"}, {"id": "b", "problem": QUICK[1], "answer": "7"},
        {"id": "c", "problem": QUICK[2], "answer": "8"},  # answered 7: wrong
        {"id": "d", "problem": SLOW[0], "answer": "7"}])  # cut off at --max-tokens: no answer
    result = CliRunner().invoke(main, ["--model", str(tiny_reasoner), "--backend", "vllm", "--benchmarks", "aime24",
                                       "--benchmark-file", f"aime24={bench}", "--samples", "2", "--max-tokens", "64",
                                       "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, f"{result.output[-3000:]}\n{result.exception!r}"
    res = json.loads((tmp_path / "eval/results.json").read_text())
    aime = res["benchmarks"]["aime24"]
    assert res["backend"] == "vllm" and aime["items"] == 4 and aime["samples"] == 2 and aime["not_generated"] == 0
    assert aime["pass@1"] == pytest.approx(0.5)
    assert "| Model | AIME 2024 |" in result.output and "50.0" in result.output
