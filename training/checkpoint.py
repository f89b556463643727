"""Gathering ZeRO-partitioned weights into one plain Hugging Face folder, and checkpoint upkeep."""

from __future__ import annotations

import shutil
from pathlib import Path

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def gathered_state_dict(engine, dtype_name: str, rank: int) -> dict | None:
    """The full state dict on rank 0 (None elsewhere), gathered one parameter at a time so no rank
    ever holds more than one full parameter on the accelerator beyond its own shard."""
    import deepspeed
    import torch

    dtype = getattr(torch, DTYPES[dtype_name])
    model = engine.module
    out: dict | None = {} if rank == 0 else None
    zero3 = engine.zero_optimization_stage() == 3
    for name, param in model.named_parameters():
        if zero3:
            with deepspeed.zero.GatheredParameters([param], modifier_rank=None):
                if out is not None:
                    out[name] = param.detach().to("cpu", dtype).clone()
        elif out is not None:
            out[name] = param.detach().to("cpu", dtype).clone()
    if out is not None:  # persistent buffers only (rotary inv_freq and the like are rebuilt at load)
        for prefix, module in model.named_modules():
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent_buffers_set:
                    out[f"{prefix}.{name}" if prefix else name] = buf.detach().cpu().clone()
    return out


def prune_checkpoints(folder: Path, keep: int) -> None:
    tags = sorted((p for p in folder.glob("step-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))
    for old in tags[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def latest_tag(folder: Path) -> str | None:
    f = folder / "latest"
    return f.read_text().strip() if f.exists() else None
