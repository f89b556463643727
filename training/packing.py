"""Packing samples into sequences, the seeded length-grouped order, and the collator.

``neat``: several samples per sequence with position ids restarting at 0 for each sample and no
attention mask, which transformers turns into per-sample (block-diagonal) attention: varlen
FlashAttention when installed, an equivalent mask for sdpa/eager. ``plain``: the same bins but
position ids running through the whole sequence, so packed samples attend to each other (the
cheaper, lossier mode). ``none``: one sample per sequence, padded to the micro-batch's longest.
"""

from __future__ import annotations

import random

import numpy as np

IGNORE = -100
WINDOW = 2048  # samples packed together: large enough for tight bins, small enough to stay shuffled


def first_fit_decreasing(lengths: dict[int, int], cutoff: int) -> list[list[int]]:
    """Bins of sample indices whose lengths sum to at most ``cutoff`` (longest samples placed first)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(lengths, key=lambda k: (-lengths[k], k)):
        n = lengths[i]
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(cutoff - n)
    return bins


def epoch_bins(lengths: np.ndarray, cutoff: int, mode: str, seed: int, epoch: int, group: int = 1) -> list[list[int]]:
    """The sequences of one epoch, each a list of sample indices, in a seeded order.

    ``group``: sequences per optimizer step; unpacked samples are length-grouped within it.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if mode == "none":
        window = max(1, group) * 8
        bins = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
            bins += [[i] for i in chunk]
        batches = [bins[i:i + group] for i in range(0, len(bins), group)]
        rng.shuffle(batches)
        return [b for batch in batches for b in batch]
    bins = []
    for start in range(0, len(order), WINDOW):
        bins += first_fit_decreasing({i: int(lengths[i]) for i in order[start:start + WINDOW]}, cutoff)
    rng.shuffle(bins)
    return bins


def collate(data, bins: list[list[int]], mode: str, pad_id: int) -> dict:
    """A micro-batch of sequences -> ``input_ids``, ``labels``, ``position_ids`` (numpy), plus the
    sample boundaries (``seq_lens``) and the count of real tokens."""
    rows = []
    for members in bins:
        ids, labels, pos, lens = [], [], [], []
        for i in members:
            x, m = data.sample(i)
            ids.append(x)
            labels.append(np.where(m, x, IGNORE))
            pos.append(np.arange(len(x)))
            lens.append(len(x))
        ids, labels = np.concatenate(ids), np.concatenate(labels)
        pos = np.concatenate(pos) if mode == "neat" else np.arange(len(ids))
        rows.append((ids, labels, pos, lens))
    width = max(len(r[0]) for r in rows)
    n = len(rows)
    input_ids = np.full((n, width), pad_id, dtype=np.int64)
    labels = np.full((n, width), IGNORE, dtype=np.int64)
    position_ids = np.zeros((n, width), dtype=np.int64)
    for k, (ids, lab, pos, _) in enumerate(rows):
        input_ids[k, :len(ids)] = ids
        labels[k, :len(ids)] = lab
        position_ids[k, :len(ids)] = pos
        # padding: a segment of its own at the end (causal attention never looks forward into it)
        position_ids[k, len(ids):] = np.arange(width - len(ids))
    real = sum(len(r[0]) for r in rows)
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids,
            "seq_lens": [r[3] for r in rows], "real_tokens": real, "total_tokens": n * width}


class StepPlan:
    """Which sequences each rank trains on at each optimizer step, for every epoch, seeded.

    The same seed gives the same order, which is what lets ``--resume`` continue mid-epoch.
    An epoch's sequences are padded to a whole number of steps by repeating its first ones.
    """

    def __init__(self, lengths: np.ndarray, cutoff: int, mode: str, seed: int, global_batch: int,
                 micro_batch: int, world_size: int, epochs: int):
        self.lengths, self.cutoff, self.mode, self.seed = lengths, cutoff, mode, seed
        self.global_batch, self.micro, self.world = global_batch, micro_batch, world_size
        self.epochs = epochs
        self._cache: dict[int, list[list[int]]] = {}
        self.steps_per_epoch = [self._n_steps(e) for e in range(epochs)]

    def bins(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            self._cache = {epoch: epoch_bins(self.lengths, self.cutoff, self.mode, self.seed, epoch,
                                             self.global_batch)}
        return self._cache[epoch]

    def _n_steps(self, epoch: int) -> int:
        return max(1, -(-len(self.bins(epoch)) // self.global_batch))

    @property
    def total_steps(self) -> int:
        return sum(self.steps_per_epoch)

    def locate(self, step: int) -> tuple[int, int]:
        """Global step -> (epoch, step within the epoch); ``--max-steps`` past the planned epochs
        goes on with further epochs, each freshly shuffled."""
        epoch = 0
        while True:
            if epoch == len(self.steps_per_epoch):
                self.steps_per_epoch.append(self._n_steps(epoch))
            if step < self.steps_per_epoch[epoch]:
                return epoch, step
            step -= self.steps_per_epoch[epoch]
            epoch += 1

    def micro_batches(self, step: int, rank: int) -> list[list[list[int]]]:
        epoch, k = self.locate(step)
        bins = self.bins(epoch)
        need = self.steps_per_epoch[epoch] * self.global_batch
        padded = bins + [bins[i % len(bins)] for i in range(need - len(bins))]
        chunk = padded[k * self.global_batch:(k + 1) * self.global_batch]
        per_micro = self.micro * self.world
        return [chunk[j * per_micro + rank * self.micro: j * per_micro + (rank + 1) * self.micro]
                for j in range(len(chunk) // per_micro)]
