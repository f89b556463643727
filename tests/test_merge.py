"""Merge plans over mergekit with tiny random models: Arcee Fusion semantics, the reference
chain's order, linear soups, input checks."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch", reason="the merge extra (torch) is not installed")
pytest.importorskip("mergekit", reason="the merge extra (mergekit) is not installed")

from helpers.tiny_models import build_qwen2, build_tokenizer  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from data_cards.model_card import hub_model_id  # noqa: E402
from merge import METHODS, PLANS, PlanError, load_plan, parse_plan, run_plan  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def experts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("experts")
    tok = build_tokenizer(root / "tok")
    out = {name: build_qwen2(root / name, seed=i, tokenizer=tok) for i, name in enumerate(["math", "code", "science"])}
    out["wide"] = build_qwen2(root / "wide", hidden=64, tokenizer=tok)
    return out


def weights(folder: Path) -> dict:
    return {k: v.float() for k, v in load_file(folder / "model.safetensors").items()}


def stored(folder: Path) -> dict:
    """The tensors as stored (every shard, no cast)."""
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def fusion_mask(base: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Arcee Fusion's selection, written from its definition: importance = |delta| x KL(softmax rows),
    selected where importance >= median + 1.5 IQR (nearest-rank quantiles)."""
    p, q = torch.softmax(other, -1) + 1e-8, torch.softmax(base, -1) + 1e-8
    importance = (other - base).abs() * (p * (p / q).log()).sum(-1, keepdim=True)
    flat = importance.reshape(-1).sort().values
    q1, med, q3 = (flat[int(x * (flat.numel() - 1))] for x in (0.25, 0.5, 0.75))
    return importance >= med + 1.5 * (q3 - q1)


def near(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Equal up to float rounding (mergekit computes base + (other - base) * mask)."""
    return (a - b).abs() <= 1e-6 * (1 + b.abs())


def one_step(method: str, base: str | None, models: list[str], **params):
    return parse_plan({"name": "t", "dtype": "float32", "steps": [
        {"name": "only", "method": method, "base": base, "models": models, "parameters": params}]})


@pytest.mark.integration
def test_arcee_fusion_keeps_the_base_except_at_the_selected_entries(experts, tmp_path):
    run_plan(one_step("arcee_fusion", "${science}", ["${math}"]), experts, tmp_path / "fused", log=lambda m: None)
    out, base, other = weights(tmp_path / "fused"), weights(experts["science"]), weights(experts["math"])
    taken = 0
    for name, t in out.items():
        mask = fusion_mask(base[name], other[name]) if t.ndim == 2 else torch.zeros_like(t, dtype=torch.bool)
        if t.ndim == 2:  # matrices: the selected entries come from math, the rest from science
            assert bool(near(t[mask], other[name][mask]).all()), name
            assert torch.equal(t[~mask], base[name][~mask]), name
            taken += int(mask.sum())
        else:  # vectors (norms) fuse the same way; whatever is not the base comes from the other model
            assert bool((near(t, base[name]) | near(t, other[name])).all()), name
    total = sum(t.numel() for t in out.values())
    assert 0 < taken < 0.5 * total


@pytest.mark.integration
def test_reference_plan_runs_in_the_papers_order(experts, tmp_path):
    plan = load_plan("tinyr1")
    dry = run_plan(plan, experts, tmp_path / "merged", dry_run=True, log=lambda m: None)
    step1, step2 = dry["steps"]
    assert step1["base_model"] == str(experts["science"]) and [m["model"] for m in step1["models"]] == [
        str(experts["math"])]
    assert step2["base_model"] == str(experts["code"])
    assert step2["models"][0]["model"] == str(tmp_path / "merged.steps" / "math_onto_science")
    r = subprocess.run([sys.executable, "-m", "merge.cli", "--plan", "tinyr1", "--math", str(experts["math"]),
                        "--code", str(experts["code"]), "--science", str(experts["science"]),
                        "--out", str(tmp_path / "merged"), "--dtype", "float32"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out = weights(tmp_path / "merged")
    code, math, science = weights(experts["code"]), weights(experts["math"]), weights(experts["science"])
    for name, t in out.items():  # every entry is code's, or (via step 1) science's or math's
        assert bool((near(t, code[name]) | near(t, science[name]) | near(t, math[name])).all()), name
    assert any(not torch.equal(t, code[n]) for n, t in out.items())
    card = (tmp_path / "merged/README.md").read_text()
    assert "arcee_fusion" in card and str(experts["math"]) in card
    assert yaml.safe_load((tmp_path / "merged/merge_plan.yaml").read_text())["plan"] == "tinyr1"
    assert (tmp_path / "merged/tokenizer.json").exists() and not (tmp_path / "merged.steps").exists()


@pytest.mark.integration
def test_linear_merge_of_identical_models_returns_the_same_weights(experts, tmp_path):
    import shutil

    plan = one_step("linear", None, ["${a}", "${b}"], weight=1.0)
    with pytest.raises(PlanError, match="the same model twice"):
        run_plan(plan, {"a": experts["math"], "b": experts["math"]}, tmp_path / "soup", log=lambda m: None)
    twin = shutil.copytree(experts["math"], tmp_path / "twin")
    run_plan(plan, {"a": experts["math"], "b": twin}, tmp_path / "soup", log=lambda m: None)
    out, src = weights(tmp_path / "soup"), weights(experts["math"])
    assert out.keys() == src.keys()
    for k in src:
        torch.testing.assert_close(out[k], src[k], rtol=0, atol=1e-6)


def test_mismatched_models_are_a_one_line_error(experts, tmp_path):
    r = subprocess.run([sys.executable, "-m", "merge.cli", "--math", str(experts["wide"]), "--code",
                        str(experts["code"]), "--science", str(experts["science"]), "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "merge: error: science and math differ in shape: hidden_size 32 vs 64"
    other = tmp_path / "llama"
    other.mkdir()
    cfg = (experts["code"] / "config.json").read_text().replace("Qwen2ForCausalLM", "LlamaForCausalLM")
    (other / "config.json").write_text(cfg)
    (other / "model.safetensors").write_bytes((experts["code"] / "model.safetensors").read_bytes())
    with pytest.raises(PlanError, match="differ in architecture"):
        run_plan(load_plan("tinyr1"), {**experts, "code": other}, tmp_path / "y", log=lambda m: None)
    with pytest.raises(PlanError, match="no config.json"):
        run_plan(load_plan("tinyr1"), {**experts, "code": tmp_path}, tmp_path / "y", log=lambda m: None)
    with pytest.raises(PlanError, match="needs --science"):
        run_plan(load_plan("tinyr1"), {"math": experts["math"], "code": experts["code"]}, tmp_path / "z")


def test_shipped_plans_load_and_bad_plans_are_reported():
    assert set(PLANS) == {"tinyr1", "soup", "ties", "dare_ties"}
    for name in PLANS:
        plan = load_plan(name)
        assert all(s.method in METHODS for s in plan.steps)
    assert load_plan("tinyr1").inputs() == ["science", "math", "code"]
    with pytest.raises(PlanError) as err:
        parse_plan({"steps": [{"method": "arcee_fusion", "models": ["${a}", "${b}"]},
                              {"method": "slerpish", "models": ["${steps.nope}"]}]})
    text = str(err.value)
    assert "arcee_fusion needs a base model" in text and "takes 1 model(s)" in text
    assert "method must be one of" in text and "not the output of an earlier step" in text


def test_cli_choices_match_the_registry():
    from merge.cli import main

    plan_opt = next(p for p in main.params if p.name == "plan_name")
    assert all(name in plan_opt.help for name in PLANS)


@pytest.mark.integration
def test_each_dry_run_document_runs_under_mergekit_yaml_and_gives_merges_tensors(experts, tmp_path):
    """The documents `merge --dry-run` prints (one per step, ---), run by hand with the command each one
    names, build the same tensors as `merge`, stored in the plan's dtype (bfloat16)."""
    common = [sys.executable, "-m", "merge.cli", "--plan", "tinyr1", "--math", str(experts["math"]), "--code",
              str(experts["code"]), "--science", str(experts["science"])]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    by_hand = tmp_path / "by_hand"
    printed = subprocess.run([*common, "--out", str(by_hand), "--dry-run"], capture_output=True, text=True, cwd=ROOT)
    r = subprocess.run([*common, "--out", str(by_hand), "--dry-run", "--write-configs", str(tmp_path / "cfg")],
                       capture_output=True, text=True, cwd=ROOT)
    assert printed.returncode == 0 and r.returncode == 0, printed.stderr + r.stderr
    docs = list(yaml.safe_load_all(printed.stdout))
    files = sorted((tmp_path / "cfg").glob("*.yaml"))
    assert [f.name for f in files] == ["01-math_onto_science.yaml", "02-fused_onto_code.yaml"]
    assert docs == list(yaml.safe_load_all(r.stdout)) == [yaml.safe_load(f.read_text()) for f in files]
    assert all(d["out_dtype"] == "bfloat16" for d in docs)
    commands = [line.removeprefix("#   ") for line in r.stdout.splitlines() if line.startswith("#   mergekit-yaml ")]
    assert len(commands) == 2 and commands[-1].split()[2] == str(by_hand)
    for command in commands:  # as printed, in order
        run = subprocess.run(shlex.split(command), capture_output=True, text=True, env=env, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
    merged = tmp_path / "merged"
    r = subprocess.run([*common, "--out", str(merged)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = stored(by_hand), stored(merged)
    assert a.keys() == b.keys() and {t.dtype for t in b.values()} == {torch.bfloat16}
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert json.loads((merged / "config.json").read_text())["dtype"] == "bfloat16"


@pytest.mark.integration
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_merged_safetensors_hold_the_plans_dtype(experts, tmp_path, dtype):
    plan = parse_plan({"name": "t", "dtype": dtype, "steps": [
        {"name": "fuse", "method": "arcee_fusion", "base": "${science}", "models": ["${math}"]}]})
    run_plan(plan, experts, tmp_path / "out", log=lambda m: None)
    assert {t.dtype for t in stored(experts["math"]).values()} == {torch.float32}  # the inputs are float32
    assert {t.dtype for t in stored(tmp_path / "out").values()} == {getattr(torch, dtype)}
    assert json.loads((tmp_path / "out" / "config.json").read_text())["dtype"] == dtype


def test_write_configs_needs_dry_run(experts, tmp_path):
    r = subprocess.run([sys.executable, "-m", "merge.cli", "--math", str(experts["math"]), "--code",
                        str(experts["code"]), "--science", str(experts["science"]), "--out", str(tmp_path / "x"),
                        "--write-configs", str(tmp_path / "c")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip() == "merge: error: --write-configs: only with --dry-run"


def test_card_base_model_is_a_hub_id_never_a_local_path(tmp_path):
    from data_cards import render_model_card

    cache = tmp_path / "hub" / "models--deepseek-ai--DeepSeek-R1-Distill-Qwen-32B" / "snapshots" / "0123abc"
    cache.mkdir(parents=True)
    local = tmp_path / "student"
    local.mkdir()
    assert hub_model_id(str(cache)) == "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
    assert hub_model_id("Qwen/Qwen2.5-32B") == "Qwen/Qwen2.5-32B"
    assert hub_model_id(str(local)) is None and hub_model_id("./student") is None

    def header(folder: Path) -> dict:
        return yaml.safe_load((folder / "README.md").read_text().split("---")[1])

    for i, (base, want) in enumerate([(str(cache), "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"),
                                      ("Qwen/Qwen2.5-32B", "Qwen/Qwen2.5-32B"), (str(local), None)]):
        out = tmp_path / f"card{i}"
        out.mkdir()
        render_model_card(out, kind="train", title="t", base_model=base)
        assert header(out).get("base_model") == want
        assert base in (out / "README.md").read_text()  # the local reference stays in the provenance
    out = tmp_path / "merged"
    out.mkdir()
    render_model_card(out, kind="merge", title="m", base_model=[str(cache), str(local), "Qwen/Qwen2.5-32B"])
    assert header(out)["base_model"] == ["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "Qwen/Qwen2.5-32B"]


@pytest.mark.integration
def test_merged_card_names_the_experts_student_by_its_hub_id(experts, tmp_path):
    import shutil

    from data_cards import render_model_card

    cache = tmp_path / "hub" / "models--Qwen--Qwen2.5-0.5B" / "snapshots" / "rev"
    cache.mkdir(parents=True)
    copies = {}
    for name in ("math", "science"):  # experts trained from a student loaded out of the Hub cache
        copies[name] = shutil.copytree(experts[name], tmp_path / name)
        render_model_card(copies[name], kind="train", title=name, base_model=str(cache))
    run_plan(one_step("arcee_fusion", "${science}", ["${math}"]), copies, tmp_path / "fused", log=lambda m: None)
    header = yaml.safe_load((tmp_path / "fused" / "README.md").read_text().split("---")[1])
    assert header["base_model"] == ["Qwen/Qwen2.5-0.5B"]


def test_merge_never_writes_over_what_it_did_not_make(experts, tmp_path):
    curated = tmp_path / "out/math"
    (curated / "data").mkdir(parents=True)
    (curated / "data/train-00000-of-00001.parquet").write_bytes(b"rows")
    (curated / "report.json").write_text("{}")
    before = {p: p.read_bytes() for p in [*curated.rglob("*"), *experts["math"].rglob("*")] if p.is_file()}

    def merge(out: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "merge.cli", "--math", str(experts["math"]), "--code",
                               str(experts["code"]), "--science", str(experts["science"]), "--out", str(out), *extra],
                              capture_output=True, text=True, cwd=ROOT)

    for out, words in ((curated, "is not empty and was not made by merge"), (experts["math"], "is the input math"),
                       (experts["math"] / "sub", "is inside the input math")):
        for extra in ((), ("--overwrite",)):
            r = merge(out, *extra)
            assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert {p: p.read_bytes() for p in before} == before and not (experts["math"] / "sub").exists()


@pytest.mark.integration
def test_merge_replaces_its_own_output_only_with_overwrite(experts, tmp_path):
    plan = one_step("linear", None, ["${math}", "${code}"], weight=1.0)
    inputs = {"math": experts["math"], "code": experts["code"]}
    run_plan(plan, inputs, tmp_path / "soup", log=lambda m: None)
    with pytest.raises(PlanError, match="holds an earlier merge; --overwrite replaces it"):
        run_plan(plan, inputs, tmp_path / "soup", log=lambda m: None)
    (tmp_path / "soup" / "stale.txt").write_text("from the first merge's folder")
    run_plan(plan, inputs, tmp_path / "soup", overwrite=True, log=lambda m: None)
    assert not (tmp_path / "soup" / "stale.txt").exists() and (tmp_path / "soup/model.safetensors").exists()
    (tmp_path / "empty").mkdir()
    run_plan(plan, inputs, tmp_path / "empty", log=lambda m: None)  # an empty folder is fine
