"""The memory plan (``train --plan-memory``) against measured peaks of real CPU trainings.

Each configuration is a real ``train`` run (DeepSpeed on CPU, gloo, fp32, ``--packing none``, two
optimizer steps so that Adam's states are held during the second backward, as in a long run) on a
random Qwen2 of small depth, in its own process or two processes under torchrun. The measured peak
is ``ru_maxrss`` from ``os.wait4``, taken by a lean parent (``tests/helpers/peak_rss.py``): for
torchrun that is the largest of the launcher and the ranks it reaps (Linux keeps the largest RSS of
the waited-for descendants), i.e. the per-rank peak the plan predicts. The runs use a fixed glibc
mmap threshold (``MMAP_THRESHOLD``), so that RSS follows live bytes; ``--glibc-default`` measures
under glibc's defaults instead, where freed activations stay resident. The prediction is
``plan_memory(..., device="cpu")`` for the same settings and the sample's real length, with nothing
fitted per configuration; its one measured constant, the CPU runtime baseline (python, torch,
deepspeed, transformers), is measured first in the same environment: a run whose model is
negligible, less the plan's terms for it (``--calibrate`` stops there).

Run: .venv/bin/python bench/memory_plan.py [--only NAME ...] [--calibrate] [--glibc-default] [--out FILE]
One configuration at a time; each stays under ~4 GB of RAM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
# glibc serves blocks up to 32 MiB from its heap once a block that large has been freed, and keeps
# them resident after they are freed; a fixed threshold returns freed blocks over 1 MiB to the
# system, so RSS follows the live bytes the plan counts (as max_memory_allocated does on a GPU).
MMAP_THRESHOLD = 2**20


@dataclass(frozen=True)
class Case:
    name: str
    vocab: int
    hidden: int
    tokens: int
    zero: int = 2
    procs: int = 1
    sp: int = 1
    loss: str = "tiled"
    layers: int = 2


CASES = [
    Case("v152k-h256-3k-z2", 152064, 256, 3136),
    Case("v152k-h256-12k-z2", 152064, 256, 12600),
    Case("v152k-h256-3k-z3", 152064, 256, 3136, zero=3),
    Case("v32k-h512-6k-full", 32768, 512, 6000, loss="full"),
    Case("v32k-h1024-2k-z2-4l", 32768, 1024, 2000, layers=4),
    Case("v8k-h512-16k-z2-4l", 8192, 512, 16000, layers=4),
    Case("v152k-h256-3k-z2-2p", 152064, 256, 3136, procs=2),
    Case("v152k-h256-3k-z3-2p", 152064, 256, 3136, zero=3, procs=2),
    Case("v152k-h256-12k-z3-sp2", 152064, 256, 12600, zero=3, procs=2, sp=2),
]
CALIBRATION = Case("calibrate", 400, 64, 300)


def build_model(work: Path, case: Case) -> Path:
    """A random Qwen2 with heads of 64 (as the paper's students) and the case's vocabulary."""
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    from helpers.tiny_models import build_qwen2
    from transformers import AutoConfig, AutoModelForCausalLM

    model = work / f"model-{case.vocab}-{case.hidden}-{case.layers}"
    if model.exists():
        return model
    build_qwen2(model, hidden=case.hidden, layers=case.layers, vocab_size=case.vocab)
    cfg = json.loads((model / "config.json").read_text())
    cfg.update(num_attention_heads=max(1, case.hidden // 64), num_key_value_heads=max(1, case.hidden // 128),
               head_dim=64)
    (model / "config.json").write_text(json.dumps(cfg))
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).save_pretrained(model)
    return model


def sample_set(work: Path, model: Path, tokens: int, rows: int) -> tuple[Path, int]:
    """A curated-style folder of ``rows`` equal conversations of about ``tokens`` tokens; and their length."""
    import datasets
    from train_memory import long_messages  # (this folder: the same long conversation as that bench)
    from transformers import AutoTokenizer

    from training import tokenize_conversation

    tok = AutoTokenizer.from_pretrained(model)
    messages = long_messages(tok, tokens)
    out = work / f"set-{model.name}-{tokens}-{rows}"
    if not out.exists():
        (out / "data").mkdir(parents=True)
        datasets.Dataset.from_list([{"messages": messages}] * rows).to_parquet(
            str(out / "data" / "train-00000-of-00001.parquet"))
    return out, len(tokenize_conversation(tok, messages)[0])


def settings(case: Case, model: Path, data: Path, length: int, out: Path) -> dict:
    """The run's ``train`` settings (flags without their dashes)."""
    return {"model": str(model), "data": [str(data)], "output": str(out), "cutoff": length, "packing": "none",
            "global_batch": case.procs // case.sp, "max_steps": 2, "zero_stage": case.zero, "precision": "fp32",
            "loss": case.loss, "save_dtype": "bf16", "sequence_parallel": case.sp, "save_steps": 1000}


def cli_args(values: dict) -> list[str]:
    args = ["--branch", "science"]
    for key, value in values.items():
        for v in value if isinstance(value, list) else [value]:
            args += [f"--{key.replace('_', '-')}", str(v)]
    return args


def measure(case: Case, values: dict, port: int, glibc_default: bool = False) -> float:
    """Peak RSS in bytes of the largest process of the run."""
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.peak_rss import peak_rss

    launcher = [sys.executable, "-m"] if case.procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(case.procs), "--master_port", str(port),
        "-m"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    if not glibc_default:
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    status, peak, err = peak_rss([*launcher, "training.cli", *cli_args(values)], env, ROOT)
    if status != 0:
        raise SystemExit(f"{case.name}: exit {status}\n{err}")
    return peak


def predict(case: Case, values: dict, length: int, runtime: float | None = None):
    from training import build_train_config
    from training.memory_plan import load_shape, plan_memory

    cfg = build_train_config("science", overrides=values)
    return plan_memory(load_shape(values["model"]), cfg, case.procs, device="cpu", tokens=length, runtime=runtime)


def run_case(work: Path, case: Case, port: int, glibc_default: bool, runtime: float | None = None) -> tuple:
    """``(the plan, the measured peak in bytes, the sample's length)``."""
    model = build_model(work, case)
    data, length = sample_set(work, model, case.tokens, case.procs // case.sp)
    values = settings(case, model, data, length, work / f"run-{case.name}")
    plan = predict(case, values, length, runtime)
    return plan, measure(case, values, port, glibc_default), length


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", help="run only these configurations")
    ap.add_argument("--calibrate", action="store_true", help="only measure the CPU runtime baseline")
    ap.add_argument("--glibc-default", action="store_true",
                    help="measure under glibc's default heap (freed blocks up to 32 MiB stay resident)")
    ap.add_argument("--work", type=Path, help="keep models and sets here (default: a temporary folder)")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = ap.parse_args()
    cases = [] if args.calibrate else [c for c in CASES if not args.only or c.name in args.only]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"torch {version('torch')}, deepspeed {version('deepspeed')}, transformers {version('transformers')}; "
              f"glibc {'default' if args.glibc_default else f'MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD}'}")
        # the runtime baseline of this environment: a run whose model is negligible, less the plan's terms for it
        port = 29600 + os.getpid() % 200
        plan, measured, _ = run_case(work, CALIBRATION, port, args.glibc_default)
        runtime = measured - (plan.total - plan.terms[0].bytes)
        print(f"CPU runtime baseline: {runtime / GIB:.3f} GiB measured (training.memory_plan.CPU_RUNTIME: "
              f"{plan.terms[0].bytes / GIB:.3f})", flush=True)
        print(f"{'configuration':<24}{'tokens':>7}{'ranks':>6}  {'predicted GiB':>13}{'measured GiB':>13}{'ratio':>7}",
              flush=True)
        for i, case in enumerate(cases):
            plan, measured, length = run_case(work, case, port + 1 + i, args.glibc_default, runtime)
            row = {"case": case.name, "tokens": length, "ranks": case.procs, "sp": case.sp, "zero": case.zero,
                   "loss": case.loss, "predicted_gib": round(plan.total / GIB, 3),
                   "measured_gib": round(measured / GIB, 3), "ratio": round(plan.total / measured, 3),
                   "terms_gib": {t.name: round(t.bytes / GIB, 3) for t in plan.terms}}
            results.append(row)
            print(f"{case.name:<24}{length:>7}{case.procs:>6}  {row['predicted_gib']:>13.2f}"
                  f"{row['measured_gib']:>13.2f}{row['ratio']:>7.2f}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
