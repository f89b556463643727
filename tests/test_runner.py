"""Branch-Merge recipes and the ``branch-merge`` runner."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import write_jsonl

from curation import ConfigError
from merge import RECIPES, load_recipe

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def branch_merge(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "merge.recipe_runner", *args], env=ENV, cwd=cwd, capture_output=True,
                          text=True)


@pytest.mark.parametrize("name", list(RECIPES))
def test_shipped_recipes_load(name):
    r = load_recipe(name)
    assert r.branches and all(b.train.mixture for b in r.branches.values())


def test_a_mistake_in_each_section_is_reported_at_once(tmp_path):
    bad = {"name": "bad", "colour": "red",
           "branches": {"math": {"curate": [{"domain": "maths", "preset": "nope"}],
                                 "train": {"mixture": ["missing_run*2", "nope*0"], "settings": {"lr": "fast",
                                                                                              "adam_beta1": 0.9}}}},
           "merge": {"plan": "no_such_plan"},
           "evaluate": {"benchmarks": ["aime99"]}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as exc:
        load_recipe(str(tmp_path / "r.yaml"))
    text = "\n".join(exc.value.problems)
    for expected in ("unknown key 'colour'", "curate[0].domain", "curate[0].preset", "missing_run",
                     "'nope*0'", "lr: must be a number", "adam_beta1: a file-only setting", "merge.plan",
                     "evaluate.benchmarks: unknown 'aime99'"):
        assert expected in text, f"{expected!r} not in:\n{text}"
    r = branch_merge("run", str(tmp_path / "r.yaml"), "--work", str(tmp_path / "w"), "--student", "x")
    assert r.returncode == 2 and r.stderr.count("branch-merge: error:") == len(exc.value.problems)


def tiny_recipe(tmp_path: Path) -> Path:
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"problem": "What is 2 + 3?", "answer": "5"}])
    settings = {"max_steps": 2, "global_batch": 1, "zero_stage": 2, "cutoff": 4096, "save_steps": 1}
    recipe = {"name": "tiny",
              "branches": {d: {"curate": [{"args": ["--quiet", *(["--keep-unverified"] if d == "code" else [])]}],
                               "train": {"mixture": [d], "settings": settings}}
                           for d in ("math", "code", "science")},
              "merge": {"plan": "tinyr1"},
              "evaluate": {"benchmarks": ["math500"],
                           "args": ["--backend", "hf", "--benchmark-file", f"math500={bench}", "--limit", "1",
                                    "--samples", "1", "--max-tokens", "8"]}}
    recipe["branches"]["science"]["train"]["mixture"] = ["science", "math@5"]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def test_dry_run_prints_commands_that_run_as_printed(tmp_path):
    recipe = tiny_recipe(tmp_path)
    r = branch_merge("run", str(recipe), "--work", str(tmp_path / "w"), "--student", str(tmp_path / "s"),
                     "--dry-run")
    assert r.returncode == 0, r.stderr
    commands = [line for line in r.stdout.splitlines() if line and not line.startswith("#")]
    assert [c.split()[2] for c in commands] == ["curation.cli"] * 3 + ["training.cli"] * 3 + ["merge.cli",
                                                                                              "evaluation.cli"]
    assert "--data " + str(tmp_path / "w/data/math") + "@5" in commands[5]
    assert not (tmp_path / "w").exists()  # a dry run writes nothing
    run = subprocess.run(shlex.split(commands[2]), env=ENV, capture_output=True, text=True)  # as printed
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "w/data/science/report.json").read_text())["conservation"]


@pytest.mark.integration
def test_runner_curates_trains_merges_evaluates_and_skips_finished_steps(tmp_path):
    pytest.importorskip("deepspeed", reason="the train extra is not installed")
    pytest.importorskip("mergekit", reason="the merge extra is not installed")
    from helpers.tiny_models import build_qwen2

    student = build_qwen2(tmp_path / "student")
    recipe, work = tiny_recipe(tmp_path), tmp_path / "w"
    r = branch_merge("run", str(recipe), "--work", str(work), "--student", str(student), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "8 step(s) ran, 0 skipped" in r.stderr
    science = json.loads((work / "experts/science/train_config.json").read_text())
    assert [(s["factor"], s["sampled_to"], s["used"]) for s in science["mixture"]][1] == (None, 5, 5)
    assert (work / "merged/model.safetensors").exists()
    assert json.loads((work / "eval/results.json").read_text())["benchmarks"]["math500"]["items"] == 1
    again = branch_merge("run", str(recipe), "--work", str(work), "--student", str(student), "--quiet")
    assert again.returncode == 0 and "0 step(s) ran, 8 skipped" in again.stderr, again.stderr[-2000:]


def test_a_failing_step_stops_the_run_with_its_error_and_command(tmp_path):
    recipe = tiny_recipe(tmp_path)
    r = branch_merge("run", str(recipe), "--work", str(tmp_path / "w"), "--student", str(tmp_path / "no_model"),
                     "--quiet")
    assert r.returncode == 1
    assert "step train-math failed: train: error:" in r.stderr, r.stderr[-2000:]
    assert "re-run the step with: " + sys.executable + " -m training.cli --branch math" in r.stderr
    assert (tmp_path / "w/data/code/report.json").exists()  # curation ran before it


@pytest.mark.integration
def test_killed_during_training_and_re_run_it_resumes_there(tmp_path):
    import signal
    import time

    pytest.importorskip("deepspeed", reason="the train extra is not installed")
    pytest.importorskip("mergekit", reason="the merge extra is not installed")
    from helpers.tiny_models import build_qwen2

    student = build_qwen2(tmp_path / "student")
    recipe_path, work = tiny_recipe(tmp_path), tmp_path / "w"
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["branches"]["math"]["train"]["settings"] = {**recipe["branches"]["math"]["train"]["settings"],
                                                       "max_steps": 40, "save_steps": 2}
    recipe_path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    cmd = [sys.executable, "-m", "merge.recipe_runner", "run", str(recipe_path), "--work", str(work), "--student",
           str(student), "--quiet"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    checkpoints = work / "experts/math/checkpoints"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not any(checkpoints.glob("*/")):
        time.sleep(0.05)
    time.sleep(1.0)  # let the first checkpoint be complete on disk
    assert proc.poll() is None, "the run ended before training could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its train step
    proc.wait()
    assert not (work / "experts/math/train_summary.json").exists()
    again = branch_merge("run", str(recipe_path), "--work", str(work), "--student", str(student), "--quiet")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 skipped" in again.stderr  # the three curations were finished
    summary = json.loads((work / "experts/math/train_summary.json").read_text())
    assert summary["steps"] == 40 and summary["resumed_from"] >= 2  # it went on from a checkpoint
    assert (work / "merged/model.safetensors").exists()


def test_steps_of_one_kind_in_a_row_run_together_with_jobs(tmp_path, monkeypatch):
    from merge.recipe_runner import _groups, plan_steps, step_env

    recipe = load_recipe(str(tiny_recipe(tmp_path)))
    steps = plan_steps(recipe, "student", tmp_path / "w")
    assert [[steps[i].name for i in g] for g in _groups(steps)] == [
        ["curate-math", "curate-code", "curate-science"], ["train-math", "train-code", "train-science"], ["merge"],
        ["evaluate"]]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert step_env(1) is None and step_env(2)["OMP_NUM_THREADS"] == "4" and step_env(16)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stands
    assert step_env(2) is None
    bad = yaml.safe_load(tiny_recipe(tmp_path).read_text()) | {"jobs": 0}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="jobs: must be a whole number of at least 1, got 0"):
        load_recipe(str(tmp_path / "bad.yaml"))
