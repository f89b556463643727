"""The trainer at the paper's scale: the tiled loss (no full-vocabulary logits), attention without an
L x L mask, HF's warmup rule, weight decay under ZeRO-3, multi-turn and overlong samples, and
sequence parallelism over two processes (DeepSpeed Ulysses on gloo)."""

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")
pytest.importorskip("deepspeed", reason="the train extra (deepspeed) is not installed")

from helpers.tiny_models import build_qwen2, build_tokenizer  # noqa: E402

from training import attention, collate, tokenize_conversation, tokenize_rows  # noqa: E402
from training.loss import (  # noqa: E402
    final_hidden,
    full_logits_loss_sum,
    shift_targets,
    tile_tokens,
    tiled_loss_sum,
)
from training.schedule import decays, lr_lambda, param_groups, warmup_steps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MULTI_TURN = [{"role": "user", "content": "What is 2 + 3?"},
              {"role": "assistant", "content": "<think>\nTwo plus three.\n</think>\n\n\\boxed{5}"},
              {"role": "user", "content": "And times 7?"},
              {"role": "assistant", "content": "<think>\nFive times seven.\n</think>\n\n\\boxed{35}"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny Qwen2 whose vocabulary (3,000) is much larger than its tokenizer's, so the tiles matter."""
    root = tmp_path_factory.mktemp("scale")
    return build_qwen2(root / "model", hidden=64, vocab_size=3000, tokenizer=build_tokenizer(root / "tok"))


def _packed_batch(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lens = [90, 150, 60]
    ids = torch.randint(0, vocab, (1, sum(lens)), generator=g)
    pos = torch.cat([torch.arange(n) for n in lens])[None]
    labels = ids.clone()
    labels[:, :20] = -100  # a prompt
    labels[:, 90:110] = -100
    return ids, pos, torch.from_numpy(shift_targets(labels.numpy()))


def _loss_and_grads(model, fn):
    model.zero_grad()
    loss = fn()
    loss.backward()
    return float(loss.detach()), {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def test_tiled_loss_equals_the_full_logits_loss_and_its_gradients(model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    ids, pos, targets = _packed_batch(3000)
    full, g_full = _loss_and_grads(model, lambda: full_logits_loss_sum(model, ids, pos, targets))
    tiled, g_tiled = _loss_and_grads(
        model, lambda: tiled_loss_sum(model.lm_head, final_hidden(model, ids, pos), targets, tile=37))
    assert tiled == pytest.approx(full, rel=1e-5)
    for name, g in g_full.items():
        assert float((g_tiled[name] - g).norm()) <= 1e-5 * float(g.norm()) + 1e-9, name


def test_the_head_never_sees_more_than_one_tile(model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    rows = []
    model.lm_head.register_forward_hook(lambda _m, inp, _o: rows.append(inp[0].reshape(-1, inp[0].shape[-1]).shape[0]))
    ids, pos, targets = _packed_batch(3000)
    loss = tiled_loss_sum(model.lm_head, final_hidden(model, ids, pos), targets, tile=40)
    loss.backward()
    n_targets = int((targets != -100).sum())
    forward_calls = -(-n_targets // 40)
    assert rows[0] == 0  # the model's own head call is asked for no position
    assert max(rows) == 40 and len(rows) == 1 + 2 * forward_calls  # each tile once more in the backward
    assert tile_tokens(152064) == 441 and tile_tokens(152064, 128) == 128


@pytest.mark.parametrize("attn", ["sdpa", "sdpa_varlen", "eager"])
def test_varlen_attention_matches_the_masked_attention(model_dir, attn):
    from transformers import AutoModelForCausalLM

    attention.register()
    ref = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attn).eval()
    ids, pos, _ = _packed_batch(400)
    with torch.no_grad():
        want = ref(input_ids=ids, position_ids=pos, use_cache=False).logits
        got = model(input_ids=ids, position_ids=pos, use_cache=False).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    # and samples do not see each other: the last sample alone gives its own logits
    with torch.no_grad():
        alone = model(input_ids=ids[:, 240:], position_ids=pos[:, 240:], use_cache=False).logits
    torch.testing.assert_close(got[:, 240:], alone, rtol=1e-4, atol=1e-5)


def test_sdpa_builds_an_l_by_l_mask_for_packed_rows_and_sdpa_varlen_none(model_dir):
    from transformers import AutoConfig
    from transformers.masking_utils import create_causal_mask

    attention.register()
    ids, pos, _ = _packed_batch(400)
    embeds = torch.zeros(1, ids.shape[1], 64)
    shapes = {}
    for name in ("sdpa", "sdpa_varlen"):
        cfg = AutoConfig.from_pretrained(model_dir)
        cfg._attn_implementation = name
        params = inspect.signature(create_causal_mask).parameters  # the cache argument was renamed in 5.2x
        cache_arg = {"cache" if "cache" in params else "past_key_values": None}
        extra = {"cache_position": torch.arange(ids.shape[1])} if "cache_position" in params else {}
        mask = create_causal_mask(config=cfg, inputs_embeds=embeds, attention_mask=None, position_ids=pos,
                                  **cache_arg, **extra)
        shapes[name] = None if mask is None else tuple(mask.shape)
    n = ids.shape[1]
    assert shapes == {"sdpa": (1, 1, n, n), "sdpa_varlen": None}


@pytest.mark.parametrize("scheduler", ["constant_with_warmup", "cosine", "linear"])
def test_schedule_is_hf_trainers(scheduler):
    import transformers

    total, ratio = 37, 0.1
    warmup = warmup_steps(ratio, total)
    assert warmup == 4  # ceil, as HF's get_warmup_steps
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    hf = {"constant_with_warmup": transformers.get_constant_schedule_with_warmup,
          "cosine": transformers.get_cosine_schedule_with_warmup,
          "linear": transformers.get_linear_schedule_with_warmup}[scheduler]
    kwargs = {} if scheduler == "constant_with_warmup" else {"num_training_steps": total}
    sched = hf(opt, num_warmup_steps=warmup, **kwargs)
    ours = lr_lambda(scheduler, warmup, total)
    for step in range(total):
        assert ours(step) == pytest.approx(sched.get_last_lr()[0], abs=1e-12), step
        opt.step()
        sched.step()


def test_weight_decay_groups_read_the_full_shape_of_partitioned_parameters(model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    before = [[id(p) for p in g["params"]] for g in param_groups(model, 0.1)]
    for _, p in model.named_parameters():  # what deepspeed.zero.Init leaves: empty data, the shape aside
        p.ds_shape = p.shape
        p.data = torch.empty(0)
    after = [[id(p) for p in g["params"]] for g in param_groups(model, 0.1)]
    assert after == before and len(before[0]) == 16 and len(before[1]) == 11
    assert not decays("model.norm.weight", model.model.norm.weight)


def test_every_assistant_turn_is_trained_by_default_and_only_the_last_on_request(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    trained = {}
    for mode in ("all", "last"):
        ids, mask = tokenize_conversation(tok, MULTI_TURN, mode)
        assert tok.decode(ids) == tok.apply_chat_template(MULTI_TURN, tokenize=False).rstrip("\n")
        trained[mode] = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert trained["all"] == MULTI_TURN[1]["content"] + "<|im_end|>" + MULTI_TURN[3]["content"] + "<|im_end|>"
    assert trained["last"] == MULTI_TURN[3]["content"] + "<|im_end|>"
    single = MULTI_TURN[:2]
    assert tokenize_conversation(tok, single, "all") == tokenize_conversation(tok, single, "last")


def test_overlong_samples_are_dropped_or_truncated_and_counted(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    long = [{"role": "user", "content": "Count."}, {"role": "assistant", "content": "one two three " * 40}]
    long_prompt = [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"}]
    rows = [{"messages": MULTI_TURN[:2]}, {"messages": long}, {"messages": long_prompt}]
    dropped = tokenize_rows(rows, tok, cutoff=64)
    assert len(dropped) == 1 and dict(dropped.dropped) == {"longer_than_cutoff": 2} and dropped.truncated == 0
    cut = tokenize_rows(rows, tok, cutoff=64, overlong="truncate")
    assert len(cut) == 2 and cut.truncated == 1 and dict(cut.dropped) == {"prompt_longer_than_cutoff": 1}
    assert list(cut.lengths) == [len(tokenize_conversation(tok, MULTI_TURN[:2])[0]), 64]


def test_sequence_parallel_slices_add_up_to_the_sequence(model_dir):
    from transformers import AutoTokenizer

    from training.parallel.sequence_parallel import Layout, model_batch

    tok = AutoTokenizer.from_pretrained(model_dir)
    data = tokenize_rows([{"messages": MULTI_TURN}, {"messages": MULTI_TURN[:2]}], tok, cutoff=4096)
    batch = collate(data, [[0, 1]], "neat", tok.pad_token_id)
    whole = model_batch(batch, Layout(1, 0), tok.pad_token_id)
    parts = [model_batch(batch, Layout(6, r, sp=3), tok.pad_token_id) for r in range(3)]
    joined = {k: np.concatenate([p[k] for p in parts], axis=1) for k in whole}
    n = whole["input_ids"].shape[1]
    assert joined["input_ids"].shape[1] % 3 == 0 and joined["input_ids"].shape[1] - n < 3
    for k in whole:
        np.testing.assert_array_equal(joined[k][:, :n], whole[k])
    assert (joined["targets"][:, n:] == -100).all()  # padding is trained on nothing


# ---- DeepSpeed runs: ZeRO-2, ZeRO-3 and sequence parallelism over two processes -----------------------------

def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
            "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


@pytest.fixture(scope="module")
def runs(model_dir, tmp_path_factory) -> dict:
    """Three steps with weight decay 0.1 from the same start: ZeRO-2 and ZeRO-3 in one process, and
    ZeRO-3 with --sequence-parallel 2 over two processes (one sample is longer than a rank's half)."""
    import datasets
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("runs")
    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [{"messages": [{"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
                          {"role": "assistant", "content": f"<think>\n{'Add them step by step. ' * (3 + 6 * i)}"
                                                           f"\n</think>\n\n\\boxed{{{2 * i}}}"}]} for i in range(8)]
    (root / "set" / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(root / "set" / "data" / "train-00000-of-00001.parquet"))
    longest = max(len(tokenize_conversation(tok, r["messages"])[0]) for r in rows)
    common = ["training.cli", "--branch", "science", "--model", str(model_dir), "--data", str(root / "set"),
              "--cutoff", "512", "--global-batch", "2", "--max-steps", "3", "--lr", "3e-3", "--weight-decay", "0.1",
              "--warmup-ratio", "0.34", "--scheduler", "linear", "--save-dtype", "fp32", "--packing", "neat"]
    assert 256 < longest <= 512  # the longest sample does not fit in one rank's half of a sequence
    procs = {}
    for name, extra, launcher in (
            ("zero2", ["--zero-stage", "2", "--report-to", "tensorboard,wandb,mlflow"], [sys.executable, "-m"]),
            ("zero3", ["--zero-stage", "3"], [sys.executable, "-m"]),
            ("sp2", ["--zero-stage", "3", "--sequence-parallel", "2"],
             [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
              str(29700 + os.getpid() % 200), "-m"])):
        out = root / name
        procs[name] = (out, subprocess.Popen([*launcher, *common, "--output", str(out), *extra], env=_env(), cwd=ROOT,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        if name == "zero3":  # two at a time on a 2-core machine
            for _, p in procs.values():
                assert p.wait(timeout=600) == 0, p.stderr.read()[-3000:]
    for _, p in procs.values():
        assert p.wait(timeout=600) == 0, p.stderr.read()[-3000:]
    return {name: out for name, (out, _) in procs.items()}


def _weights(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(out / "model.safetensors")


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def _max_relative_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).norm() / a[k].norm()) for k in a)


@pytest.mark.integration
def test_zero3_trains_the_same_weights_as_zero2_weight_decay_included(runs, model_dir):
    z2, z3 = _weights(runs["zero2"]), _weights(runs["zero3"])
    assert _max_relative_difference(z2, z3) < 1e-5
    from safetensors.torch import load_file

    start = load_file(model_dir / "model.safetensors")
    # weight decay acted at stage 3 too: a matrix moved, and more than its gradients alone would have moved it
    assert float((z3["model.layers.0.mlp.up_proj.weight"] - start["model.layers.0.mlp.up_proj.weight"]).norm()) > 0
    assert [r["loss"] for r in _log(runs["zero2"])] == pytest.approx([r["loss"] for r in _log(runs["zero3"])],
                                                                     rel=1e-6)


def test_a_fresh_run_refuses_a_used_output_and_resume_a_missing_checkpoint(model_dir, tmp_path):
    def train(out: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "training.cli", "--branch", "science", "--model", str(model_dir),
                               "--data", str(tmp_path / "no-such-set"), "--output", str(out), *extra],
                              env=_env(), cwd=ROOT, capture_output=True, text=True)

    earlier = tmp_path / "earlier"
    (earlier / "checkpoints" / "step-4").mkdir(parents=True)
    (earlier / "train_log.jsonl").write_text('{"step": 4, "loss": 1.0}\n')
    (earlier / "checkpoints" / "latest").write_text("step-6")
    curated = tmp_path / "curated"
    (curated / "data").mkdir(parents=True)
    for out, extra, words in ((earlier, (), "holds an earlier run (train_log.jsonl, checkpoints); --resume"),
                              (curated, (), "is not empty and holds no run of train"),
                              (earlier, ("--resume",), "names checkpoint 'step-6', which is not there")):
        r = train(out, *extra)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (earlier / "train_log.jsonl").read_text() == '{"step": 4, "loss": 1.0}\n'  # nothing touched


@pytest.mark.integration
def test_the_log_holds_the_rate_each_step_used(runs):
    log = _log(runs["zero2"])
    assert [r["step"] for r in log] == [1, 2, 3]
    warmup = warmup_steps(0.34, 3)
    rule = lr_lambda("linear", warmup, 3)
    assert [r["lr"] for r in log] == pytest.approx([3e-3 * rule(s) for s in range(3)])
    assert log[0]["lr"] == 0.0


@pytest.mark.integration
def test_sequence_parallel_over_two_processes_equals_one_process(runs):
    sp, one = _log(runs["sp2"]), _log(runs["zero3"])
    assert [r["loss"] for r in sp] == pytest.approx([r["loss"] for r in one], rel=1e-4)
    assert _max_relative_difference(_weights(runs["zero3"]), _weights(runs["sp2"])) < 1e-4
    summary = json.loads((runs["sp2"] / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["sequence_parallel"] == 2
    assert json.loads((runs["sp2"] / "train_config.json").read_text())["data_parallel"] == 1


def test_inputs_are_checked_before_deepspeed_starts(model_dir, tmp_path, monkeypatch):
    import datasets

    from training import build_train_config
    from training.preflight import check_inputs

    empty = tmp_path / "empty"
    (empty / "data").mkdir(parents=True)
    good = tmp_path / "good"
    (good / "data").mkdir(parents=True)
    datasets.Dataset.from_list([{"messages": MULTI_TURN}]).to_parquet(str(good / "data" / "train.parquet"))
    broken = tmp_path / "broken-template"
    build_qwen2(broken, tokenizer=build_tokenizer(tmp_path / "tok2"))
    tok_cfg = json.loads((broken / "tokenizer_config.json").read_text())
    tok_cfg["chat_template"] = "{{ raise_exception('system turns are not supported') }}"
    (broken / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    (broken / "chat_template.jinja").unlink(missing_ok=True)

    def problem(**settings) -> str:
        cfg = build_train_config("science", overrides={"model": str(model_dir), "data": str(good),
                                                       "output": str(tmp_path / "out"), **settings})
        with pytest.raises(ValueError) as err:
            check_inputs(cfg)
        return str(err.value)

    assert problem(data=str(empty)).startswith(f"data: cannot load {empty}: EmptyDatasetError")
    assert problem(model=str(tmp_path / "missing")).startswith("model: ")
    assert "acme/no-such-model" in problem(model="acme/no-such-model")  # offline: named, one line
    assert "chat template of" in problem(model=str(broken)) and "system turns" in problem(model=str(broken))
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert "does not divide the world of 3" in problem(sequence_parallel=2)
    monkeypatch.delenv("WORLD_SIZE")
    cfg = build_train_config("science", overrides={"model": str(model_dir), "data": str(good),
                                                   "output": str(tmp_path / "out")})
    assert len(check_inputs(cfg).data) == 1


@pytest.mark.integration
def test_trackers_receive_every_step_and_the_card_draws_the_curve(runs):
    out = runs["zero2"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    offline = list((out / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("*.wandb"))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("branch-merge").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]
    card = (out / "README.md").read_text()
    assert "plots/training_curve.png" in card and (out / "plots" / "training_curve.png").stat().st_size > 1000
    table = card.split("## Metrics", 1)[1]
    assert "| first_loss |" in table and not any(len(x) > 8 for x in re.findall(r"\d+\.(\d+)", table))


def test_a_missing_tracker_is_one_line_before_training(model_dir, tmp_path, monkeypatch):
    from training import build_train_config, tracking
    from training.preflight import check_inputs

    monkeypatch.setitem(tracking.TRACKERS, "wandb", "wandb_is_not_installed_here")
    cfg = build_train_config("science", overrides={"model": str(model_dir), "output": str(tmp_path / "o"),
                                                   "report_to": "tensorboard,wandb"})
    with pytest.raises(ValueError, match=r"report_to: wandb is not installed \(pip install 'branch-merge\[tracking\]'"):
        check_inputs(cfg)
    with pytest.raises(Exception, match="report_to: unknown comet"):
        build_train_config("science", overrides={"model": "m", "report_to": "comet"})
