"""Attention over packed sequences without an L x L mask.

With ``sdpa`` and packed samples (position ids restarting at 0, no attention mask), transformers
builds a block-diagonal boolean mask of shape (batch, 1, L, L) for every forward: 268 MB at 16,384
tokens, rebuilt on each recompute, and a masked sdpa call cannot use the flash kernels.
``sdpa_varlen`` (registered with transformers under that name) reads the sample boundaries from
the position ids instead and runs causal sdpa on each sample's span, so memory stays linear in the
sequence length and every call can take the fused kernels. It is what ``--attn-implementation
auto`` picks where FlashAttention (varlen) is not installed. Sequence parallelism wraps it (the
Ulysses all-to-all gathers the full sequence and its position ids before it runs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NAME = "sdpa_varlen"


def segments(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of one row: a new segment wherever the position does not follow on."""
    pos = position_ids.reshape(-1)
    if pos.numel() == 0:
        return []
    breaks = (pos[1:] != pos[:-1] + 1).nonzero().squeeze(1) + 1
    edges = [0, *breaks.tolist(), pos.numel()]
    return list(zip(edges[:-1], edges[1:], strict=False))


def sdpa_varlen_forward(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask,
                        dropout: float = 0.0, scaling: float | None = None, position_ids: torch.Tensor | None = None,
                        **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: q ``[B, H, L, D]``, k/v ``[B, Hkv, L, D]`` ->
    ``([B, L, H, D], None)``. Causal within each segment of ``position_ids``; without position
    ids, causal over the whole row."""
    if attention_mask is not None:
        raise ValueError(f"{NAME} reads sample boundaries from position ids and takes no attention mask")
    batch, heads, length, _ = query.shape
    gqa = key.shape[1] != heads
    out = torch.empty_like(query)
    for b in range(batch):
        spans = segments(position_ids[b] if position_ids is not None and position_ids.shape[0] > 1 else
                         position_ids[0]) if position_ids is not None else [(0, length)]
        for start, end in spans:
            out[b:b + 1, :, start:end] = F.scaled_dot_product_attention(
                query[b:b + 1, :, start:end], key[b:b + 1, :, start:end], value[b:b + 1, :, start:end],
                dropout_p=dropout, is_causal=True, scale=scaling, enable_gqa=gqa)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register ``sdpa_varlen`` with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, sdpa_varlen_forward)
    return NAME
