"""Live teachers against a scripted OpenAI-compatible server on loopback: faults, retries,
rejection-sampling rounds, SIGKILL + resume; the hf backend with a tiny random model."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import read_jsonl, stored_answers, write_jsonl

from curation import build_config, run_curation
from curation.config import ConfigError, TeacherConfig
from curation.dry_run.scripted_server import ServerProcess
from curation.teachers import GenRequest, OpenAITeacher, sample_seed

RIGHT = "<think>\nAdd them up carefully.\n</think>\n\nSo the answer is \\boxed{7}."
WRONG = "<think>\nI guess.\n</think>\n\nThe answer is \\boxed{8}."
PROBLEMS = [
    {"id": "alpha", "problem": "alpha: what is 3 + 4?", "answer": "7"},      # always right
    {"id": "beta", "problem": "beta: what is 1 + 6?", "answer": "7"},        # always wrong
    {"id": "gamma", "problem": "gamma: what is 2 + 5?", "answer": "7"},      # right for odd seeds
    {"id": "delta", "problem": "delta: what is 0 + 7?", "answer": "7"},      # the server always fails
    {"id": "epsilon", "problem": "epsilon: what is 7 + 0?", "answer": "7"},  # truncated answers
]
SCRIPT = {"rules": [
    {"match": "alpha", "answers": [RIGHT]},
    {"match": "beta", "answers": [WRONG]},
    {"match": "gamma", "answers": [WRONG, RIGHT]},
    {"match": "delta", "status": 500},
    {"match": "epsilon", "answers": [RIGHT], "finish_reason": "length"},
]}


def curate_live(tmp_path: Path, srv: ServerProcess, out: str = "out", **teacher) -> dict:
    src = write_jsonl(tmp_path / "problems.jsonl", PROBLEMS)
    recipe = {"domain": "math", "source": {"path": str(src)}, "decontaminate": {"enabled": False},
              "teacher": {"backend": "openai", "model": "scripted", "base_urls": [srv.base_url], "max_retries": 2,
                          "backoff_s": 0.01, **teacher},
              "output": {"out_dir": str(tmp_path / out)}}
    return run_curation(build_config(recipe), quiet=True)


def test_every_request_answered_or_failed_with_its_reason_under_faults():
    reqs = [GenRequest(f"p{i}", 0, f"problem {i}" + (" delta" if i % 10 == 3 else ""), i) for i in range(200)]
    with ServerProcess(SCRIPT, latency_ms=2, faults="429:0.15,500:0.1,502:0.05,drop:0.1") as srv:
        cfg = TeacherConfig(backend="openai", model="m", base_urls=[srv.base_url, srv.base_url], concurrency=16,
                            max_retries=3, backoff_s=0.01)
        out = []
        OpenAITeacher(cfg).generate(reqs, out.append)
        stats = srv.stats()
    assert sorted(c.problem_id for c in out) == sorted(r.problem_id for r in reqs)  # each exactly once
    failed = [c for c in out if not c.ok]
    assert {c.problem_id for c in failed} == {f"p{i}" for i in range(200) if i % 10 == 3}
    assert all(c.error == "http_500" and c.attempts == 4 for c in failed)
    retried = [c for c in out if c.ok and c.attempts > 1]
    assert retried and all(set(c.extra["retried"]) <= {"http_429", "http_500", "http_502", "connection_error"}
                           for c in retried)
    assert {"429", "500", "502", "drop"} <= set(stats)  # every injected fault kind happened
    assert all(c.text == "<think>\nLet me think about this.\n</think>\n\nThe answer is \\boxed{0}." for c in out
               if c.ok)


def test_reasoning_content_is_put_back_and_completions_endpoint_works():
    with ServerProcess(SCRIPT, split_reasoning=True) as srv:
        for endpoint in ("chat", "completions"):
            out = []
            cfg = TeacherConfig(backend="openai", model="m", base_urls=[srv.base_url], endpoint=endpoint)
            OpenAITeacher(cfg).generate([GenRequest("a", 0, "alpha", 1)], out.append)
            assert out[0].text.startswith("<think>\nAdd them up carefully.\n</think>")
            assert out[0].text.endswith("\\boxed{7}.") and out[0].finish_reason == "stop"
            assert out[0].prompt_tokens == 1 and out[0].completion_tokens > 0


def test_client_errors_are_final_not_retried():
    with ServerProcess({"rules": [{"match": "bad", "status": 400}]}) as srv:
        out = []
        cfg = TeacherConfig(backend="openai", model="m", base_urls=[srv.base_url], max_retries=5)
        OpenAITeacher(cfg).generate([GenRequest("a", 0, "bad", 1)], out.append)
    assert out[0].error == "http_400" and out[0].attempts == 1


def test_unreachable_server_is_recorded_as_connection_error():
    cfg = TeacherConfig(backend="openai", model="m", base_urls=["http://127.0.0.1:9/v1"], max_retries=1,
                        backoff_s=0.01)
    out = []
    OpenAITeacher(cfg).generate([GenRequest("a", 0, "x", 1)], out.append)
    assert out[0].error == "connection_error" and out[0].attempts == 2


def test_a_base_url_that_does_not_answer_is_a_config_error_before_any_request(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", PROBLEMS[:1])
    recipe = {"domain": "math", "source": {"path": str(src)}, "decontaminate": {"enabled": False},
              "teacher": {"backend": "openai", "model": "m", "base_urls": ["http://127.0.0.1:9/v1"]},
              "output": {"out_dir": str(tmp_path / "out")}}
    with pytest.raises(ConfigError, match="http://127.0.0.1:9/v1 does not answer"):
        run_curation(build_config(recipe), quiet=True)


def test_rejection_rounds_resample_only_problems_without_a_verified_sample(tmp_path):
    log = tmp_path / "server.jsonl"
    with ServerProcess(SCRIPT, log=str(log)) as srv:
        report = curate_live(tmp_path, srv, samples=2, rounds=3, want=1, seed=11)
    requests = read_jsonl(log)
    gen = report["generation"]
    funnel = {s["stage"]: s for s in report["funnel"]}
    assert report["conservation"]
    # round 1: all five problems; alpha verifies at once and is never asked again
    per_problem = {p["id"]: [r for r in requests if r["prompt"].startswith(p["id"])] for p in PROBLEMS}
    assert {r["seed"] for r in per_problem["alpha"]} == {sample_seed(11, _pid("alpha"), i) for i in range(2)}
    assert gen["rounds"][0]["problems"] == 5 and gen["rounds"][0]["requests"] == 10
    # beta never verifies: 3 rounds x 2 samples; delta always fails (3 attempts each) and is rejected
    assert len({r["seed"] for r in per_problem["beta"]}) == 6
    assert funnel["generate"]["rejected"] == {"teacher_failed": 1}
    assert gen["failed"]["http_500"] == 6 and gen["retried"]["http_500"] == 12
    # gamma: asked again only while it has no verified sample (seeds alternate right/wrong by parity)
    gamma_seeds = [sample_seed(11, _pid("gamma"), i) for i in range(6)]
    first_right = next(i for i, s in enumerate(gamma_seeds) if s % 2 == 1)
    assert len({r["seed"] for r in per_problem["gamma"]}) == min(6, 2 * (first_right // 2 + 1))
    # round 2 asks only for the problems round 1 left without a verified sample
    r1_failed = {"beta", "delta", "epsilon"} | ({"gamma"} if first_right >= 2 else set())
    assert gen["rounds"][1]["problems"] == len(r1_failed)
    assert funnel["format"]["rejected"] == {"truncated": 6}  # epsilon's truncated answers
    train = pl.read_parquet(tmp_path / "out/data")
    assert sorted(set(train["problem_id"])) == sorted({_pid("alpha"), _pid("gamma")})
    row = train.filter(pl.col("problem_id") == _pid("gamma")).row(0, named=True)
    assert row["teacher"]["seed"] == gamma_seeds[int(row["id"].rsplit("-", 1)[1])]
    assert row["generation"]["round"] == first_right // 2 + 1 and row["generation"]["completion_tokens"] > 0
    assert gen["requests"] == gen["answered"] + sum(gen["failed"].values())


def _pid(name: str) -> str:
    from curation import problem_id

    return problem_id("math", next(p["problem"] for p in PROBLEMS if p["id"] == name))


def test_config_errors_for_live_settings():
    with pytest.raises(ConfigError) as err:
        build_config({"source": {"path": "demo"}, "teacher": {"backend": "openai", "samples": 0}},
                     check_source=False)
    text = str(err.value)
    assert "needs at least one --base-url" in text and "teacher.samples: must be at least 1" in text
    with pytest.raises(ConfigError, match="need a live teacher"):
        build_config({"source": {"path": "demo"}, "teacher": {"rounds": 2}}, check_source=False)


def test_sigkill_midway_then_rerun_requests_only_what_is_missing(tmp_path):
    """Kill a live run after some answers are logged; the re-run asks only for the rest."""
    rows = [{"id": f"q{i}", "problem": f"question {i}: what is {i} + 7?", "answer": str(i + 7)} for i in range(30)]
    src = write_jsonl(tmp_path / "many.jsonl", rows)
    script = {"rules": [{"match": f"question {i}:", "answers": [
        f"<think>\nsum\n</think>\n\n\\boxed{{{i + 7}}}", f"<think>\nhm\n</think>\n\n\\boxed{{{i}}}"]}
        for i in range(30)]}
    log = tmp_path / "server.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with ServerProcess(script, latency_ms=40, log=str(log)) as srv:
        args = ["--source", str(src), "--teacher", "openai", "--base-url", srv.base_url, "--teacher-model", "scripted",
                "--samples", "4", "--rounds", "2", "--want", "2", "--concurrency", "4", "--no-decontaminate",
                "--quiet", "--part-size", "10", "--seed", "5"]
        cmd = [sys.executable, "-m", "curation.cli", "math", *args]
        subprocess.run([*cmd, "--out", str(tmp_path / "clean"), "--responses", str(tmp_path / "clean-answers")],
                       check=True, env=env, capture_output=True)
        clean_requests = len(read_jsonl(log))
        log.write_text("")
        store = tmp_path / "killed-answers"  # its own store: the clean run's answers would serve it all
        killed = [*cmd, "--out", str(tmp_path / "killed"), "--responses", str(store)]
        proc = subprocess.Popen(killed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(stored_answers(store)) >= 30:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        answered = {(r["problem_id"], r["sample_index"]) for r in stored_answers(store)}
        before = {(r["prompt"], r["seed"]) for r in read_jsonl(log)}
        log.write_text("")
        rerun = subprocess.run(killed, env=env, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        after = {(r["prompt"], r["seed"]) for r in read_jsonl(log)}
    assert 30 <= len(answered) < clean_requests
    assert len(after) == clean_requests - len(answered)  # exactly the missing pairs (in-flight ones included)
    answered_seeds = {sample_seed(5, pid, i) for pid, i in answered}
    assert not {seed for _, seed in after} & answered_seeds  # nothing answered before is asked again
    assert len(before | after) == clean_requests
    assert _train(tmp_path / "killed") == _train(tmp_path / "clean")
    report = json.loads((tmp_path / "killed/report.json").read_text())
    assert report["generation"]["requests"] == clean_requests and report["conservation"]



def _train(out: Path) -> list[dict]:
    return pl.read_parquet(out / "data").sort("id").to_dicts()


@pytest.mark.integration
def test_hf_backend_generates_with_a_tiny_random_model(tmp_path):
    pytest.importorskip("transformers")
    from helpers.tiny_models import build_qwen2

    from curation.teachers import HFTeacher

    model = build_qwen2(tmp_path / "tiny")
    teacher = HFTeacher(TeacherConfig(backend="hf", model=str(model), max_tokens=12))
    out = []
    teacher.generate([GenRequest("a", 0, "What is 2+2?", 3), GenRequest("a", 1, "What is 2+2?", 3),
                      GenRequest("a", 2, "What is 2+2?", 4)], out.append)
    assert [c.ok for c in out] == [True] * 3
    assert out[0].text == out[1].text  # same seed, same sample
    assert all(c.completion_tokens <= 12 and c.finish_reason in ("stop", "length") for c in out)
    # and through the whole pipeline: every sample accounted for
    src = write_jsonl(tmp_path / "p.jsonl", PROBLEMS[:2])
    report = run_curation(build_config({
        "domain": "math", "source": {"path": str(src)}, "decontaminate": {"enabled": False},
        "teacher": {"backend": "hf", "model": str(model), "max_tokens": 8, "samples": 2},
        "output": {"out_dir": str(tmp_path / "hf_out")}}), quiet=True)
    assert report["conservation"] and report["generation"]["answered"] == 4


@pytest.mark.integration
def test_hf_greedy_answers_in_batches_are_the_answers_one_at_a_time(tmp_path):
    pytest.importorskip("transformers")
    from helpers.tiny_models import build_qwen2

    from curation.teachers import HFTeacher

    model = build_qwen2(tmp_path / "tiny", hidden=64)
    teacher = HFTeacher(TeacherConfig(backend="hf", model=str(model), max_tokens=16, temperature=0.0))
    prompts = ["What is 2+2?", "Compute 17 * 3, please.", "x", "Which option is correct? A. water B. iron"] * 3
    requests = [GenRequest(f"p{i}", 0, p, i) for i, p in enumerate(prompts)]
    batched = []
    teacher.generate(requests, batched.append)  # all queued at once: left-padded batches
    alone = [teacher._one(r) for r in requests]  # one request per generate call, no padding
    by_id = {c.problem_id: c for c in batched}
    assert [(by_id[c.problem_id].text, by_id[c.problem_id].completion_tokens, by_id[c.problem_id].finish_reason)
            for c in alone] == [(c.text, c.completion_tokens, c.finish_reason) for c in alone]
    assert len({c.text for c in alone}) > 1  # the prompts lead to different answers


@pytest.mark.gpu
def test_vllm_backend_generates_on_gpu(tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (extra: vllm)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from helpers.tiny_models import build_qwen2

    from curation.teachers import VLLMTeacher

    model = build_qwen2(tmp_path / "tiny", hidden=64)
    teacher = VLLMTeacher(TeacherConfig(backend="vllm", model=str(model), max_tokens=16))
    out = []
    teacher.generate([GenRequest("a", i, "What is 2+2?", i % 2) for i in range(4)], out.append)
    assert all(c.ok for c in out) and out[0].text == out[2].text
