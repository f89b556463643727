"""Benchmark: our near-duplicate stage against a plain datasketch loop, in one run.

Documents: every real problem in ../shared/data/math (MATH test and train, past AIME, AMC,
GSM8K; about 14.8k), plus seeded perturbed copies up to the requested size: a third
re-spaced and re-cased (duplicates), a third with one word changed (near duplicates), a
third with their numbers changed (distinct problems that must survive).

Ours: ``curation.dedup.minhash.signatures`` (vectorised, batches of 2048 documents) + ``cluster``.
Baseline: one ``datasketch.MinHash`` per document with one ``update`` per shingle, then
``MinHashLSH.query`` / ``insert`` greedily in the same order. Both use the same shingles and
parameters (threshold 0.8, 128 permutations, word 3-grams), so they must find the same
clusters; the script checks it. Each side runs in its own subprocess so that peak memory
(max RSS) is its own.

Run: .venv/bin/python bench/dedup.py [--sizes 10000,100000,1000000] [--compare 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
THRESHOLD, NUM_PERM, SHINGLE = 0.8, 128, 3


def real_problems(data: Path) -> list[str]:
    texts: list[str] = []
    for name, key in (("MATH_test.jsonl", "problem"), ("gsm8k_test.jsonl", "question"), ("amc23.jsonl", "problem"),
                      ("aime24.jsonl", "prompt"), ("aime25.jsonl", "prompt")):
        for line in (data / "math" / name).read_text().split("\n"):
            if line.strip():
                row = json.loads(line)
                texts.append(row.get(key) or row.get("question") or "")
    for name in ("MATH_train.json", "aime_1983_2023.json"):
        texts.extend(r["problem"] for r in json.loads((data / "math" / name).read_text()))
    return [t for t in texts if t]


def perturb(text: str, rng: random.Random, kind: int) -> str:
    if kind == 0:
        return "  " + re.sub(r" ", "  ", text).upper() + " "
    words = text.split(" ")
    if kind == 1:
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "a", "some", "this", "that"])
        return " ".join(words)
    return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 97)), text) + f" ({rng.randint(2, 999)})"


def corpus(data: Path, size: int) -> list[str]:
    base = real_problems(data)
    rng = random.Random(1234)
    docs = list(base[:size])
    while len(docs) < size:
        docs.append(perturb(rng.choice(base), rng, len(docs) % 3))
    return docs


def run_ours(docs: list[str]) -> list[int]:
    from curation.dedup.minhash import cluster, signatures

    sigs = signatures(docs, num_perm=NUM_PERM, shingle=SHINGLE)
    return [int(x) for x in cluster(sigs, list(range(len(docs))), THRESHOLD)]


def run_plain(docs: list[str]) -> list[int]:
    from datasketch import MinHash, MinHashLSH

    from curation.dedup.text_normalize import shingle_hash_py, tokens

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    out = []
    for i, doc in enumerate(docs):
        m = MinHash(num_perm=NUM_PERM, hashfunc=shingle_hash_py)
        toks = tokens(doc)
        n = min(SHINGLE, len(toks))
        for j in range(len(toks) - n + 1) if toks else ():
            m.update(tuple(toks[j:j + n]))
        hits = lsh.query(m)
        if hits:
            out.append(min(hits))
        else:
            lsh.insert(i, m)
            out.append(i)
    return out


def worker(side: str, size: int, data: Path) -> None:
    docs = corpus(data, size)
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result = run_ours(docs) if side == "ours" else run_plain(docs)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"side": side, "size": size, "seconds": seconds, "peak_rss_mb": peak / 1024,
                      "rss_before_mb": start_rss / 1024, "dropped": sum(r != i for i, r in enumerate(result)),
                      "clusters_sha": hashlib.sha256(json.dumps(result).encode()).hexdigest()}))


def measure(side: str, size: int, data: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", side, "--size", str(size), "--data", str(data)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description="near-duplicate stage vs a plain datasketch loop")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--compare", type=int, default=100_000, help="corpus size for the head-to-head run")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="sizes for our scaling run")
    ap.add_argument("--worker", choices=["ours", "plain"], help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.size, args.data)
        return 0
    if not args.data.is_dir():
        print(f"data folder not found: {args.data}", file=sys.stderr)
        return 2
    ours = measure("ours", args.compare, args.data)
    plain = measure("plain", args.compare, args.data)
    same = ours["clusters_sha"] == plain["clusters_sha"]
    print(f"{args.compare:,} problems ({len(real_problems(args.data)):,} real + perturbed copies), threshold "
          f"{THRESHOLD}, {NUM_PERM} permutations, word {SHINGLE}-grams")
    for r in (plain, ours):
        name = "plain datasketch loop" if r["side"] == "plain" else "our stage"
        print(f"  {name:22s}: {r['size'] / r['seconds']:9.0f} docs/s  {r['seconds']:7.2f} s  peak RSS "
              f"{r['peak_rss_mb']:6.0f} MB  dropped {r['dropped']:,}")
    print(f"  speed-up: {plain['seconds'] / ours['seconds']:.1f}x (target >= 5x); same clusters: {same}")
    print("scaling (ours):")
    for size in [int(s) for s in args.sizes.split(",") if s]:
        r = ours if size == args.compare else measure("ours", size, args.data)
        print(f"  {size:>9,} problems: {r['seconds']:7.2f} s  {1e6 * r['seconds'] / size:6.1f} us/doc  peak RSS "
              f"{r['peak_rss_mb']:6.0f} MB  dropped {r['dropped']:,}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
