"""Peak memory and wall time of the reference merge plan: ours (mergekit, lazy per-tensor loading)
against a baseline that loads every state dict into memory and applies the same Arcee Fusion
formula, each side in its own process, in one run.

Run: .venv/bin/python bench/merge.py [--hidden 1024 --layers 12]   (3 random models, ~0.9 GB each in fp32)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_model(folder: Path, hidden: int, layers: int, vocab: int, seed: int) -> int:
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen2Config

    folder.mkdir(parents=True, exist_ok=True)
    inter, heads, kv = int(hidden * 2.75), hidden // 64, max(1, hidden // 256)
    Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv, tie_word_embeddings=False,
                dtype="float32", architectures=["Qwen2ForCausalLM"]).save_pretrained(folder)
    g = torch.Generator().manual_seed(seed)
    hd = hidden // heads
    shapes = {"model.embed_tokens.weight": (vocab, hidden), "lm_head.weight": (vocab, hidden),
              "model.norm.weight": (hidden,)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "self_attn.q_proj.weight": (hidden, hidden), p + "self_attn.q_proj.bias": (hidden,),
                       p + "self_attn.k_proj.weight": (kv * hd, hidden), p + "self_attn.k_proj.bias": (kv * hd,),
                       p + "self_attn.v_proj.weight": (kv * hd, hidden), p + "self_attn.v_proj.bias": (kv * hd,),
                       p + "self_attn.o_proj.weight": (hidden, hidden), p + "mlp.gate_proj.weight": (inter, hidden),
                       p + "mlp.up_proj.weight": (inter, hidden), p + "mlp.down_proj.weight": (hidden, inter),
                       p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,)})
    tensors = {k: torch.randn(s, generator=g) * 0.02 for k, s in shapes.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return sum(t.numel() * 4 for t in tensors.values())


SAMPLER = r'''
import threading, time as _t
_peak = {"anon": 0, "rss": 0}
def _sample():
    while True:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("RssAnon:", "VmRSS:")):
                    key = "anon" if line.startswith("RssAnon") else "rss"
                    _peak[key] = max(_peak[key], int(line.split()[1]) // 1024)
        _t.sleep(0.005)
threading.Thread(target=_sample, daemon=True).start()
'''

BASELINE = r'''
import resource, sys, time, torch, torch.nn.functional as F
from safetensors.torch import load_file, save_file
t0 = time.perf_counter()
math, code, science, out = sys.argv[1:5]
sd = {n: {k: v.clone() for k, v in load_file(p + "/model.safetensors").items()}  # in memory, not mmap
      for n, p in (("math", math), ("code", code), ("science", science))}
def fuse(base, other):  # Arcee Fusion, the same formula, on whole tensors in memory
    p, q = F.softmax(other, -1) + 1e-8, F.softmax(base, -1) + 1e-8
    imp = (other - base).abs() * torch.sum(p * torch.log(p / q), -1, keepdim=True)
    flat = imp.reshape(-1)
    if flat.numel() > 1_000_000:
        flat = flat[torch.randint(flat.numel(), (1_000_000,))]
    s = flat.sort().values
    q1, med, q3 = (s[int(x * (s.numel() - 1))] for x in (0.25, 0.5, 0.75))
    return base + (other - base) * (imp >= med + 1.5 * (q3 - q1)).float()
step1 = {k: fuse(sd["science"][k], sd["math"][k]) for k in sd["science"]}
final = {k: fuse(sd["code"][k], step1[k]).to(torch.bfloat16) for k in sd["code"]}
save_file(final, out + "/model.safetensors", metadata={"format": "pt"})
_t.sleep(0.02)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _peak["anon"], time.perf_counter() - t0)
'''

OURS = r'''
import resource, sys, time
t0 = time.perf_counter()
from merge import load_plan, run_plan
math, code, science, out = sys.argv[1:5]
run_plan(load_plan("tinyr1"), {"math": math, "code": code, "science": science}, out, log=lambda m: None)
_t.sleep(0.02)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _peak["anon"], time.perf_counter() - t0)
'''


def run_side(code: str, models: list[Path], out: Path) -> tuple[float, float, float]:
    out.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", SAMPLER + code, *map(str, models), str(out)], capture_output=True,
                       text=True, cwd=ROOT, env=env)
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    rss, anon, secs = map(float, r.stdout.split()[-3:])
    return anon, rss, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=32000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT.parent if (ROOT.parent).is_dir() else None) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        sizes = [make_model(tmp / n, args.hidden, args.layers, args.vocab, i)
                 for i, n in enumerate(["math", "code", "science"])]
        models = [tmp / n for n in ("math", "code", "science")]
        print(f"3 random Qwen2 models of {sizes[0] / 1e9:.2f} GB each (fp32) built in {time.perf_counter() - t0:.0f} s")
        ours = run_side(OURS, models, tmp / "ours")
        base = run_side(BASELINE, models, tmp / "baseline")
        print(json.dumps({side: {"peak_anon_mb": round(v[0]), "peak_rss_mb": round(v[1]), "seconds": round(v[2], 1)}
                          for side, v in (("ours", ours), ("baseline", base))}))
        print(f"peak anonymous memory (what the merge must hold): ours {ours[0]:.0f} MB vs baseline {base[0]:.0f} MB"
              f" = {ours[0] / base[0]:.2f}x (target <= 0.50: {'PASS' if ours[0] <= base[0] / 2 else 'FAIL'})")
        print(f"peak RSS incl. memory-mapped weight pages (reclaimable): ours {ours[1]:.0f} MB vs baseline "
              f"{base[1]:.0f} MB = {ours[1] / base[1]:.2f}x")
        print(f"wall: ours {ours[2]:.1f} s vs baseline {base[2]:.1f} s")


if __name__ == "__main__":
    main()
