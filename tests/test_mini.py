"""The miniature (issue 30): its synthetic domains and noisy teacher, the merge search's rule and
candidates, evaluating a set of one's own, results.json; the whole recipe, smaller, in the slow tier."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import read_jsonl, sandbox_unavailable, write_jsonl

from curation import DOMAINS, VerifyConfig, verify_responses
from merge.mini.build import MiniConfig, make_splits
from merge.mini.tasks import TASKS
from merge.search import Scored, candidate_plans, choose, normalised_gains, search_table

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
SMALL = MiniConfig(sources=40, dev=10, test=20, pretrain=15)


def test_the_splits_are_deterministic_and_test_and_dev_problems_appear_nowhere_else():
    a, b = make_splits(SMALL), make_splits(SMALL)
    assert a == b
    assert make_splits(MiniConfig(**{**SMALL.__dict__, "seed": 1})) != a
    for domain in TASKS:
        held = {r["problem"] for split in ("test", "dev") for r in a[split][domain]}
        assert len(held) == len(a["test"][domain]) + len(a["dev"][domain])  # test and dev share nothing
        trained = {r["problem"] for split in ("sources", "pretrain") for r in a[split][domain]}
        assert not held & trained
        assert [len(a[s][domain]) for s in ("test", "dev", "sources", "pretrain")] == [20, 10, 40, 15]


@pytest.mark.parametrize("domain", list(TASKS))
def test_the_teachers_right_traces_pass_the_verifier_and_its_slips_fail(domain):
    if DOMAINS[domain].executes_code and sandbox_unavailable():
        pytest.skip(sandbox_unavailable())
    rng = random.Random(3)
    rows = [TASKS[domain].problem(rng, 8 if domain == "code" else 40 if domain == "science" else 4)
            for _ in range(40)]
    refs = [DOMAINS[domain].reference(r) for r in rows]
    right = [TASKS[domain].trace(r["spec"], rng, False) for r in rows]
    wrong = [TASKS[domain].trace(r["spec"], rng, True) for r in rows]
    cfg = VerifyConfig(sandbox=True)
    assert [v.passed for v in verify_responses(domain, right, refs, cfg)] == [True] * 40
    assert [v.passed for v in verify_responses(domain, wrong, refs, cfg)] == [False] * 40


def test_the_teachers_slips_are_habits_not_noise():
    """A wrong math trace of a sum with a carry forgets every carry, and a wrong science trace
    states the same misconception of its fact, whatever the draw: what a student distilled on
    unverified traces learns, and what verification removes."""
    problems = random.Random(5)
    for domain, level in (("math", 3), ("science", 40)):
        rows = [TASKS[domain].problem(problems, level) for _ in range(30)]
        for row in rows:
            right = TASKS[domain].trace(row["spec"], random.Random(0), False)
            if domain == "math" and " carry 1" not in right:
                continue  # no carry to forget: the slip there is a column added wrong, drawn
            draws = {TASKS[domain].trace(row["spec"], random.Random(seed), True) for seed in range(5)}
            assert len(draws) == 1, (domain, row["problem"], draws)
            if domain == "math":
                assert " carry 1" not in draws.pop()


def test_the_build_writes_the_same_files_for_the_same_settings(tmp_path):
    pytest.importorskip("transformers", reason="the train extra is not installed")
    from merge.mini.build import build

    small = MiniConfig(**{**SMALL.__dict__, "hidden": 64, "layers": 1, "vocab": 300})
    for out in (tmp_path / "a", tmp_path / "b"):
        build(small, out)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {str(f) for f in files} >= {"sources/math.jsonl", "dev/code.jsonl", "test/science.jsonl",
                                       "pretrain/train.jsonl", "replay/train.jsonl", "unverified/code/train.jsonl",
                                       "init/tokenizer.json", "init/model.safetensors"}
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    source = read_jsonl(tmp_path / "a/sources/science.jsonl")[0]
    assert len(source["responses"]) == small.responses and "\n\nA. " in source["problem"] \
        and source["problem"].endswith("within \\boxed{}.")  # the user message evaluate sends
    for domain in TASKS:  # the base's distillation set and the ablation's: the teacher's first trace, unverified
        unverified = read_jsonl(tmp_path / f"a/unverified/{domain}/train.jsonl")
        sources = read_jsonl(tmp_path / f"a/sources/{domain}.jsonl")
        assert [r["messages"][1]["content"] for r in unverified] == [r["responses"][0] for r in sources]
        assert [r["messages"][0]["content"] for r in unverified] == [r["problem"] for r in sources]
    replay = read_jsonl(tmp_path / "a/replay/train.jsonl")  # the experts' rehearsal: pretraining rows, each domain
    pretrain = {json.dumps(r) for r in read_jsonl(tmp_path / "a/pretrain/train.jsonl")}
    assert all(json.dumps(r) in pretrain for r in replay)
    assert sorted(r["domain"] for r in replay) == sorted(d for d in TASKS for _ in range(small.pretrain))



def test_a_base_distilled_unverified_sees_the_teachers_slips_at_the_experts_level(tmp_path):
    pytest.importorskip("transformers", reason="the train extra is not installed")
    from merge.mini.build import build, user_message

    passed = {}
    for p_right in (1.0, 0.0):
        cfg = MiniConfig(**{**SMALL.__dict__, "hidden": 64, "layers": 1, "vocab": 300, "pretrain_hard": 6,
                            "pretrain_hard_p_right": p_right})
        build(cfg, tmp_path / str(p_right))
        hard = {user_message("math", r): r for r in make_splits(cfg)["pretrain_hard"]["math"]}
        rows = [r for r in read_jsonl(tmp_path / str(p_right) / "pretrain/train.jsonl")
                if r["messages"][0]["content"] in hard]
        refs = [DOMAINS["math"].reference(hard[r["messages"][0]["content"]]) for r in rows]
        verdicts = verify_responses("math", [r["messages"][1]["content"] for r in rows], refs, VerifyConfig())
        passed[p_right] = [v.passed for v in verdicts]
    assert passed == {1.0: [True] * 6, 0.0: [False] * 6}


def scored(name, dev):
    return Scored(name, "candidate", dev, normalised_gains(dev, BASE, EXPERTS))


BASE = {"math": 0.2, "code": 0.1, "science": 0.5}
EXPERTS = {"math": {"math": 0.6, "code": 0.0, "science": 0.3}, "code": {"math": 0.0, "code": 0.9, "science": 0.2},
           "science": {"math": 0.1, "code": 0.0, "science": 0.5}}  # science did not gain: left out of the rule


def test_the_rule_takes_the_largest_minimum_normalised_gain_then_the_mean_then_the_order():
    a = scored("a", {"math": 0.6, "code": 0.2, "science": 0.0})  # gains 1.0, 0.125
    b = scored("b", {"math": 0.4, "code": 0.5, "science": 0.0})  # gains 0.5, 0.5
    c = scored("c", {"math": 0.5, "code": 0.4, "science": 0.9})  # gains 0.75, 0.375
    assert b.gains == {"math": 0.5, "code": 0.5, "science": None}
    assert choose([a, b, c]).name == "b"
    d = scored("d", {"math": 0.6, "code": 0.5, "science": 0.0})  # same minimum as b, larger mean
    assert choose([a, b, c, d]).name == "d"
    assert choose([scored("e", b.dev), b]).name == "e"  # a tie all through: the earlier candidate
    table = search_table([x.row() for x in (a, b, c, d)], "d", ["math", "code", "science"])
    assert "| **d** (chosen) | 60.0 | 50.0 | 0.0 | 1.00 | 0.50 | - | 0.50 | 0.75 |" in table
    assert "Left out of the rule (the expert did not beat the base on its dev set): science." in table


def test_candidates_cover_every_fusion_order_ties_dare_and_linear_weights():
    from merge.plan import mergekit_config

    plans = candidate_plans("fusion_orders,ties,dare_ties,linear_weights", ["math", "code", "science"])
    names = [p.name for p in plans]
    assert len(names) == len(set(names)) == 6 + 2 + 4
    assert "fusion:math>science>code" in names  # the paper's plan: math onto science, then onto code
    paper = plans[names.index("fusion:math>science>code")]
    assert [(s.method, s.base, s.models) for s in paper.steps] == [
        ("arcee_fusion", "${science}", ["${math}"]), ("arcee_fusion", "${code}", ["${steps.onto_science}"])]
    leaning = plans[names.index("linear:codex2")].steps[0]
    cfg = mergekit_config(leaning, None, [Path("/m"), Path("/c"), Path("/s")], "float32")
    assert [m["parameters"]["weight"] for m in cfg["models"]] == [1.0, 2.0, 1.0]
    assert candidate_plans("tinyr1,soup", ["math", "code", "science"])[0].name == "tinyr1"
    arithmetic = candidate_plans("task_arithmetic", ["math", "code", "science"])
    assert [p.name for p in arithmetic] == ["task_arithmetic", "task_arithmetic:x0.5"]
    halved = mergekit_config(arithmetic[1].steps[0], Path("/b"), [Path("/m"), Path("/c"), Path("/s")], "float32")
    assert [m["parameters"]["weight"] for m in halved["models"][1:]] == [0.5, 0.5, 0.5]
    summed = arithmetic[0].steps[0]
    cfg = mergekit_config(summed, Path("/b"), [Path("/m"), Path("/c"), Path("/s")], "float32")
    assert cfg["merge_method"] == "task_arithmetic" and cfg["base_model"] == "/b"
    assert [m["model"] for m in cfg["models"]] == ["/b", "/m", "/c", "/s"]
    assert [m["parameters"]["weight"] for m in cfg["models"][1:]] == [1.0, 1.0, 1.0]


def test_a_set_of_ones_own_needs_its_domain(tmp_path):
    from evaluation.cli import local_domains

    assert local_domains(["math"], {"a": "x", "b": "y", "math500": "z"}) == ({"a": "math", "b": "math"}, [])
    assert local_domains(["a=code", "science"], {"a": "x", "b": "y"})[0] == {"a": "code", "b": "science"}
    _, problems = local_domains(["a=chemistry"], {"a": "x", "b": "y"})
    assert problems[0].startswith("--domain: unknown domain 'chemistry'")
    assert "give the domain of the set with --domain b=DOMAIN" in problems[1]
    bench = write_jsonl(tmp_path / "mine.jsonl", [{"problem": "What is 2 + 3?", "answer": "5"}])
    r = subprocess.run([sys.executable, "-m", "evaluation.cli", "--model", str(tmp_path), "--benchmark-file",
                        f"mine={bench}"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "--domain mine=DOMAIN" in r.stderr


def test_results_json_and_the_runs_card(tmp_path):
    from merge import load_recipe
    from merge.run_report import write_run_report

    recipe = load_recipe("mini")
    scores = {"student": (0.1, 0.2, 0.3), "math": (0.6, 0.0, 0.1), "code": (0.0, 0.9, 0.1),
              "science": (0.1, 0.1, 0.8), "merged": (0.5, 0.7, 0.6), "math_unverified": (0.3, 0.0, 0.1)}
    for model, (m, c, s) in scores.items():
        (tmp_path / "eval" / model).mkdir(parents=True)
        (tmp_path / "eval" / model / "results.json").write_text(json.dumps({"benchmarks": {
            "math": {"pass@1": m}, "code": {"pass@1": c}, "science": {"pass@1": s}}}))
    (tmp_path / "merged").mkdir()
    rows = [Scored("ties", "candidate", {"math": 0.5, "code": 0.5, "science": 0.5},
                   {"math": 0.5, "code": 0.5, "science": 0.5}).row()]
    (tmp_path / "merged/search.json").write_text(json.dumps({"rule": "r", "chosen": "ties", "rows": rows,
                                                             "dev": {"math": "m", "code": "c", "science": "s"}}))
    write_run_report(recipe, tmp_path, [], 12.0)
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["models"]) == {"base", "math", "code", "science", "merged", "math_unverified"}
    assert results["models"]["base"] == {"math": 0.1, "code": 0.2, "science": 0.3}
    assert results["search"] == rows and results["chosen"] == "ties"
    kept = {g["expert"]: g["kept"] for g in results["gains"]}
    assert kept == {"math": 0.8, "code": 0.7143, "science": 0.6}
    card = (tmp_path / "README.md").read_text()
    assert "| math_unverified | 0.0 | 30.0 | 10.0 |" in card and "**ties** (chosen)" in card
    assert (tmp_path / "plots/pass_at_1.png").stat().st_size > 1000


@pytest.mark.slow
def test_the_miniature_runs_end_to_end_smaller(tmp_path):
    """The shipped recipe with fewer problems and steps: every step runs, the search scores 18 rows on
    the dev sets, results.json and the card hold the table, the wall time is printed."""
    recipe = yaml.safe_load((ROOT / "merge/recipes/mini.yaml").read_text())
    recipe["prepare"][0]["run"] += ["--set", "sources=120", "--set", "dev=16", "--set", "test=24",
                                    "--set", "pretrain=60"]
    for stage in recipe["prepare"][1:]:  # the base's pretraining and its distillation
        stage["run"][stage["run"].index("--max-steps") + 1] = "20"
    for branch in recipe["branches"].values():
        branch["train"]["settings"] = {**branch["train"]["settings"], "max_steps": 10}
    path = tmp_path / "mini-small.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "merge.recipe_runner", "run", str(path), "--work", str(tmp_path / "w"),
                        "--quiet"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "wall time" in r.stderr and "17 step(s) ran, 0 skipped" in r.stderr
    results = json.loads((tmp_path / "w/results.json").read_text())
    assert set(results["models"]) == {"base", "math", "code", "science", "merged", "math_unverified"}
    assert all(set(s) == {"math", "code", "science"} for s in results["models"].values())
    assert len(results["search"]) == 1 + 3 + 14 and results["chosen"] in {r["name"] for r in results["search"]}
    assert "Merge search" in (tmp_path / "w/merged/README.md").read_text()
    assert "## Test pass@1" in (tmp_path / "w/README.md").read_text()
