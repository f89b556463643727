"""Benchmark: retrieval for rephrase decontamination (issue 31): recall@k per kind, and the cost.

Recall: the index holds every distinct original of ``../shared/data/dedup/rephrased_benchmark_pairs.jsonl``
(benchmark items an LLM rephrased or translated) plus the 5,000 MATH test problems as distractors
(6,964 items); each rephrasing is a query, and a hit is its original among the top k. Three
retrievals, each a step of ``curation.dedup.LexicalIndex``:

- ``bm25 words``: plain BM25 over whole items, words and numbers (the issue's measurement);
- ``+ passages``: an item scored by its best unit, the whole item or one of its lines (MaxP);
- ``+ char 4-grams`` (what ``--decontam-judge`` uses): that, fused with the same over character 4-grams.

The design was chosen looking at this file (there is no other set of rephrased benchmark items
here), so the script also reports recall@5 on two halves split by a hash of the original: a choice
fitted to one half would show as a gap.

Cost: every candidate is one judge request. ``k`` candidates per problem (fewer when fewer items
share a term), measured on the rephrasings and on a clean training set (the 7,474 MATH train
problems against MATH-500, AIME 2024/2025, AMC 2023 and GSM8K test), with the retrieval time.

Run: .venv/bin/python bench/decontam_retrieval.py [--ks 1,5,10,20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from curation.dedup.retrieval import BM25, LexicalIndex, top_k, units, words  # noqa: E402


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().split("\n") if line.strip()]


class WordsOnly:
    """BM25 over words and numbers, over whole items (``passages=False``) or their best unit."""

    def __init__(self, texts: list[str], passages: bool):
        unit_texts, self.starts = units(texts) if passages else (texts, np.arange(len(texts)))
        self.bm25 = BM25([words(t) for t in unit_texts])

    def candidates(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        out = []
        for i in range(0, len(queries), 256):
            s = self.bm25.scores([words(q) for q in queries[i:i + 256]])
            out.extend(top_k(np.maximum.reduceat(s, self.starts, axis=1), k))
        return out


def recall_table(ks: list[int]) -> None:
    rows = jsonl(DATA / "dedup/rephrased_benchmark_pairs.jsonl")
    originals = list(dict.fromkeys(r["original"] for r in rows))
    items = originals + [r["problem"] for r in jsonl(DATA / "math/MATH_test.jsonl")]
    where = {t: i for i, t in enumerate(originals)}
    kinds = sorted({r["kind"] for r in rows})
    queries = [r["rephrased"] for r in rows]
    print(f"## Recall@k: {len(rows):,} rephrasings, {len(items):,} items ({len(originals):,} originals + 5,000 MATH "
          f"test problems)\n")
    print("| retrieval | kind | n | " + " | ".join(f"@{k}" for k in ks) + " | build s | query ms/problem |")
    print("|---|---|---:|" + "---:|" * len(ks) + "---:|---:|")
    ours = None
    for name, build in (("bm25 words", lambda: WordsOnly(items, passages=False)),
                        ("+ passages", lambda: WordsOnly(items, passages=True)),
                        ("+ char 4-grams (ours)", lambda: LexicalIndex(items))):
        t0 = time.perf_counter()
        index = build()
        t1 = time.perf_counter()
        found = index.candidates(queries, max(ks))
        t2 = time.perf_counter()
        ranks = [next((n for n, (j, _) in enumerate(c) if j == where[r["original"]]), None)
                 for r, c in zip(rows, found, strict=True)]
        for kind in kinds:
            sel = [rk for r, rk in zip(rows, ranks, strict=True) if r["kind"] == kind]
            cells = " | ".join(f"{sum(rk is not None and rk < k for rk in sel) / len(sel):.3f}" for k in ks)
            print(f"| {name} | {kind} | {len(sel)} | {cells} | {t1 - t0:.1f} | {1000 * (t2 - t1) / len(rows):.2f} |")
        ours = ranks
    halves: dict[tuple[str, int], list] = defaultdict(list)
    for r, rk in zip(rows, ours, strict=True):
        half = hashlib.sha256(r["original"].encode()).digest()[0] & 1
        halves[(r["kind"], half)].append(rk is not None and rk < 5)
    print("\nOurs, recall@5 on two halves split by a hash of the original:\n")
    print("| kind | half A | half B |\n|---|---:|---:|")
    for kind in kinds:
        a, b = halves[(kind, 0)], halves[(kind, 1)]
        print(f"| {kind} | {np.mean(a):.3f} ({len(a)}) | {np.mean(b):.3f} ({len(b)}) |")


def cost_table(k: int) -> None:
    train = [r["problem"] for r in json.loads((DATA / "math/MATH_train.json").read_text())]
    bench = [r["problem"] for r in jsonl(DATA / "math/math500.jsonl")]
    bench += [r["prompt"] for name in ("aime24", "aime25") for r in jsonl(DATA / f"math/{name}.jsonl")]
    bench += [r.get("problem") or r["question"] for r in jsonl(DATA / "math/amc23.jsonl")]
    bench += [r["question"] for r in jsonl(DATA / "math/gsm8k_test.jsonl")]
    t0 = time.perf_counter()
    index = LexicalIndex(bench)
    t1 = time.perf_counter()
    found = index.candidates(train, k)
    t2 = time.perf_counter()
    n = sum(len(c) for c in found)
    print(f"\n## Cost on a clean set (k={k}): {len(train):,} MATH train problems against {len(bench):,} benchmark "
          f"items\n")
    print(f"candidates (judge requests) {n:,} = {n / len(train):.2f} per problem; index built in {t1 - t0:.2f} s, "
          f"retrieval {1000 * (t2 - t1) / len(train):.2f} ms per problem")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ks", default="1,5,10,20")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"real public data not found at {DATA}")
    ks = [int(k) for k in args.ks.split(",")]
    recall_table(ks)
    cost_table(5)


if __name__ == "__main__":
    main()
