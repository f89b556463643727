"""The verifiers as RL rewards: TRL's calling convention, verl's hook, threads and deadlines."""

from __future__ import annotations

import json
import pickle
import threading
import time

import pytest
from conftest import read_jsonl, sandbox_unavailable

from verifiers import Verdict
from verifiers.rewards import (
    code_reward,
    completion_text,
    compute_score,
    make_reward,
    math_reward,
    reward_kinds,
    science_reward,
    think_format_reward,
)

needs_sandbox = pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))


def as_messages(texts: list[str]) -> list[list[dict]]:
    return [[{"role": "assistant", "content": t}] for t in texts]


# Items that go past the fast path to the worker pool (math-verify / sympy), with known answers.
WORKER_ITEMS = [
    ("<think>\nexpand\n</think>\n\n\\boxed{x^2+2x+1}", "(x+1)^2", 1.0),
    ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", 1.0),
    ("\\boxed{\\frac{\\pi}{4}}", "\\frac{\\pi}{2}", 0.0),
    ("\\boxed{x^2+1}", "(x+1)^2", 0.0),
    ("The answer is $\\frac{3}{6}$.", "\\frac{1}{2}", 1.0),
    ("\\boxed{\\sqrt{3}}", "\\sqrt{2}", 0.0),
    ("\\boxed{(1,2)} and \\boxed{(3,4)}", "(1,2),(3,4)", 1.0),
    ("\\boxed{\\{1, 2\\}}", "\\{2, 1\\}", 1.0),
]


def worker_batch(k: int = 6):
    texts, golds, want = [], [], []
    for j in range(k):  # distinct pairs (identical ones are checked once per call)
        for text, gold, score in WORKER_ITEMS:
            texts.append(text + " " * j)
            golds.append(gold)
            want.append(score)
    return texts, golds, want


# -- TRL's conventions -------------------------------------------------------------------------

def test_math_reward_scores_both_completion_forms_alike():
    texts, golds, want = worker_batch(1)
    texts += ["<think>cut off \\boxed{42}", "no box at all", "\\boxed{7}"]
    golds += ["42", "42", "7"]
    want += [0.0, 0.0, 1.0]
    assert math_reward(texts, answer=golds) == want
    assert math_reward(as_messages(texts), golds) == want


def test_other_keywords_are_ignored_and_the_reasons_are_logged():
    logged, metrics = {}, {}
    scores = math_reward(["\\boxed{4}", "\\boxed{5}"], answer=["4", "4"], prompts=["p", "p"],
                         completion_ids=[[1], [2]], trainer_state=object(), problem=["a", "b"],
                         log_extra=lambda col, vals: logged.setdefault(col, vals),
                         log_metric=lambda name, v: metrics.setdefault(name, v))
    assert scores == [1.0, 0.0]
    assert logged == {"math_reward_reason": ["correct", "wrong_answer"]}
    assert metrics == {"math_reward/unjudged": 0.0}


def test_an_unjudgeable_item_gets_none_never_a_reward():
    assert math_reward(["\\boxed{1}", "\\boxed{1}", "\\boxed{}"], answer=["", None, "   "]) == [None, None, None]
    assert science_reward(["The answer is (B)."], answer=[""]) == [None]
    assert science_reward(["\\boxed{B}"], answer=["The mechanism involves a radical chain and two steps."]) == [None]
    assert code_reward(["```python\nprint(1)\n```"], tests=["not tests"]) == [None]
    reward = make_reward("code", column="tests")
    for reason in ("SE", "AC_weak", "timeout", "verifier_error", "unsupported_language"):
        assert reward.score(Verdict(None, reason)) is None


def test_reasoning_split_off_by_a_response_parser_is_put_back():
    msg = [{"role": "assistant", "reasoning_content": "2+2 is 4", "content": "\\boxed{4}"}]
    assert completion_text(msg).startswith("<think>\n2+2 is 4\n</think>")
    assert math_reward([msg], answer=["4"]) == [1.0]
    assert think_format_reward([msg]) == [1.0]
    tools = [{"role": "assistant", "content": "calling"}, {"role": "tool", "content": "\\boxed{9}"},
             {"role": "assistant", "content": [{"type": "text", "text": "\\boxed{4}"}]}]
    assert math_reward([tools], answer=["4"]) == [1.0]
    assert math_reward([[{"role": "user", "content": "\\boxed{4}"}], 17], answer=["4", "4"]) == [0.0, 0.0]


def test_science_reward_letters_indices_and_numbers():
    texts = ["The answer is (B).", "\\boxed{C}", "B or D", "<think>hm</think>\n\\boxed{6.02 \\times 10^{23}}"]
    answers = ["B", 1, "D", "6.02e23"]
    choices = [None, ["x", "y", "z"], None, None]
    want = [1.0, 0.0, 0.0, 1.0]
    assert science_reward(texts, answer=answers, choices=choices) == want
    assert science_reward(as_messages(texts), answers, choices) == want


def test_think_format_reward():
    cases = {
        "<think>\nreasoning\n</think>\n\nThe answer is 4.": 1.0,
        "reasoning\n</think>\n\n4": 1.0,  # the opener sat in the prompt (R1 templates)
        "<|begin_of_thought|>r<|end_of_thought|><|begin_of_solution|>4<|end_of_solution|>": 1.0,
        "<think>\nreasoning never closed": 0.0,
        "<think></think>4": 0.0,  # empty reasoning
        "<think>r</think>": 0.0,  # no answer
        "<think>a</think><think>b</think>4": 0.0,
        "just an answer": 0.0,
    }
    texts = list(cases)
    assert think_format_reward(texts) == list(cases.values())
    assert think_format_reward(as_messages(texts)) == list(cases.values())


def test_make_reward_columns_weights_and_errors():
    reward = make_reward("math", column="solution", weight=0.5, name="acc")
    assert reward.__name__ == "acc"
    assert reward(["\\boxed{3}", "\\boxed{4}", "\\boxed{1}"], solution=["3", "3", ""]) == [0.5, 0.0, None]
    assert pickle.loads(pickle.dumps(reward))(["\\boxed{3}"], solution=["3"]) == [0.5]
    science = make_reward("science", column="label", extra_columns={"choices": "options"})
    # with the options read from "options", D is no option of a two-option question: B is the answer
    assert science(["The answer is B or D"] * 2, label=[1, 1], options=[["water", "iron"], None]) == [1.0, 0.0]
    with pytest.raises(TypeError, match="'solution'"):
        reward(["\\boxed{3}"], answer=["3"])
    with pytest.raises(ValueError, match="unknown reward kind"):
        make_reward("poetry")
    with pytest.raises(ValueError, match="code rewards only"):
        make_reward("math", partial_credit=True)
    assert set(reward_kinds()) >= {"math", "science", "code"}


# -- code --------------------------------------------------------------------------------------

DOUBLE = "<think>\ndouble it\n</think>\n\n```python\nn = int(input())\nprint(2 * n)\n```"
STDIO = {"inputs": ["1", "2", "3", "4"], "outputs": ["2", "4", "7", "8"]}  # the third expects a wrong answer


@needs_sandbox
def test_code_reward_verdicts_and_both_forms():
    passing = {"inputs": ["1", "5"], "outputs": ["2", "10"]}
    texts = [DOUBLE, DOUBLE, "<think>\n```python\nprint(2)\n```", "no program here",
             "```python\ndef f(:\n```", "```python\nwhile True: pass\n```"]
    tests = [passing, json.dumps(STDIO), passing, passing, passing, passing]
    want = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    from verifiers.code import Limits

    fast = make_reward("code", column="tests", limits=Limits(wall_s=1, cpu_s=1))
    assert fast(texts, tests=tests) == want
    assert fast(as_messages(texts), tests=tests) == want
    reasons = [v.reason for v in fast.verdicts(texts, tests=tests)]
    assert reasons == ["AC", "WA", "truncated_reasoning", "no_code", "CE", "TLE"]


@needs_sandbox
def test_partial_credit_is_the_fraction_of_tests_passed():
    partial = make_reward("code", column="tests", partial_credit=True)
    calls = {"fn_name": "add", "inputs": [[1, 2], [2, 2], [0, 0]], "outputs": [3, 5, 0]}
    mbpp = {"test_list": ["assert add(1, 2) == 3", "assert add(2, 2) == 5"]}
    add = "```python\ndef add(a, b):\n    return a + b\n```"
    assert partial([DOUBLE, add, add], tests=[STDIO, calls, mbpp]) == [0.75, pytest.approx(2 / 3), 0.5]
    assert code_reward([DOUBLE, add, add], tests=[STDIO, calls, mbpp]) == [0.0, 0.0, 0.0]


# -- threads and deadlines ---------------------------------------------------------------------

def _from_threads(fn, n: int = 8, join_s: float = 300.0) -> tuple[list, list, int]:
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def run(k):
        barrier.wait()
        try:
            results[k] = fn()
        except Exception as exc:  # noqa: BLE001 - counted, the test fails on any
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join_s)
    return results, errors, sum(t.is_alive() for t in threads)


def test_eight_threads_at_once_score_as_one_thread():
    texts, golds, want = worker_batch()
    assert math_reward(texts, answer=golds) == want
    results, errors, alive = _from_threads(lambda: math_reward(as_messages(texts), answer=golds))
    assert (errors, alive) == ([], 0)
    assert results == [want] * 8
    sci = (["The answer is (B).", "\\boxed{2\\sqrt{2}}"], ["B", "\\sqrt{8}"])
    results, errors, alive = _from_threads(lambda: science_reward(*sci) + compute_score(
        solution_strs=texts[:8], ground_truths=golds[:8]))
    assert (errors, alive) == ([], 0)
    assert all(r[:2] == [1.0, 1.0] and [d["score"] for d in r[2:]] == want[:8] for r in results)


def test_the_pool_survives_the_thread_that_first_used_it():
    """A fresh process whose first reward call comes from a thread that then ends (a trainer's
    short-lived worker): the verifier pool must not die with that thread."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import threading
from verifiers.rewards import math_reward
out = []
def call():
    out.append(math_reward(["\\\\boxed{x^2+2x+1}", "\\\\boxed{3}"], answer=["(x+1)^2", "4"]))
for _ in range(3):
    t = threading.Thread(target=call)
    t.start()
    t.join(120)
call()
print(out)
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str([[1.0, 0.0]] * 4)


def test_a_pathological_batch_returns_within_its_deadlines():
    power_tower = "\\boxed{9^{9^{9^{9}}}}"
    texts = [power_tower, "\\boxed{" + "1+" * 50_000 + "1}", "x" * 100_000, "\\boxed{" + "9" * 100_000 + "}",
             "\\boxed{" + "(" * 2_000 + "1" + ")" * 2_000 + "}", "\\boxed{4}", "\\boxed{x^2+2x+1}"]
    golds = ["3", "4", "5", "6", "2", "4", "(x+1)^2"]
    reward = make_reward("math", timeout_s=2.0)
    t0 = time.monotonic()
    scores = reward(texts, answer=golds)
    elapsed = time.monotonic() - t0
    assert scores[-2:] == [1.0, 1.0]  # the good items of the batch are still judged
    assert all(s != 1.0 for s in scores[:-2])  # the pathological ones: wrong or unjudged, never a reward
    # every item is bounded by its deadline; the bound is generous for a loaded 2-core machine
    assert elapsed < 2.0 * len(texts) + 60, elapsed
    results, errors, alive = _from_threads(lambda: reward(texts, answer=golds), n=3, join_s=600)
    assert (errors, alive) == ([], 0) and all(r is not None and r[-2:] == [1.0, 1.0] for r in results)


# -- verl --------------------------------------------------------------------------------------

def test_verl_compute_score_per_item_and_batched():
    items = [("lighteval/MATH", "<think>x</think> \\boxed{\\frac{1}{2}}", "0.5", None),
             ("gpqa", "The answer is (C).", "C", {"choices": ["a", "b", "c", "d"]}),
             ("openai/gsm8k", "\\boxed{5}", "", None),
             ("mine", "\\boxed{A}", "B", {"domain": "science"})]
    one = [compute_score(s, text, gold, info) for s, text, gold, info in items]
    assert [d["score"] for d in one] == [1.0, 1.0, 0.0, 0.0]
    assert [d["judged"] for d in one] == [1.0, 1.0, 0.0, 1.0]  # verl cannot skip: unjudged is marked
    assert [d["reason"] for d in one][2] == "unparseable_gold"
    batched = compute_score(data_sources=[i[0] for i in items], solution_strs=[i[1] for i in items],
                            ground_truths=[i[2] for i in items], extra_infos=[i[3] for i in items])
    assert batched == one


@needs_sandbox
def test_verl_routes_tests_to_the_judge():
    assert compute_score("apps", DOUBLE, json.dumps({"inputs": ["3"], "outputs": ["6"]}))["score"] == 1.0


# -- real labelled responses -------------------------------------------------------------------

def test_real_responses_are_rewarded_as_labelled(shared_data):
    rows = read_jsonl(shared_data / "traces" / "math_cot_100x8.jsonl")
    texts = [r for row in rows for r in row["code"]]
    golds = [row["gt"] for row in rows for _ in row["code"]]
    labels = [bool(s) for row in rows for s in row["score"]]
    scores = math_reward(texts, answer=golds)
    assert scores == math_reward(as_messages(texts), answer=golds)
    agree = sum((s == 1.0) == label for s, label in zip(scores, labels, strict=True))
    assert len(texts) == 800 and agree / len(texts) >= 0.99, agree


# -- a real GRPO run ---------------------------------------------------------------------------

@pytest.mark.integration
def test_trl_grpo_trainer_runs_two_steps_with_these_rewards(tmp_path):
    pytest.importorskip("torch", reason="the train extra (torch) is not installed")
    pytest.importorskip("trl", reason="trl (dev extra) is not installed")
    from datasets import Dataset
    from helpers.tiny_models import build_qwen2
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    model_dir = build_qwen2(tmp_path / "model")
    rows = [{"prompt": [{"role": "user", "content": f"What is {a} + {b}? Put it in \\boxed{{}}."}],
             "answer": str(a + b)} for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]]
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=8, learning_rate=1e-4, use_cpu=True,
                      report_to="none", save_strategy="no", logging_steps=1, seed=0, bf16=False)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir),
                          processing_class=AutoTokenizer.from_pretrained(model_dir),
                          reward_funcs=[math_reward, think_format_reward], args=args,
                          train_dataset=Dataset.from_list(rows))
    result = trainer.train()
    assert result.global_step == 2
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {"rewards/math_reward/mean", "rewards/think_format_reward/mean"} <= logged
