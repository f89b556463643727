"""A domain is one registry entry: every command derives its domain choices from ``DOMAINS``, and a
domain registered by the user's own code (here: by this test alone) curates and trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from curation import DOMAINS, get_domain
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[1]

# The user's own code: a chemistry domain whose numeric answers the math verifier checks, with
# its own prompt and training settings. Written to a file so the trainer's process loads it too.
CHEMISTRY = '''
from curation import Domain, math_reference, register_domain, verify_math_answers

register_domain(Domain(
    "chemistry", reference=math_reference, verify=verify_math_answers,
    prompt="{problem}\\nGive the numeric result in \\\\boxed{} (SI units).", card_tags=("chemistry",),
    training_preset={"epochs": 1, "scheduler": "cosine", "packing": "neat", "cutoff": 2048}), replace=True)
'''


def _think(answer: str) -> str:
    return f"<think>\nCount the moles carefully.\n</think>\n\nThe result is \\boxed{{{answer}}}."


ROWS = [
    {"problem": "How many moles are in 36 g of water (18 g/mol)?", "answer": "2", "responses": [_think("2"),
                                                                                             _think("3")]},
    {"problem": "How many grams is 0.5 mol of NaCl (58.44 g/mol)?", "answer": "29.22",
     "responses": [_think("29.22")]},
    {"problem": "What is the pH of a 0.001 M HCl solution?", "answer": "3", "responses": [_think("3")]},
    {"problem": "How many atoms are in one molecule of CO2?", "answer": "3", "responses": [_think("2")]},
]


@pytest.fixture
def chemistry():
    namespace: dict = {}
    exec(CHEMISTRY, namespace)  # noqa: S102 (the test's own source, as a user module would run it)
    yield get_domain("chemistry")
    DOMAINS.pop("chemistry", None)


def _ctx(cmd):
    return click.Context(cmd)


def test_command_choices_equal_the_registry(chemistry):
    from curation.cli import main as curate
    from evaluation import BENCHMARKS
    from training.cli import main as train

    assert set(DOMAINS) <= set(curate.list_commands(_ctx(curate)))
    assert {"inspect", "presets", "push"} | set(DOMAINS) == set(curate.list_commands(_ctx(curate)))
    branch = next(p for p in train.params if p.name == "branch")
    assert set(branch.type.choices) == set(DOMAINS)
    assert {p.domain for p in BENCHMARKS.values()} <= set(DOMAINS)


def test_shipped_recipes_and_presets_belong_to_registered_domains():
    from training import PRESETS_DIR

    for name, domain in DOMAINS.items():
        assert domain.recipe is not None and domain.recipe.is_file(), name
        assert isinstance(domain.training_preset, str) and (PRESETS_DIR / f"{domain.training_preset}.yaml").is_file()
    assert {p.stem for p in (ROOT / "curation" / "recipes").glob("*.yaml")} == set(DOMAINS)


def test_a_domain_registered_by_the_user_scores_as_a_reward(chemistry):
    """One verifier table: the domain registered above (by this test alone) is a reward kind, graded
    by the verifier that curates it, per item and through verl's hook."""
    from verifiers.rewards import compute_score, make_reward, reward_kinds

    assert "chemistry" in reward_kinds()
    assert make_reward("chemistry")([_think("2"), _think("3")], answer=["2", "2"]) == [1.0, 0.0]
    scored = compute_score(data_sources=["chemistry"] * 2, solution_strs=[_think("29.22"), _think("29")],
                           ground_truths=["29.22", "29.22"], extra_infos=[None, None])
    assert [s["score"] for s in scored] == [1.0, 0.0]


def test_a_domain_with_a_verifier_of_its_own_scores_as_a_reward():
    from curation import Domain, VerifyConfig, math_reference, register_domain
    from verifiers import VERIFIERS, Verdict, Verifier
    from verifiers.rewards import make_reward

    def same_word(responses, golds, extras, options):
        return [Verdict(r.strip().lower() == g.lower(), "checked") for r, g in zip(responses, golds, strict=True)]

    register_domain(Domain("spelling", reference=math_reference, verify=Verifier("same_word", same_word),
                           prompt="Spell {problem}."))
    try:
        assert make_reward("spelling")([" Cat", "dog"], answer=["cat", "cat"]) == [1.0, 0.0]
        assert get_domain("spelling").verdicts(["cat"], ["cat"], VerifyConfig(), None)[0].passed is True
    finally:
        DOMAINS.pop("spelling", None)
        VERIFIERS.pop("spelling", None)


def test_an_unknown_domain_is_one_line_naming_the_known_ones():
    from curation import ConfigError, build_config

    with pytest.raises(ConfigError) as err:
        build_config({"domain": "alchemy", "source": {"path": "demo"}})
    assert err.value.problems == ["domain: must be math, code or science, got 'alchemy'"]


@pytest.mark.integration
def test_a_domain_registered_by_the_user_curates_and_trains(chemistry, tmp_path):
    from curation.cli import main as curate

    src = write_jsonl(tmp_path / "chem.jsonl", ROWS)
    out = tmp_path / "chemistry"
    result = CliRunner().invoke(curate, ["chemistry", "--source", str(src), "--out", str(out), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["domain"] == "chemistry" and report["conservation"]
    verify = next(s for s in report["funnel"] if s["stage"] == "verify")
    assert (verify["rows_in"], verify["kept"], verify["rejected"]) == (5, 3, {"wrong_answer": 2})
    card = (out / "README.md").read_text()
    assert "- chemistry" in card and "Branch-Merge chemistry SFT set" in card
    from curation.teachers import build_prompt

    assert build_prompt("chemistry", "Why?", "1").endswith("(SI units).")

    pytest.importorskip("torch", reason="the train extra (torch) is not installed")
    pytest.importorskip("deepspeed", reason="the train extra (deepspeed) is not installed")
    from helpers.tiny_models import build_qwen2

    model = build_qwen2(tmp_path / "tiny")
    (tmp_path / "chemistry_domain.py").write_text(CHEMISTRY)
    launcher = "import sys, chemistry_domain; from training.cli import main; sys.argv[0] = 'train'; main()"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-c", launcher, "--branch", "chemistry", "--model", str(model), "--data",
                        str(out), "--output", str(run), "--max-steps", "2", "--global-batch", "2", "--lr", "1e-3",
                        "--zero-stage", "2"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    settings = json.loads((run / "train_config.json").read_text())
    assert settings["branch"] == "chemistry" and settings["scheduler"] == "cosine" and settings["epochs"] == 1
    assert (run / "model.safetensors").is_file()
