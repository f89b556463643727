"""Packing efficiency on real long reasoning traces: the share of non-padding tokens per batch.

Neat packing (first-fit-decreasing bins up to the cutoff, as the trainer builds them) against
the usual baseline, padding each sample to its batch's longest, measured in one run over the
same token lengths (the assistant turns of ../shared/data/traces/longcot_math500.jsonl under a
byte-level BPE trained on those traces; no download).
Run: .venv/bin/python bench/packing.py [--cutoff 16384] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from training.packing import collate, epoch_bins

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "traces" / "longcot_math500.jsonl"


def build_lengths(rows: list[dict]) -> np.ndarray:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    texts = [r["question"] + "\n" + (r["code"][0] if isinstance(r["code"], list) else r["code"]) for r in rows]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=16000, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return np.array([len(e.ids) + 8 for e in tok.encode_batch(texts)])  # + chat-template tokens


class _Lengths:
    """Stands in for a TokenizedSet: only lengths matter for padding."""

    def __init__(self, lengths):
        self.lengths = lengths

    def sample(self, i):
        n = int(self.lengths[i])
        return np.zeros(n, np.int32), np.ones(n, bool)


def fill(data, batches: list[list[list[int]]], mode: str) -> float:
    real = total = 0
    for bins in batches:
        b = collate(data, bins, mode, 0)
        real += b["real_tokens"]
        total += b["total_tokens"]
    return real / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cutoff", type=int, default=16384)
    ap.add_argument("--batch", type=int, default=8, help="sequences per micro-batch for the padding baseline")
    ap.add_argument("--packed-batch", type=int, default=1, help="packed sequences per micro-batch")
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"data not found: {DATA}")
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    lengths = build_lengths(rows)
    lengths = lengths[lengths <= args.cutoff]
    data = _Lengths(lengths)
    print(f"{len(lengths)} traces, tokens per trace: median {int(np.median(lengths))}, p90 "
          f"{int(np.percentile(lengths, 90))}, max {lengths.max()}; cutoff {args.cutoff}")

    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    padded = [[[i] for i in order[k:k + args.batch]] for k in range(0, len(order), args.batch)]
    base = fill(data, padded, "none")
    grouped_bins = epoch_bins(lengths, args.cutoff, "none", seed=0, epoch=0, group=args.batch)
    grouped = fill(data, [grouped_bins[k:k + args.batch] for k in range(0, len(grouped_bins), args.batch)], "none")
    bins = epoch_bins(lengths, args.cutoff, "neat", seed=0, epoch=0)
    pb = args.packed_batch
    neat = fill(data, [bins[k:k + pb] for k in range(0, len(bins), pb)], "neat")
    of_cutoff = lengths.sum() / (len(bins) * args.cutoff)
    print(f"padding to batch max (random order, batch {args.batch}):    {base:6.1%} non-padding tokens")
    print(f"padding to batch max (length-grouped, batch {args.batch}):  {grouped:6.1%}")
    print(f"neat packing ({len(bins)} sequences, {pb} per micro-batch):    {neat:6.1%}   "
          f"(of the full cutoff: {of_cutoff:.1%})")
    print(f"ratio neat / random padding: {neat / base:.2f}x; target >= 95% for packing: "
          f"{'PASS' if min(neat, of_cutoff) >= 0.95 else 'FAIL'}")


if __name__ == "__main__":
    main()
