"""The SFT trainer: loss masks, packing without cross-sample attention, DeepSpeed runs on CPU
(one and two processes, ZeRO-3, gloo), checkpoint + resume, presets."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")
pytest.importorskip("deepspeed", reason="the train extra (deepspeed) is not installed")

from helpers.tiny_models import build_qwen2  # noqa: E402

from training import (  # noqa: E402
    PRESETS_DIR,
    StepPlan,
    TrainConfigError,
    build_ds_config,
    build_train_config,
    collate,
    tokenize_conversation,
    tokenize_rows,
)
from training.loss import packed_logits, per_sample_losses  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONVERSATIONS = [
    [{"role": "user", "content": "What is 2 + 3?"},
     {"role": "assistant", "content": "<think>\nTwo plus three is five.\n</think>\n\nThe answer is \\boxed{5}."}],
    [{"role": "user", "content": "Which option is correct? A. water B. iron"},
     {"role": "assistant", "content": "<think>\nIron is a metal.\n</think>\n\nThe answer is (B)."}],
    [{"role": "user", "content": "def solve(): print the double of n"},
     {"role": "assistant", "content": "<think>\nRead n.\n</think>\n\n```python\nn = int(input())\nprint(n * 2)\n```"}],
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_qwen2(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


def test_loss_mask_covers_exactly_the_assistant_tokens_and_eos(tokenizer):
    msgs = CONVERSATIONS[0]
    ids, mask = tokenize_conversation(tokenizer, msgs)
    prompt = tokenizer.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert mask == [False] * n_prompt + [True] * (len(ids) - n_prompt)
    assert ids[-1] == tokenizer.eos_token_id
    target = [i for i, m in zip(ids, mask, strict=True) if m]
    assert tokenizer.decode(target[:-1]) == msgs[1]["content"]  # verbatim, reasoning kept


def test_a_template_that_opens_think_does_not_double_it(tokenizer):
    template = tokenizer.chat_template
    tokenizer.chat_template = template + "{% if add_generation_prompt %}<think>\n{% endif %}"
    try:
        ids, mask = tokenize_conversation(tokenizer, CONVERSATIONS[0])
    finally:
        tokenizer.chat_template = template
    text = tokenizer.decode(ids)
    target = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert text.count("<think>") == 1 and "Two plus three" in target


def test_too_long_and_malformed_rows_are_dropped_and_counted(tokenizer):
    rows = [{"messages": CONVERSATIONS[0]}, {"messages": CONVERSATIONS[1] * 30}, {"messages": []},
            {"messages": CONVERSATIONS[2][:1]}]
    data = tokenize_rows(rows, tokenizer, cutoff=200)
    assert len(data) == 1 and dict(data.dropped) == {"longer_than_cutoff": 1, "malformed_messages": 2}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_neat_packing_matches_unpacked_losses_and_plain_does_not(tiny, tokenizer, attn):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32, attn_implementation=attn).eval()
    data = tokenize_rows([{"messages": m} for m in CONVERSATIONS], tokenizer, cutoff=4096)
    pad = tokenizer.pad_token_id

    def losses(bins, mode):
        b = collate(data, bins, mode, pad)
        with torch.no_grad():
            logits = packed_logits(model, torch.from_numpy(b["input_ids"]), torch.from_numpy(b["position_ids"]))
        return per_sample_losses(logits, torch.from_numpy(b["labels"]), b["seq_lens"])

    alone = [losses([[i]], "none")[0] for i in range(3)]
    neat = losses([[0, 1, 2]], "neat")
    plain = losses([[0, 1, 2]], "plain")
    np.testing.assert_allclose(neat, alone, rtol=1e-4, atol=1e-5)
    assert plain[0] == pytest.approx(alone[0], rel=1e-4)  # the first sample sees nothing before it
    assert abs(plain[1] - alone[1]) > 1e-3 and abs(plain[2] - alone[2]) > 1e-3
    # padded micro-batch of two packed rows: still the same per-sample losses
    np.testing.assert_allclose(losses([[0, 1], [2]], "neat"), [alone[0], alone[1], alone[2]], rtol=1e-4, atol=1e-5)


def test_step_plan_is_seeded_covers_every_sample_and_splits_over_ranks():
    lengths = np.array([100, 900, 50, 400, 700, 300, 20, 600] * 5)
    plan = StepPlan(lengths, 1024, "neat", seed=3, global_batch=4, micro_batch=1, world_size=2, epochs=2)
    again = StepPlan(lengths, 1024, "neat", seed=3, global_batch=4, micro_batch=1, world_size=2, epochs=2)
    seen = []
    for step in range(plan.steps_per_epoch[0]):
        r0, r1 = plan.micro_batches(step, 0), plan.micro_batches(step, 1)
        assert r0 == again.micro_batches(step, 0) and len(r0) == 2  # accumulation 2 = 4 / (1 x 2)
        assert all(sum(lengths[i] for i in b) <= 1024 for mb in r0 + r1 for b in mb)
        seen += [i for mb in r0 + r1 for b in mb for i in b]
    assert set(seen) == set(range(len(lengths)))
    other = StepPlan(lengths, 1024, "neat", seed=4, global_batch=4, micro_batch=1, world_size=2, epochs=2)
    assert [other.micro_batches(s, 0) for s in range(3)] != [plan.micro_batches(s, 0) for s in range(3)]


def test_every_shipped_preset_loads_and_validates():
    expected = {"math": (5, 96, "constant_with_warmup", "plain"), "code": (15, 96, "constant_with_warmup", "neat"),
                "science": (5, 32, "cosine", "neat")}
    assert {p.stem for p in PRESETS_DIR.glob("*.yaml")} == set(expected)
    for branch, (epochs, batch, sched, packing) in expected.items():
        cfg = build_train_config(branch, overrides={"model": "m"})
        assert (cfg.epochs, cfg.global_batch, cfg.scheduler, cfg.packing) == (epochs, batch, sched, packing)
        assert (cfg.lr, cfg.warmup_ratio, cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps) == (1e-5, 0.1, 0.9, 0.95, 1e-8)
        assert (cfg.weight_decay, cfg.max_grad_norm, cfg.cutoff, cfg.zero_stage) == (0.01, 1.0, 16384, 3)
        assert cfg.gradient_checkpointing


def test_config_problems_are_reported_together(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("packing: tight\nlr: fast\nwat: 1\n")
    with pytest.raises(TrainConfigError) as err:
        build_train_config("math", str(bad), {"zero_stage": 1})
    text = str(err.value)
    for part in ("packing: must be one of", "lr: must be a number", "unknown setting 'wat'",
                 "zero_stage: must be 2 or 3", "model: give --model"):
        assert part in text


def test_ds_config_derives_accumulation():
    cfg = build_ds_config(zero_stage=3, global_batch=96, micro_batch=2, world_size=8, bf16=True, max_grad_norm=1.0,
                          offload=True)
    assert cfg["gradient_accumulation_steps"] == 6 and cfg["train_batch_size"] == 96
    assert cfg["zero_optimization"]["offload_param"]["device"] == "cpu" and cfg["bf16"]["enabled"]
    with pytest.raises(ValueError, match="not a multiple"):
        build_ds_config(zero_stage=2, global_batch=10, micro_batch=4, world_size=1, bf16=False, max_grad_norm=1.0)


def test_cli_bad_input_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "training.cli", "--branch", "science", "--packing", "tight"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "packing: must be one of" in r.stderr and "Traceback" not in r.stderr


# ---- DeepSpeed runs (subprocesses: each initialises its own process group) -------------------------------

@pytest.fixture(scope="module")
def science_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curated") / "science"
    subprocess.run([sys.executable, "-m", "curation.cli", "science", "--quiet", "--out", str(out)], check=True,
                   cwd=tmp_path_factory.mktemp("cwd"), env=_env(), capture_output=True)
    return out


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _train_cmd(model: Path, data: Path, out: Path, *extra: str, launcher: list[str] | None = None) -> list[str]:
    return [*(launcher or [sys.executable, "-m"]), "training.cli", "--branch", "science", "--model", str(model),
            "--data", str(data), "--output", str(out), "--cutoff", "2048", "--lr", "3e-3", "--global-batch", "2",
            *extra]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.integration
def test_training_lowers_the_loss_and_saves_a_plain_hf_folder(tiny, science_set, tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(_train_cmd(tiny, science_set, out, "--max-steps", "24", "--zero-stage", "2", "--lr", "1e-2",
                                  "--scheduler", "constant_with_warmup"), env=_env(),
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    log = _log(out)
    assert len(log) == 24 and log[-1]["loss"] < 0.5 * log[0]["loss"]
    assert all(0 <= rec["padding_fraction"] < 1 and rec["tokens_per_s"] > 0 and rec["grad_norm"] is not None
               for rec in log)
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {torch.bfloat16}
    model = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    assert model.dtype == torch.bfloat16 and AutoTokenizer.from_pretrained(out).eos_token == "<|im_end|>"
    card = (out / "README.md").read_text()
    # a local student is no Hub id: named in the provenance, not as the header's base_model
    assert "base_model:" not in card.split("\n---", 1)[0] and f"**base model**: `{tiny}`" in card
    assert str(science_set) in card and "last_loss" in card


@pytest.mark.integration
def test_two_processes_under_zero3_train_and_save(tiny, science_set, tmp_path):
    out = tmp_path / "run2"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(29500 + os.getpid() % 1000), "-m"]
    r = subprocess.run(_train_cmd(tiny, science_set, out, "--max-steps", "4", "--zero-stage", "3",
                                  launcher=launcher), env=_env(), capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny)
    changed = [n for n, p in trained.named_parameters()
               if not torch.allclose(p.float(), base.state_dict()[n].float(), atol=1e-3)]
    assert len(changed) > len(list(base.parameters())) // 2  # the gathered ZeRO-3 weights are the trained ones


@pytest.mark.integration
def test_killed_after_a_checkpoint_and_resumed_ends_like_an_uninterrupted_run(tiny, science_set, tmp_path):
    args = ("--max-steps", "10", "--save-steps", "3", "--zero-stage", "3", "--keep-checkpoints", "5")
    clean = tmp_path / "clean"
    r = subprocess.run(_train_cmd(tiny, science_set, clean, *args), env=_env(), capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny, science_set, killed, *args), env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    latest = killed / "checkpoints" / "latest"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if latest.exists() and latest.read_text().strip() == "step-6":
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    r = subprocess.run(_train_cmd(tiny, science_set, killed, *args, "--resume"), env=_env(), capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((killed / "train_summary.json").read_text())
    assert summary["resumed_from"] == 6 and summary["steps"] == 10 and summary["steps_this_run"] == 4
    assert [r["step"] for r in _log(killed)] == list(range(1, 11))  # steps logged past the checkpoint: replaced
    assert summary["first_loss"] == _log(killed)[0]["loss"] and summary["last_loss"] == _log(killed)[-1]["loss"]
    from safetensors.torch import load_file

    a, b = load_file(clean / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k].float(), b[k].float(), rtol=1e-2, atol=1e-3)
    clean_losses = {r["step"]: r["loss"] for r in _log(clean)}
    resumed_losses = {r["step"]: r["loss"] for r in _log(killed)}
    for step in range(7, 11):
        assert resumed_losses[step] == pytest.approx(clean_losses[step], rel=1e-3)


def test_a_freeze_that_is_no_regular_expression_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "training.cli", "--branch", "science", "--model", str(tmp_path),
                        "--freeze", "layers.[0"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "freeze: not a regular expression" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.integration
def test_frozen_parameters_keep_their_values_and_the_rest_train(tiny, science_set, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "run"
    r = subprocess.run(_train_cmd(tiny, science_set, out, "--max-steps", "3", "--zero-stage", "2", "--save-dtype",
                                  "fp32", "--freeze", r"embed_tokens|layers\.0\."),
                       env=_env(), capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    before, after = load_file(tiny / "model.safetensors"), load_file(out / "model.safetensors")
    frozen = {k for k in before if "embed_tokens" in k or "layers.0." in k}
    assert frozen and all(torch.equal(before[k].float(), after[k]) for k in frozen)
    assert all(not torch.equal(before[k].float(), after[k]) for k in before if k not in frozen and "norm" not in k)
    nothing = subprocess.run(_train_cmd(tiny, science_set, tmp_path / "none", "--max-steps", "1", "--zero-stage", "2",
                                        "--freeze", "no_such_parameter"),
                             env=_env(), capture_output=True, text=True, cwd=ROOT)
    assert nothing.returncode == 2 and "freeze: 'no_such_parameter' names no parameter" in nothing.stderr
    assert "Traceback" not in nothing.stderr
