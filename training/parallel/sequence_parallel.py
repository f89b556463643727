"""Sequence parallelism (``--sequence-parallel N``) through DeepSpeed's Ulysses components.

The world's ranks form groups of N consecutive ranks (DeepSpeed's ``parallel_state_sp``); the
ranks of a group train the same sequences, each holding 1/N of every sequence's tokens through
the whole model. Attention is the one place tokens meet: ``UlyssesSPAttentionHF`` wraps the core
attention (``sdpa_varlen`` or FlashAttention) with an all-to-all that gives each rank the whole
sequence for 1/N of the heads, and gathers the position ids, so packed samples keep their
boundaries. The loss is computed per rank on its own positions (targets are shifted before the
split), summed over the world and divided by the global count of target tokens.

Data parallelism runs over the groups: the step plan is split over ``world / N`` data-parallel
ranks. Every rank of a group builds the same micro-batch from the seeded plan and keeps its own
slice, so no batch is sent between ranks (DeepSpeed's ``UlyssesSPDataLoaderAdapter`` gathers and
scatters a DataLoader's batches instead; our plan is deterministic, so the exchange is not needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.loss import shift_targets
from training.packing import IGNORE


@dataclass(frozen=True)
class Layout:
    """Where this process sits: ``world`` ranks in data-parallel groups of ``sp`` ranks each."""

    world: int
    rank: int
    sp: int = 1

    @property
    def dp_world(self) -> int:
        return self.world // self.sp

    @property
    def dp_rank(self) -> int:
        return self.rank // self.sp

    @property
    def sp_rank(self) -> int:
        return self.rank % self.sp


def layout_problem(world: int, sp: int, heads: int, kv_heads: int) -> str | None:
    """Why ``sp`` cannot split this model over this world, or None."""
    if sp == 1:
        return None
    if world % sp:
        return f"sequence_parallel: {sp} does not divide the world of {world} processes"
    if heads % sp:
        return f"sequence_parallel: {sp} does not divide the model's {heads} attention heads"
    if kv_heads % sp and sp % kv_heads:
        return f"sequence_parallel: {sp} and the model's {kv_heads} key/value heads do not divide one another"
    return None


def model_batch(batch: dict, layout: Layout, pad_id: int) -> dict:
    """The arrays this rank feeds the model: ``input_ids``, ``position_ids`` and shifted ``targets``,
    padded to a multiple of ``sp`` (padding is a segment of its own with no target) and sliced to
    this rank's part of the sequence."""
    ids, pos, targets = batch["input_ids"], batch["position_ids"], shift_targets(batch["labels"])
    if layout.sp == 1:
        return {"input_ids": ids, "position_ids": pos, "targets": targets}
    n, width = ids.shape
    extra = -width % layout.sp
    if extra:
        ids = np.concatenate([ids, np.full((n, extra), pad_id, ids.dtype)], axis=1)
        pos = np.concatenate([pos, np.tile(np.arange(extra, dtype=pos.dtype), (n, 1))], axis=1)
        targets = np.concatenate([targets, np.full((n, extra), IGNORE, targets.dtype)], axis=1)
    part = ids.shape[1] // layout.sp
    cut = slice(layout.sp_rank * part, (layout.sp_rank + 1) * part)
    return {"input_ids": ids[:, cut], "position_ids": pos[:, cut], "targets": targets[:, cut]}


def enable(model, core_attention: str, sp: int, micro_batch: int):
    """Wrap the model's attention with Ulysses; returns the parallel-state object DeepSpeed takes
    as ``mpu`` (None for ``sp == 1``)."""
    if sp == 1:
        return None
    from deepspeed.runtime.sequence_parallel.ulysses_sp import UlyssesSPAttentionHF

    return UlyssesSPAttentionHF.register_with_transformers(model, core_attn_implementation=core_attention,
                                                          sequence_parallel_size=sp, micro_batch_size=micro_batch,
                                                          seq_length_is_variable=True)
