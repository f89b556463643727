"""Token-level cross-entropy over assistant tokens, summed (the caller divides by the global count
of target tokens, so every target token weighs the same however samples are packed or sharded).

The training loss never holds the full-vocabulary logits. ``final_hidden`` runs the model to its
last hidden state (the language-model head is asked for no positions), and ``tiled_loss_sum``
applies the head to the target positions only, a tile of tokens at a time, each tile under
activation checkpointing: a tile's logits exist only while that tile's loss (forward) or gradient
(backward) is computed. For Qwen2.5's 152,064-entry vocabulary the full logits would be ~15 bytes
per token-entry across the forward and backward (35 GB at 16,384 tokens); a tile of 256 tokens
holds about 0.6 GB at its peak. The head runs once more per tile than an untiled loss (the
recompute), which is ~1/3 of the head's cost, under 1% of a 32B model's step.

Targets are shifted before the forward (``shift_targets``): position t predicts token t+1. That
is what lets a sample's tokens be split over sequence-parallel ranks, each computing the loss of
its own positions. ``full_logits_loss_sum`` is the untiled reference (``--loss full``), kept for
tests, the memory benchmark and debugging.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from training.packing import IGNORE

# Logit entries (tokens x vocabulary) of one tile: 2**26 is ~0.25 GB in fp32, ~1 GB at the tile's
# peak (logits, their float copy, the softmax gradient); 441 tokens for a 152,064-entry vocabulary.
TILE_ENTRIES = 2**26


def shift_targets(labels: np.ndarray) -> np.ndarray:
    """``targets[:, t] = labels[:, t + 1]`` and ``IGNORE`` at the last position."""
    out = np.full_like(labels, IGNORE)
    out[:, :-1] = labels[:, 1:]
    return out


def tile_tokens(vocab_size: int, setting: int = 0) -> int:
    """Tokens per loss tile: the setting, or (0) as many as fit ``TILE_ENTRIES`` logit entries."""
    return setting if setting > 0 else max(16, TILE_ENTRIES // max(1, vocab_size))


def final_hidden(model, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """The decoder's last hidden state (after the final norm), computed through the full model's
    call (so DeepSpeed's hooks on the root module run) with the head asked for no positions.

    No attention mask and no cache: transformers then reads the sample boundaries from the
    restarting position ids (``training.attention`` or varlen FlashAttention). With a cache it
    silently attends across samples."""
    module = model.module if hasattr(model, "module") and hasattr(model, "backward") else model
    captured: list[torch.Tensor] = []
    handle = module.get_decoder().register_forward_hook(lambda _m, _i, out: captured.append(out[0]))
    try:
        model(input_ids=input_ids, position_ids=position_ids, use_cache=False,
              logits_to_keep=torch.zeros(0, dtype=torch.long, device=input_ids.device))
    finally:
        handle.remove()
    return captured[0]


def _tile_loss(head, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(hidden).float()
    return F.cross_entropy(logits, targets, reduction="sum")


def tiled_loss_sum(head, hidden: torch.Tensor, targets: torch.Tensor, tile: int) -> torch.Tensor:
    """Summed cross-entropy of ``head(hidden)`` against ``targets`` (``IGNORE`` skipped), one tile
    of target positions at a time; equal to the untiled sum within float rounding."""
    flat = hidden.reshape(-1, hidden.shape[-1])
    t = targets.reshape(-1)
    keep = (t != IGNORE).nonzero().squeeze(1)
    if keep.numel() == 0:
        # No target here: the head still runs (on one position, weighted 0) so that every rank's
        # backward touches the same parameters (ZeRO reduces gradients parameter by parameter).
        return _tile_loss(head, flat[:1], torch.zeros(1, dtype=t.dtype, device=t.device)) * 0.0
    h, t = flat.index_select(0, keep), t.index_select(0, keep)
    total = None
    for start in range(0, h.shape[0], tile):
        part = checkpoint(_tile_loss, head, h[start:start + tile], t[start:start + tile], use_reentrant=False)
        total = part if total is None else total + part
    return total


def full_logits_loss_sum(model, input_ids: torch.Tensor, position_ids: torch.Tensor,
                         targets: torch.Tensor) -> torch.Tensor:
    """The untiled reference: the whole logits tensor, cast to fp32, then cross-entropy."""
    logits = model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")


def packed_logits(model, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """Forward a packed batch to its full logits (evaluation and tests; training uses the tiles)."""
    return model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits


def shifted_token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-position loss (0 where the label is ignored), shape ``labels[:, 1:]``."""
    logits = logits[:, :-1].float()
    target = labels[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE,
                           reduction="none").view(target.shape)


def per_sample_losses(logits: torch.Tensor, labels: torch.Tensor, seq_lens: list[list[int]]) -> list[float]:
    """Mean loss over each packed sample's target tokens, in packing order."""
    losses = shifted_token_losses(logits, labels)
    counted = (labels[:, 1:] != IGNORE)
    out = []
    for row, lens in enumerate(seq_lens):
        start = 0
        for n in lens:
            # predictions for this sample's tokens 1..n-1 sit at shifted positions start..start+n-2
            sl = slice(start, start + n - 1)
            k = counted[row, sl].sum()
            out.append(float(losses[row, sl].sum() / k) if k else float("nan"))
            start += n
    return out
