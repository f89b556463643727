"""The trainer on one GPU at the paper's sequence length: tokens/s, MFU, peak memory, and the tiled
loss against the plain one (issue 24, item 8). Prepared to run on the device machine; CI never runs it.

What it does, with no download:
1. builds a random-initialised model of Qwen2-1.5B's shape (28 layers, hidden 1536, 12 heads,
   2 key/value heads, intermediate 8960, vocabulary 151,936, tied embeddings) and a small tokenizer;
2. the loss check, in this process: one packed 16,384-token sequence (four samples) through the
   model in bf16, the plain loss (full logits in fp32) and the tiled loss, each with its backward:
   relative difference of the losses and of every gradient, and the peak GPU memory of each;
3. for ZeRO-2 and ZeRO-3: ``train`` for 10 steps of one 16,384-token packed sequence (bf16,
   gradient checkpointing, the tiled loss, sdpa_varlen or FlashAttention where installed) in a
   subprocess; tokens/s (median of steps 3-10), the step's peak GPU memory (``gpu_peak_gb`` in the
   log), and MFU = (6 x parameters + 6 x layers x hidden x mean context) x tokens/s / peak bf16 FLOP/s
   (989e12 for an H100 SXM; recomputation not counted, as is usual).
Results: one JSON document on stdout and in ``OUT/gpu_check.json``.

The device image has torch and transformers but not deepspeed, datasets or the project's other
dependencies; carry them as wheels (see /work/.library/device/README.md), for example
``pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl deepspeed datasets polars
pyarrow dill multiprocess xxhash math-verify latex2sympy2_extended antlr4-python3-runtime datasketch
click rich pyyaml ninja hjson py-cpuinfo msgpack``. Then:
``pip install --no-index --no-deps --target /tmp/site .whl/*.whl; PYTHONPATH=/tmp/site:. python3
scripts/gpu_check_train.py --out $OUT``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QWEN2_1_5B = {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
              "intermediate_size": 8960, "vocab_size": 151936, "tie_word_embeddings": True,
              "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}
SMOKE = {**QWEN2_1_5B, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 256, "vocab_size": 4096}  # --smoke: the script's plumbing on a CPU
H100_BF16_FLOPS = 989e12


def build_model(work: Path, shape: dict) -> tuple[Path, int]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.tiny_models import build_tokenizer

    out = work / "qwen2-random"
    tok = build_tokenizer(out)
    cfg = Qwen2Config(**shape, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(out)
    return out, sum(p.numel() for p in model.parameters())


def write_set(work: Path, model: Path, tokens_per_sample: int, samples: int) -> Path:
    import datasets
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    unit = "Let me think step by step about the problem. Compute 7 * 8 and the answer is \\boxed{56}. "
    per = len(tok(unit, add_special_tokens=False)["input_ids"])
    rows = [{"messages": [{"role": "user", "content": f"Problem {i}: what is 7 * 8?"},
                          {"role": "assistant", "content": "<think>\n" + unit * ((tokens_per_sample - 40) // per) +
                           "</think>\n\n\\boxed{56}"}]} for i in range(samples)]
    out = work / "set"
    (out / "data").mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(out / "data" / "train-00000-of-00001.parquet"))
    return out


def loss_check(model_dir: Path, tokens: int, device: str) -> dict:
    """The plain and the tiled loss on one packed sequence, bf16 on the GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    from training import attention
    from training.loss import final_hidden, full_logits_loss_sum, shift_targets, tile_tokens, tiled_loss_sum

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16,
                                                 attn_implementation=attention.register()).to(device)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 400, (1, tokens), generator=g)
    pos = torch.cat([torch.arange(tokens // 4)] * 4)[None]
    labels = ids.clone()
    labels[:, : tokens // 16] = -100
    targets = torch.from_numpy(shift_targets(labels.numpy())).to(device)
    ids, pos = ids.to(device), pos.to(device)
    cuda = device == "cuda"
    tile = tile_tokens(model.config.vocab_size)
    out = {}
    for name, fn in (("plain", lambda: full_logits_loss_sum(model, ids, pos, targets)),
                     ("tiled", lambda: tiled_loss_sum(model.lm_head, final_hidden(model, ids, pos), targets, tile))):
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() if cuda else 0
        t0 = time.perf_counter()
        loss = fn()
        loss.backward()
        if cuda:
            torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30 if cuda else float("nan")
        out[name] = {"loss": float(loss.detach()), "seconds": round(time.perf_counter() - t0, 3),
                     "peak_gb_above_weights": round(peak, 3),
                     "grads": {n: p.grad.float().clone() for n, p in model.named_parameters() if p.grad is not None}}
    plain, tiled = out["plain"], out["tiled"]
    worst = max(float((tiled["grads"][n] - g_).norm() / g_.norm().clamp_min(1e-30)) for n, g_ in plain["grads"].items())
    return {"tokens": tokens, "tile_tokens": tile,
            "loss_plain": plain["loss"], "loss_tiled": tiled["loss"],
            "loss_relative_difference": abs(plain["loss"] - tiled["loss"]) / abs(plain["loss"]),
            "max_gradient_relative_difference": worst,
            "peak_gb_above_weights": {"plain": plain["peak_gb_above_weights"], "tiled": tiled["peak_gb_above_weights"]},
            "seconds": {"plain": plain["seconds"], "tiled": tiled["seconds"]}}


def train_run(model: Path, data: Path, out: Path, stage: int, steps: int, cutoff: int,
              precision: str = "bf16") -> list[dict]:
    cmd = [sys.executable, "-m", "training.cli", "--branch", "math", "--model", str(model), "--data", str(data),
           "--output", str(out), "--cutoff", str(cutoff), "--global-batch", "1", "--max-steps", str(steps),
           "--zero-stage", str(stage), "--precision", precision, "--packing", "neat", "--save-steps", "100000",
           "--save-dtype", "bf16"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        return [{"error": r.stderr[-3000:]}]
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def summarize(log: list[dict], params: int, cfg: dict, cutoff: int, samples_per_seq: int) -> dict:
    if "error" in log[0]:
        return log[0]
    steady = log[2:] or log
    tps = statistics.median(r["tokens_per_s"] for r in steady)
    context = cutoff / samples_per_seq / 2  # mean causal context of a packed sample's token
    flops_per_token = 6 * params + 6 * cfg["num_hidden_layers"] * cfg["hidden_size"] * context
    return {"tokens_per_s": tps, "mfu": round(flops_per_token * tps / H100_BF16_FLOPS, 4),
            "gpu_peak_gb": max(r.get("gpu_peak_gb", 0) for r in log), "losses": [r["loss"] for r in log],
            "step_seconds": [r["seconds"] for r in log]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--stages", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--smoke", action="store_true", help="a tiny model on the CPU: checks the script, measures nothing")
    args = ap.parse_args()
    import torch

    if not (torch.cuda.is_available() or args.smoke):
        raise SystemExit("gpu_check_train: no CUDA device (--smoke runs the plumbing on a CPU)")
    shape = SMOKE if args.smoke else QWEN2_1_5B
    device = "cpu" if args.smoke else "cuda"
    result = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (smoke)",
              "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, params = build_model(work, shape)
        result["parameters"] = params
        result["loss_check"] = loss_check(model, args.tokens, device)
        if device == "cuda":
            torch.cuda.empty_cache()
        samples_per_seq = 4
        data = write_set(work, model, args.tokens // samples_per_seq - 8, samples_per_seq * (args.steps + 2))
        for stage in args.stages:
            log = train_run(model, data, work / f"zero{stage}", stage, args.steps, args.tokens,
                            "fp32" if args.smoke else "bf16")
            result[f"zero{stage}"] = summarize(log, params, shape, args.tokens, samples_per_seq)
    text = json.dumps(result, indent=1)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(text)


if __name__ == "__main__":
    main()
