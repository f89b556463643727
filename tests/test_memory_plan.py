"""``train --plan-memory``: the plan's arithmetic, its shapes, the command, and one prediction
checked against a real CPU training's measured peak."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training import TrainConfig
from training.memory_plan import GIB, SHAPES_DIR, ModelShape, layer_saved, load_shape, loss_tile_tokens, plan_memory

ROOT = Path(__file__).resolve().parents[1]
QWEN32 = "Qwen/Qwen2.5-32B"


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(model=QWEN32, **kw)


def _terms(plan) -> dict[str, float]:
    return {t.name: t.bytes for t in plan.terms}


@pytest.fixture(scope="module")
def qwen32() -> ModelShape:
    return load_shape(QWEN32)


def test_zero3_model_states_divide_by_the_world_and_zero2_keeps_whole_weights(qwen32):
    p8, p16 = (_terms(plan_memory(qwen32, _cfg(), w)) for w in (8, 16))
    assert p8["optimizer"] == pytest.approx(12 * qwen32.params / 8)  # fp32 master + Adam m, v
    assert p8["gradients"] == pytest.approx(2 * p16["gradients"]) == pytest.approx(2 * qwen32.params / 8)
    gathered = p8["parameters"] - 2 * qwen32.params / 8  # the working set does not shrink with the world
    assert p16["parameters"] == pytest.approx(2 * qwen32.params / 16 + gathered)
    z2 = _terms(plan_memory(qwen32, _cfg(zero_stage=2), 8))
    assert z2["parameters"] == 2 * qwen32.params and z2["optimizer"] == p8["optimizer"]


def test_offload_moves_optimizer_states_and_partitions_to_the_host(qwen32):
    on, off = plan_memory(qwen32, _cfg(), 8), plan_memory(qwen32, _cfg(offload=True), 8)
    t_on, t_off = _terms(on), _terms(off)
    assert t_off["optimizer"] == t_off["gradients"] == t_off["optimizer step"] == 0
    assert off.host == pytest.approx(t_on["optimizer"] + (4 + 2) * qwen32.params / 8)  # fp32 gradients, bf16 weights
    assert off.total < on.total - 50 * GIB


def test_sequence_parallel_divides_the_activations(qwen32):
    pytest.importorskip("torch", reason="the sequence-parallel layout check imports torch")
    one, eight = _terms(plan_memory(qwen32, _cfg(), 8)), _terms(plan_memory(qwen32, _cfg(sequence_parallel=8), 8))
    for name in ("checkpointed", "layer activations"):
        assert eight[name] == pytest.approx(one[name] / 8)
    assert one["attention"] / 8 < eight["attention"] < one["attention"]  # the all-to-all buffers come on top
    with pytest.raises(ValueError, match="does not divide"):
        plan_memory(qwen32, _cfg(sequence_parallel=3), 9)  # 3 does not divide 40 heads


def test_without_checkpointing_every_layer_is_held_through_the_backward(qwen32):
    on = plan_memory(qwen32, _cfg(), 8)
    off = plan_memory(qwen32, _cfg(gradient_checkpointing=False), 8)
    layer_on, layer_off = (next(t for t in p.terms if t.name == "layer activations") for p in (on, off))
    assert layer_on.when == "layer" and layer_off.when == "backward"
    assert layer_off.bytes > 60 * layer_on.bytes / 2 and off.total > on.total + 200 * GIB


def test_the_loss_term_is_one_tile_or_the_whole_logits(qwen32):
    tiled = _terms(plan_memory(qwen32, _cfg(), 8))["loss tile"]
    full = _terms(plan_memory(qwen32, _cfg(loss="full"), 8))["loss (full logits)"]
    per_entry = 12 + 2  # fp32 log-softmax, its gradient in and out, and the bf16 cast back
    assert tiled == 441 * 152064 * per_entry and full == 16384 * 152064 * per_entry
    fp32 = _terms(plan_memory(qwen32, _cfg(loss_tile_tokens=100, precision="fp32"), 8))["loss tile"]
    assert fp32 == 100 * 152064 * 12


def test_quadratic_attention_is_planned_as_quadratic(qwen32):
    linear = _terms(plan_memory(qwen32, _cfg(), 8))["attention"]
    masked = _terms(plan_memory(qwen32, _cfg(attn_implementation="eager"), 8))["attention"]
    assert masked - linear >= 40 * 16384**2 * 8  # scores and fp32 softmax of every head


def test_the_plan_totals_run_plus_the_larger_of_backward_and_step(qwen32):
    """The loss and the layers take turns in the backward; the step comes after it."""
    plan = plan_memory(qwen32, _cfg(), 8)
    backward = plan.held("backward") + max(plan.held("loss"), plan.held("layer"))
    assert plan.total == pytest.approx(plan.held("run") + max(backward, plan.held("step")))
    assert plan.headroom == pytest.approx(80 * GIB - plan.total) and plan.fits == (plan.headroom >= 0)
    totals = [plan_memory(qwen32, _cfg(), w).total for w in (8, 16, 32)]
    assert totals == sorted(totals, reverse=True)


def test_every_shipped_shape_loads_with_its_published_size():
    sizes = {"Qwen--Qwen2.5-32B": 32.5, "Qwen--Qwen2.5-32B-Instruct": 32.5, "deepseek-ai--DeepSeek-R1-Distill-Qwen-32B":
             32.5, "Qwen--Qwen2.5-14B": 14.7, "Qwen--Qwen2.5-7B": 7.6, "Qwen--Qwen2-1.5B": 1.5}
    assert sorted(p.stem for p in SHAPES_DIR.glob("*.json")) == sorted(sizes)
    for stem, billions in sizes.items():
        shape = load_shape(stem.replace("--", "/"))
        assert "shipped shape" in shape.source
        assert shape.params / 1e9 == pytest.approx(billions, rel=0.03), stem


def test_the_buckets_are_the_ds_configs():
    from training import build_ds_config
    from training.memory_plan import PERSISTENCE_THRESHOLD, PREFETCH_BUCKET, REDUCE_BUCKET

    zero = build_ds_config(zero_stage=3, global_batch=8, micro_batch=1, world_size=8, bf16=True,
                           max_grad_norm=1.0)["zero_optimization"]
    assert (zero["reduce_bucket_size"], zero["stage3_prefetch_bucket_size"],
            zero["stage3_param_persistence_threshold"]) == (REDUCE_BUCKET, PREFETCH_BUCKET, PERSISTENCE_THRESHOLD)
    assert zero["overlap_comm"]  # what makes ZeRO-2 hold two buckets


def test_the_tile_rule_is_the_trainers():
    pytest.importorskip("torch")
    from training.loss import tile_tokens

    for vocab, setting in ((152064, 0), (400, 0), (32768, 0), (152064, 128)):
        assert loss_tile_tokens(vocab, setting) == tile_tokens(vocab, setting)


@pytest.mark.parametrize("tied", [False, True])
def test_parameter_count_and_saved_activations_match_a_real_qwen2_layer(tied):
    torch = pytest.importorskip("torch")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from training import attention

    attention.register()
    cfg = Qwen2Config(vocab_size=1000, hidden_size=256, intermediate_size=704, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=64, tie_word_embeddings=tied)
    cfg._attn_implementation = attention.NAME
    model = Qwen2ForCausalLM(cfg)
    shape = ModelShape.from_config(cfg.to_dict())
    assert shape.params == sum(p.numel() for p in model.parameters())
    for dtype, pb in ((torch.float32, 4), (torch.bfloat16, 2)):
        model = model.to(dtype)
        tokens, layer = 512, model.model.layers[0]
        x = torch.randn(1, tokens, 256, dtype=dtype, requires_grad=True)
        pos = torch.arange(tokens)[None]
        rotary = model.model.rotary_emb(x, pos)
        skip = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
        saved: dict[int, int] = {}

        def pack(t, skip=skip, saved=saved):
            if t.untyped_storage().data_ptr() not in skip:
                saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x, attention_mask=None, position_ids=pos, position_embeddings=rotary)
        assert sum(saved.values()) / tokens == pytest.approx(sum(layer_saved(shape, pb).values()), abs=16), dtype


# ---- the command ---------------------------------------------------------------------------------------

def _train(*args: str) -> subprocess.CompletedProcess:
    code = ("import sys\nfrom training.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('imported', 'deepspeed' in sys.modules, 'torch' in sys.modules, file=sys.stderr)\n    raise\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_plan_memory_prints_one_column_per_world_size_and_starts_nothing():
    out = _train("--branch", "math", "--model", QWEN32, "--plan-memory", "--world-size", "8,16,32")
    assert out.returncode == 0, out.stderr
    assert "imported False False" in out.stderr  # neither DeepSpeed nor torch
    lines = out.stdout.splitlines()
    assert "32.76B parameters" in lines[0] and "ZeRO-3, bf16" in lines[1]
    header = next(line for line in lines if line.startswith("term"))
    assert header.split()[2:8] == ["8", "ranks", "16", "ranks", "32", "ranks"]
    for term in ("parameters", "gradients", "optimizer", "checkpointed", "loss tile", "attention", "total", "fits"):
        assert any(line.startswith(term) for line in lines), term
    fits = next(line for line in lines if line.startswith("fits")).split()[1:]
    assert len(fits) == 3 and set(fits) <= {"yes", "no"}


def test_plan_memory_reads_a_local_model_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2,
                                                      "num_attention_heads": 4, "intermediate_size": 128,
                                                      "vocab_size": 500}))
    out = _train("--branch", "math", "--model", str(tmp_path), "--plan-memory", "--plan-device", "cpu")
    assert out.returncode == 0, out.stderr
    assert "fp32" in out.stdout and "1 rank " in out.stdout


@pytest.mark.parametrize("model, says", [("/nowhere/model", "neither a folder nor a Hub model id"),
                                         ("nobody/no-such-model", "no config.json for nobody/no-such-model")])
def test_plan_memory_with_a_bad_model_says_so_in_one_line(model, says):
    out = _train("--branch", "math", "--model", model, "--plan-memory")
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("train: error:")]
    assert len(errors) == 1 and says in errors[0]


def test_plan_memory_rejects_a_bad_world_size():
    out = _train("--branch", "math", "--model", QWEN32, "--plan-memory", "--world-size", "8,x")
    assert out.returncode == 2 and "world_size" in out.stderr


# ---- checked against the trainer and a measurement --------------------------------------------------------

def _tiny_set(tmp_path: Path, repeats: int, **model_kw):
    import datasets
    from helpers.tiny_models import build_qwen2

    model = build_qwen2(tmp_path / "model", **model_kw)
    messages = [{"role": "user", "content": "What is six times seven?"}, {
        "role": "assistant", "content": "<think>\n" + "Six sevens make forty-two. " * repeats + "\n</think>\n42"}]
    (tmp_path / "set" / "data").mkdir(parents=True)
    datasets.Dataset.from_list([{"messages": messages}]).to_parquet(str(tmp_path / "set/data/train-0.parquet"))
    return model, messages


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.integration
def test_the_trainer_recomputes_every_layer_as_the_plan_assumes(tmp_path):
    """With gradient checkpointing (the default) a layer's MLP runs twice per step: the forward and the
    recompute in the backward (transformers checkpoints only in training mode, and keeps the layer's
    own hooks outside the checkpoint, so the hook is on the MLP)."""
    pytest.importorskip("deepspeed", reason="the train extra (deepspeed) is not installed")
    model, _ = _tiny_set(tmp_path, 5)
    values = {"model": str(model), "data": [str(tmp_path / "set")], "output": str(tmp_path / "run"), "cutoff": 512,
              "global_batch": 1, "max_steps": 1, "zero_stage": 2}
    code = ("import json, sys\nfrom training import build_train_config\nfrom training.loop import TrainingRun\n"
            "cfg = build_train_config('science', overrides=json.loads(sys.argv[1]))\n"
            "run = TrainingRun(cfg, progress=False).setup()\n"
            "calls = []\nrun.engine.module.model.layers[0].mlp.register_forward_pre_hook(lambda *a: calls.append(1))\n"
            "run.step(0)\nprint('layer calls', len(calls))\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(values)], env=_env(), cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "layer calls 2" in out.stdout



@pytest.mark.integration
def test_the_prediction_is_within_25_percent_of_a_measured_cpu_peak(tmp_path):
    """Two optimizer steps of a real CPU training (ZeRO-2, fp32, one process), its peak RSS measured
    from a lean parent (tests/helpers/peak_rss.py) with glibc returning freed blocks over 1 MiB (as
    bench/memory_plan.py measures), against the plan for the same settings."""
    pytest.importorskip("deepspeed", reason="the train extra (deepspeed) is not installed")
    from helpers.peak_rss import peak_rss
    from transformers import AutoTokenizer

    from training import build_train_config, tokenize_conversation

    model, messages = _tiny_set(tmp_path, 200, hidden=256, vocab_size=65536)
    length = len(tokenize_conversation(AutoTokenizer.from_pretrained(model), messages)[0])
    values = {"model": str(model), "data": [str(tmp_path / "set")], "output": str(tmp_path / "run"), "cutoff": length,
              "packing": "none", "global_batch": 1, "max_steps": 2, "zero_stage": 2, "precision": "fp32"}
    plan = plan_memory(load_shape(str(model)), build_train_config("science", overrides=values), 1, device="cpu")
    args = [a for k, v in values.items() for a in (f"--{k.replace('_', '-')}", v[0] if isinstance(v, list) else str(v))]
    status, measured, err = peak_rss([sys.executable, "-m", "training.cli", "--branch", "science", *args],
                                     {**_env(), "MALLOC_MMAP_THRESHOLD_": str(2**20)}, ROOT, timeout=300)
    assert status == 0, err
    assert plan.total / measured == pytest.approx(1.0, abs=0.25), (plan.total / GIB, measured / GIB)
