"""Evaluation: grading saved generations on real benchmark files, pass@1 over samples, protocols."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_jsonl

from curation.teachers import Completion
from evaluation import BENCHMARKS, BenchmarkError, load_rows, markdown_table, pass_at_1, to_items

ROOT = Path(__file__).resolve().parents[1]


def write_generations(folder: Path, answers: dict[tuple[str, int], str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "generations.jsonl", "w") as fh:
        for (pid, j), final in answers.items():
            text = f"<think>\nworking\n</think>\n\nThe answer is $\\boxed{{{final}}}$."
            fh.write(Completion(pid, j, 1, 0, text, "stop", 10, 7).to_json() + "\n")


def run_evaluate(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evaluation.cli", "--model", "org/saved-generations", "--backend",
                           "hf", "--out", str(out), *args], capture_output=True, text=True, cwd=ROOT)


def test_aime24_saved_generations_score_right_answers_and_pass_at_1_averages_samples(shared_data, tmp_path):
    rows = read_jsonl(shared_data / "math/aime24.jsonl")
    answers = {}
    for i, row in enumerate(rows):
        answers[(str(i), 0)] = row["answer"]                                    # always right
        answers[(str(i), 1)] = row["answer"] if i % 2 else int(row["answer"]) + 1  # right on odd items only
    write_generations(tmp_path / "aime24", answers)
    r = run_evaluate(tmp_path, "--benchmarks", "aime24", "--samples", "2", "--benchmark-file",
                     f"aime24={shared_data / 'math/aime24.jsonl'}", "--field", "problem=prompt")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["aime24"]
    assert res["items"] == 30 and res["samples"] == 2 and res["not_generated"] == 0
    assert res["pass@1"] == pytest.approx(0.75) and res["std"] == pytest.approx(0.25)
    graded = read_jsonl(tmp_path / "aime24/graded.jsonl")
    assert sum(g["score"] for g in graded) == 45
    assert "| Model | AIME 2024 |" in r.stdout and "75.0 ± 25.0" in r.stdout


def test_math500_saved_generations(shared_data, tmp_path):
    rows = read_jsonl(shared_data / "math/math500.jsonl")[:40]
    answers = {(str(r["unique_id"]), 0): (r["answer"] if i < 30 else "\\text{no idea}") for i, r in enumerate(rows)}
    write_generations(tmp_path / "math500", answers)
    r = run_evaluate(tmp_path, "--benchmarks", "math500", "--limit", "40", "--benchmark-file",
                     f"math500={shared_data / 'math/math500.jsonl'}")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["math500"]
    assert res["samples"] == 1 and res["pass@1"] == pytest.approx(30 / 40)
    assert res["reasons"]["wrong_answer"] == 10


def test_missing_generations_count_as_wrong_and_are_reported(shared_data, tmp_path):
    from curation import ResponseLog
    from evaluation import grade

    items = to_items(BENCHMARKS["aime24"], read_jsonl(shared_data / "math/aime24.jsonl")[:4], {"problem": "prompt"})
    write_generations(tmp_path, {("0", 0): items[0].reference, ("1", 0): items[1].reference})
    res = grade("math", items, 1, ResponseLog(tmp_path / "generations.jsonl").answered, {}, tmp_path, False, 5.0, 1)
    assert res["pass@1"] == pytest.approx(0.5) and res["not_generated"] == 2


def test_pass_at_1_is_the_mean_of_per_run_accuracy():
    res = pass_at_1({"a": [1, 1, 0, 1], "b": [0, 0, 0, 1]}, 4)
    assert res["pass@1"] == pytest.approx(0.5) and res["std"] == pytest.approx(0.3535, abs=1e-3)
    assert pass_at_1({}, 4)["pass@1"] is None


def test_gpqa_rows_become_shuffled_lettered_choices_with_the_right_letter():
    row = {"Question": "Which is a noble gas?", "Correct Answer": "Neon", "Incorrect Answer 1": "Iron",
           "Incorrect Answer 2": "Carbon", "Incorrect Answer 3": "Sodium"}
    items = to_items(BENCHMARKS["gpqa_diamond"], [row, {**row, "Question": "Another: which is a noble gas?"}])
    for item in items:
        ref = json.loads(item.reference)
        assert sorted(ref["choices"]) == ["Carbon", "Iron", "Neon", "Sodium"]
        assert ref["choices"]["ABCD".index(ref["answer"])] == "Neon"
    assert items[0].reference == to_items(BENCHMARKS["gpqa_diamond"], [row])[0].reference  # a fixed order


def test_protocol_defaults_and_bad_inputs():
    assert {n: p.samples for n, p in BENCHMARKS.items()} == {"aime24": 16, "aime25": 16, "math500": 1,
                                                             "gpqa_diamond": 4, "livecodebench": 4}
    with pytest.raises(BenchmarkError, match="file not found"):
        load_rows(BENCHMARKS["aime24"], "/nonexistent.jsonl")
    with pytest.raises(BenchmarkError, match="no answer"):
        to_items(BENCHMARKS["aime24"], [{"problem": "x"}])
    table = markdown_table({"m": {"gpqa_diamond": {"pass@1": 0.5, "std": 0.0}, "aime24": {"pass@1": 0.25,
                                                                                         "std": 0.1}}})
    assert table.splitlines()[0] == "| Model | AIME 2024 | GPQA-Diamond |" and "| m | 25.0 ± 10.0 | 50.0 |" in table


def test_cli_rejects_unknown_benchmarks_in_one_line(tmp_path):
    r = run_evaluate(tmp_path, "--benchmarks", "aime24,mmlu")
    assert r.returncode == 2 and r.stderr.strip() == \
        "evaluate: error: --benchmarks: unknown 'mmlu' (known: aime24, aime25, math500, gpqa_diamond, livecodebench; " \
        "a set of your own: --benchmark-file mmlu=PATH --domain mmlu=DOMAIN)"


def test_a_resumed_evaluation_asks_the_openai_backend_only_for_missing_samples(shared_data, tmp_path):
    from curation.dry_run.scripted_server import ServerProcess

    rows = read_jsonl(shared_data / "math/aime24.jsonl")
    write_generations(tmp_path / "aime24", {(str(i), 0): rows[i]["answer"] for i in range(10)})
    log = tmp_path / "server.jsonl"
    with ServerProcess(log=str(log), models=["served"]) as srv:
        r = subprocess.run([sys.executable, "-m", "evaluation.cli", "--model", "served", "--backend", "openai",
                            "--base-url", srv.base_url, "--benchmarks", "aime24", "--samples", "1", "--limit", "15",
                            "--benchmark-file", f"aime24={shared_data / 'math/aime24.jsonl'}", "--field",
                            "problem=prompt", "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    asked = read_jsonl(log)
    assert len(asked) == 5 and all(a["prompt"].count("final answer within") == 1 for a in asked)
    res = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["aime24"]
    assert res["pass@1"] == pytest.approx(10 / 15)  # the scripted server's answers (\boxed{0}) are wrong
    assert res["reused"] == 10


def test_evaluate_asks_only_for_new_samples_and_never_reuses_other_sampling_settings(shared_data, tmp_path):
    from curation.dry_run.scripted_server import ServerProcess

    log = tmp_path / "server.jsonl"

    def evaluate(samples: int, *extra: str) -> dict:
        r = subprocess.run([sys.executable, "-m", "evaluation.cli", "--model", "served", "--backend", "openai",
                            "--base-url", srv.base_url, "--benchmarks", "aime24", "--samples", str(samples),
                            "--limit", "3", "--benchmark-file", f"aime24={shared_data / 'math/aime24.jsonl'}",
                            "--field", "problem=prompt", "--out", str(tmp_path / "eval"), *extra],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads((tmp_path / "eval/results.json").read_text())["benchmarks"]["aime24"]

    with ServerProcess(log=str(log), models=["served"]) as srv:
        assert evaluate(2)["reused"] == 0 and len(read_jsonl(log)) == 6
        assert evaluate(4)["reused"] == 6 and len(read_jsonl(log)) == 6 + 6  # only samples 2 and 3 are new
        assert evaluate(4, "--temperature", "0.7")["reused"] == 0 and len(read_jsonl(log)) == 12 + 12
