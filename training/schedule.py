"""The optimizer's schedule and parameter groups, as Hugging Face's Trainer (and so TRL) makes them.

Warmup: ``ceil(warmup_ratio x steps)`` steps during which the rate rises linearly from 0
(``lr x step / warmup`` at 0-based step ``step``: the first update is taken at rate 0, as HF's
``get_*_schedule_with_warmup``), then constant, cosine to 0, or linear to 0.

Weight decay lands on every weight matrix and embedding, never on biases or norm weights. The
decision reads the parameter's name and its full shape: under ZeRO-3 the parameters are already
partitioned (shape ``(0,)``) when the groups are built, and their full shape is ``ds_shape``.
``freeze`` takes parameters out of training by name before the groups are built.
"""

from __future__ import annotations

import math
import re

from curation import ConfigError


def warmup_steps(ratio: float, total: int) -> int:
    return math.ceil(ratio * total)


def lr_lambda(scheduler: str, warmup: int, total: int):
    """Multiplier of the peak rate at 0-based optimizer step ``step``."""
    def f(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        if scheduler == "constant_with_warmup":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if scheduler == "cosine":
            return max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))
        return max(0.0, 1 - progress)  # linear

    return f


def full_shape(param) -> tuple[int, ...]:
    """A parameter's shape before ZeRO-3 partitioning."""
    ds_shape = param.__dict__.get("ds_shape")  # set by deepspeed.zero.Init on partitioned parameters
    return tuple(ds_shape if ds_shape is not None else param.shape)


def decays(name: str, param) -> bool:
    return len(full_shape(param)) >= 2 and "norm" not in name.lower() and not name.endswith(".bias")


def param_groups(model, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if decays(name, p) else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def freeze(model, pattern: str | None) -> None:
    """Stop training the parameters whose name ``pattern`` finds (``re.search``). A pattern that
    finds none, or every one, is a mistake and says so."""
    if pattern is None:
        return
    rx = re.compile(pattern)
    named = list(model.named_parameters())
    frozen = {name for name, _ in named if rx.search(name)}
    if not frozen:
        raise ConfigError([f"freeze: {pattern!r} names no parameter (names look like {named[0][0]!r})"])
    if len(frozen) == len(named):
        raise ConfigError([f"freeze: {pattern!r} names every parameter; nothing would train"])
    for name, p in named:
        if name in frozen:
            p.requires_grad_(False)
