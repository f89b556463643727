"""Token-level cross-entropy over assistant tokens, summed (the caller divides by the global
count of target tokens, so every target token weighs the same however samples are packed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.packing import IGNORE


def packed_logits(model, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """Forward a packed batch. No attention mask and no cache: that is what makes transformers read
    the sample boundaries from the restarting position ids (varlen FlashAttention, or a
    block-diagonal causal mask for sdpa/eager). With a cache it silently attends across samples."""
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
