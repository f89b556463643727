"""Peak memory and speed of one training step at Qwen2.5's vocabulary (152,064 entries).

Two optimizer steps of ``train`` (a real DeepSpeed run on CPU, ZeRO-2, fp32, one process, one sample,
``--packing none``) on a random Qwen2 of tiny depth (2 layers, hidden 256, 4 heads of 64) with the
full 152,064-entry vocabulary, for samples of about 3k, 6k and 12k tokens: the untiled loss
(``--loss full``, the whole logits tensor in fp32, as the trainer computed it before) and the tiled
loss (the default), measured in the same run. Each configuration runs in its own process; its
peak RSS is the process's ``ru_maxrss`` (from ``os.wait4``), tokens/s the second step's own figure.

Run: .venv/bin/python bench/train_memory.py [--tokens 3136 6400 12600] [--vocab 152064] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(work: Path, vocab: int, hidden: int, layers: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.tiny_models import build_qwen2

    model = work / "model"
    build_qwen2(model, hidden=hidden, layers=layers, vocab_size=vocab)
    cfg = json.loads((model / "config.json").read_text())
    cfg.update(num_attention_heads=hidden // 64, num_key_value_heads=max(1, hidden // 128), head_dim=64)
    (model / "config.json").write_text(json.dumps(cfg))  # heads of 64, as the paper's students (re-initialised)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).save_pretrained(model)
    return model


def long_messages(tok, tokens: int) -> list[dict]:
    """One user/assistant conversation of about ``tokens`` tokens (a long reasoning trace)."""
    unit = "Let me think step by step about the problem. The answer is \\boxed{42}. "
    per = len(tok(unit, add_special_tokens=False)["input_ids"])
    content = "<think>\n" + unit * max(1, (tokens - 40) // per) + "\n</think>\n\nThe answer is \\boxed{42}."
    return [{"role": "user", "content": "What is six times seven?"}, {"role": "assistant", "content": content}]


def sample_set(work: Path, model: Path, tokens: int) -> Path:
    """A curated-style folder with one conversation of about ``tokens`` tokens."""
    import datasets
    from transformers import AutoTokenizer

    messages = long_messages(AutoTokenizer.from_pretrained(model), tokens)
    out = work / f"set-{tokens}"
    (out / "data").mkdir(parents=True)
    datasets.Dataset.from_list([{"messages": messages}]).to_parquet(str(out / "data" / "train-00000-of-00001.parquet"))
    return out


def measure(model: Path, data: Path, out: Path, loss: str, cutoff: int) -> dict:
    cmd = [sys.executable, "-m", "training.cli", "--branch", "science", "--model", str(model), "--data", str(data),
           "--output", str(out), "--cutoff", str(cutoff), "--packing", "none", "--global-batch", "1",
           "--max-steps", "2", "--zero-stage", "2", "--precision", "fp32", "--loss", loss, "--save-dtype", "bf16"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{loss} at {cutoff}: exit {status}\n{err[-2000:]}")
    rec = json.loads((out / "train_log.jsonl").read_text().splitlines()[-1])  # the second step: warm
    tokens = json.loads((out / "train_summary.json").read_text())
    return {"loss_impl": loss, "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2), "tokens_per_s": rec["tokens_per_s"],
            "step_seconds": rec["seconds"], "loss": rec["loss"], "samples": tokens["samples"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[3136, 6400, 12600])
    ap.add_argument("--vocab", type=int, default=152064)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--impls", nargs="+", default=["full", "tiled"])
    ap.add_argument("--full-max-tokens", type=int, default=7000,
                    help="skip the untiled loss above this many tokens (it needs ~2 MB per token: 12.6k would "
                         "not fit a 24 GB machine)")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build(work, args.vocab, args.hidden, args.layers)
        for n in args.tokens:
            data = sample_set(work, model, n)
            row = {}
            for impl in args.impls:
                if impl == "full" and n > args.full_max_tokens:
                    print(f"{n:>6} tokens  full   skipped (over --full-max-tokens)", flush=True)
                    continue
                r = measure(model, data, work / f"run-{n}-{impl}", impl, cutoff=n + 64)
                results.append({"tokens": n, **r})
                row[impl] = r
                print(f"{n:>6} tokens  {impl:<5}  peak {r['peak_rss_gb']:5.2f} GB  {r['tokens_per_s']:8.1f} tok/s  "
                      f"loss {r['loss']:.6f}", flush=True)
            if {"full", "tiled"} <= row.keys():
                f, t = row["full"], row["tiled"]
                print(f"{n:>6} tokens  tiled/full: memory {t['peak_rss_gb'] / f['peak_rss_gb']:.2f}x, "
                      f"speed {t['tokens_per_s'] / f['tokens_per_s']:.2f}x, "
                      f"loss difference {abs(t['loss'] - f['loss']):.2e}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
