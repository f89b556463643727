"""LiveCodeBench as lcb_runner runs it, on our own problems in its field layout
(tests/data/livecodebench_style.jsonl: functional and stdin problems, private tests as base64 +
zlib + pickle, contest dates inside and outside the paper's window; each row carries a correct
and a wrong solution of ours)."""

import base64
import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import read_jsonl

from curation.teachers import Completion
from evaluation import BENCHMARKS, BenchmarkError
from evaluation.benchmarks import select_rows, to_items
from evaluation.livecodebench import PROMPTS, decode_private, parse_window
from evaluation.paper import PAPER_TABLE_1
from evaluation.run import prompt_for
from tests.conftest import sandbox_unavailable
from verifiers.code.test_formats import AssertTests, StdioTests, parse_tests

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/data/livecodebench_style.jsonl"
ROWS = read_jsonl(FIXTURE)
LCB = BENCHMARKS["livecodebench"]
IN_WINDOW = {"lc-count-pairs", "lc-split-strings", "abc370-sum", "cf2050-max"}
needs_bwrap = pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))


def answer(code: str) -> str:
    return f"<think>\nworking\n</think>\n\n```python\n{code}```\n"


def write_generations(folder: Path, answers: dict[tuple[str, int], str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "generations.jsonl", "w") as fh:
        for (pid, j), text in answers.items():
            fh.write(Completion(pid, j, 1, 0, text, "stop", 10, 7).to_json() + "\n")


def run_evaluate(out: Path, fixture: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evaluation.cli", "--model", "org/saved-generations", "--backend",
                           "hf", "--out", str(out), "--benchmarks", "livecodebench", "--benchmark-file",
                           f"livecodebench={fixture}", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_the_window_keeps_the_papers_problems_and_counts_them_by_platform_and_difficulty():
    kept, summary = select_rows(LCB, ROWS, {})
    assert {r["question_id"] for r in kept} == IN_WINDOW
    assert summary["window"] == "2024-08-01:2025-02-01" and summary["outside_window"] == 2
    assert summary["by_platform"] == {"atcoder": 1, "codeforces": 1, "leetcode": 2}
    assert summary["by_difficulty"] == {"easy": 2, "hard": 1, "medium": 1}
    assert summary["tests"] == {"public": 5, "private": 10}  # the private ones decoded and used
    assert "6 s per test" in summary["time_limit"] and "every public and private test" in summary["pass_rule"]
    old, _ = select_rows(LCB, ROWS, {"lcb_window": "release_v1"})
    assert {r["question_id"] for r in old} == {"lc-old-max"}
    assert parse_window("2024-08-01:2025-02-01").holds(parse_window("v5").start)


def test_functional_problems_are_call_protocol_tests_and_stdin_ones_stdin():
    kept, _ = select_rows(LCB, ROWS, {})
    for row, item in zip(kept, to_items(LCB, kept), strict=True):
        parsed = parse_tests(item.reference)
        if row["platform"] == "leetcode":
            assert isinstance(parsed, AssertTests) and len(parsed.asserts) == len(json.loads(
                row["public_test_cases"])) + len(decode_private(row["private_test_cases"]))
            assert all(a.startswith("assert _lcb_same(Solution().") for a in parsed.asserts)
        else:
            assert isinstance(parsed, StdioTests)


def test_prompts_are_lcb_runners_with_and_without_starter_code():
    kept, _ = select_rows(LCB, ROWS, {})
    items = {it.id: it for it in to_items(LCB, kept)}
    functional = prompt_for("code", items["lc-count-pairs"], None)
    assert "You will use the following starter code" in functional and "def countPairs(self" in functional
    stdin = prompt_for("code", items["abc370-sum"], None)
    assert "Read the inputs from stdin" in stdin and "# YOUR CODE HERE" in stdin
    generic = to_items(LCB, kept, options={"lcb_prompt": "generic"})[0]
    assert generic.prompt.count("### Question:") == 1 and "### Format:" in generic.prompt


def test_the_prompt_choices_are_the_registry_keys():
    help_text = subprocess.run([sys.executable, "-m", "evaluation.cli", "--help"], capture_output=True, text=True,
                               cwd=ROOT).stdout
    assert f"[{'|'.join(sorted(PROMPTS))}]" in help_text
    assert "--lcb-window" in help_text and "2024-08-01:2025-02-01" in help_text and "release_v5" in help_text


def evil_private_field(marker: Path) -> str:
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    return base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()


def test_a_pickle_that_builds_an_object_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "pwned"
    rows = [dict(ROWS[0], private_test_cases=evil_private_field(marker))]
    with pytest.raises(BenchmarkError) as exc:
        select_rows(LCB, rows, {})
    assert "refused" in str(exc.value) and "\n" not in str(exc.value) and not marker.exists()
    fixture = tmp_path / "evil.jsonl"
    fixture.write_text(json.dumps(rows[0]) + "\n")
    r = run_evaluate(tmp_path / "out", fixture)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "refused" in r.stderr
    assert not marker.exists()


def test_a_bad_window_is_one_line(tmp_path):
    r = run_evaluate(tmp_path, FIXTURE, "--lcb-window", "2025-02-01")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--lcb-window" in r.stderr


def test_the_papers_table_is_as_published_and_unknowns_are_blank():
    assert PAPER_TABLE_1["TinyR1-32B-Preview"] == {"aime24": 78.1, "livecodebench": 61.6, "gpqa_diamond": 65.0}
    assert PAPER_TABLE_1["DeepSeek-R1-Distill-Qwen-32B"]["livecodebench"] == 57.2
    assert PAPER_TABLE_1["TinyR1-32B-Preview code expert"]["livecodebench"] == 63.4
    assert len(PAPER_TABLE_1) == 6


@needs_bwrap
def test_correct_solutions_score_1_wrong_0_and_results_sit_beside_the_paper(tmp_path):
    answers = {}
    for row in ROWS:
        answers[(row["question_id"], 0)] = answer(row["correct"])
        answers[(row["question_id"], 1)] = answer(row["wrong"])
    write_generations(tmp_path / "livecodebench", answers)
    r = run_evaluate(tmp_path, FIXTURE, "--samples", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["livecodebench"]
    assert res["items"] == 4 and res["not_generated"] == 0  # the two out-of-window problems are not counted
    assert res["pass@1"] == pytest.approx(0.5) and res["std"] == pytest.approx(0.5)
    graded = {(g["id"], g["sample"]): g for g in read_jsonl(tmp_path / "livecodebench/graded.jsonl")}
    assert {k[0] for k in graded} == IN_WINDOW
    assert all(graded[(pid, 0)]["score"] == 1.0 for pid in IN_WINDOW), graded
    assert all(graded[(pid, 1)]["score"] == 0.0 for pid in IN_WINDOW)
    assert res["protocol"]["problems"] == 4 and res["protocol"]["by_platform"]["leetcode"] == 2
    md = (tmp_path / "results.md").read_text()
    assert "| TinyR1-32B-Preview (paper) | 61.6 |" in md and "| DeepSeek-R1 (paper) | 65.9 |" in md
    assert "| TinyR1-32B-Preview math expert (paper) | - |" in md
    assert "window 2024-08-01:2025-02-01; 4 problems (2 outside the window not counted)" in md
    assert "Protocol differences" in md and "6 s per test" in md


@needs_bwrap
def test_a_stdin_program_for_a_functional_problem_is_not_accepted():
    """Judged as stdin, this program would pass; through the call protocol it has no Solution."""
    from curation import VerifyConfig, verify_responses

    kept, _ = select_rows(LCB, [r for r in ROWS if r["question_id"] == "lc-count-pairs"], {})
    item = to_items(LCB, kept)[0]
    stdin_program = ("import sys, json\nlines = sys.stdin.read().split('\\n')\nnums, t = json.loads(lines[0]), "
                     "int(lines[1])\nprint(sum(1 for i in range(len(nums)) for j in range(i + 1, len(nums)) "
                     "if nums[i] + nums[j] < t))\n")
    good = kept[0]["correct"]
    verdicts = verify_responses("code", [answer(stdin_program), answer(good)], [item.reference] * 2,
                                VerifyConfig(sandbox=True, code_wall_s=item.wall_s, code_limit_per_test=True), 1)
    assert verdicts[0].passed is False and verdicts[1].passed is True, verdicts


@needs_bwrap
def test_functional_tests_each_get_the_time_limit_as_in_lcb_runner(tmp_path):
    """A deadline per test call, not one budget for the session: a program whose every test takes
    60% of the limit passes; one whose second test overruns it is TLE, though the tests together
    would fit in the limit times the tests. The limit is 1 s here (LiveCodeBench's 6 s, scaled)."""
    from dataclasses import replace

    from curation import ResponseLog
    from evaluation.livecodebench import TIME_LIMIT_S
    from evaluation.run import grade

    row = {"question_id": "lc-slow", "question_title": "slow", "question_content": "Return x.", "platform": "leetcode",
           "difficulty": "easy", "contest_date": "2024-10-01T00:00:00", "metadata": "{}",
           "starter_code": "class Solution:\n    def echo(self, x: int, pause: float) -> int:\n        ",
           "public_test_cases": json.dumps([{"input": f"{i}\n{p}", "output": str(i), "testtype": "functional"}
                                            for i, p in enumerate([0.6, 0.6, 0.6])]),
           "private_test_cases": ""}
    kept, _ = select_rows(LCB, [row], {})
    item = to_items(LCB, kept)[0]
    assert item.wall_s == TIME_LIMIT_S  # per test, not per session
    item = replace(item, wall_s=1.0)
    steady = ("import time\nclass Solution:\n    def echo(self, x, pause):\n        time.sleep(pause)\n"
              "        return x\n")
    one_slow = ("import time\nclass Solution:\n    def echo(self, x, pause):\n"
                "        time.sleep(1.4 if x == 1 else 0.05)\n        return x\n")
    log = ResponseLog(tmp_path / "generations.jsonl")
    for j, code in enumerate([steady, one_slow]):
        log.append(Completion("lc-slow", j, 1, 0, answer(code), "stop", 10, 7))
    result = grade("code", [item], 2, log.answered, {}, tmp_path, True, 30.0, 1)
    graded = read_jsonl(tmp_path / "graded.jsonl")
    assert [g["reason"] for g in graded] == ["AC", "TLE"], graded
    outcomes = json.loads(graded[1]["detail"])
    assert [t["outcome"] for t in outcomes["tests"]] == ["AC", "TLE"]
    assert outcomes["message"] == "time limit exceeded (1s per test)"
    assert result["pass@1"] == pytest.approx(0.5)
