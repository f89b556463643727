"""Benchmark: sandboxed judging throughput against plain unsandboxed execution, in one run.

Programs: the 164 HumanEval canonical solutions (../shared/data/code/HumanEval.jsonl.gz).
Plain: each program with its tests (``prompt + solution + test + check(entry_point)``) runs as
an ordinary ``python3 -I`` subprocess, no isolation at all. Ours: ``verifiers.code.judge_many``
with full isolation (bubblewrap, unprivileged uid, rlimits, the trusted judge holding the
tests; each worker's sandbox and its warm interpreter are started inside the timed call, once
per worker). Both use a pool as wide as the machine (2 cores here). Target: ours >= 0.67x plain.

Run: .venv/bin/python bench/sandbox.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plain_run(program: str) -> bool:
    out = subprocess.run(["/usr/bin/python3", "-I", "-c", program], capture_output=True, timeout=30)
    return out.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = [json.loads(line) for line in gzip.open(args.data / "code/HumanEval.jsonl.gz", "rt")]
    from verifiers.code import isolation, judge_many

    workers = os.cpu_count() or 1
    items = [(r["prompt"] + r["canonical_solution"], {"test": r["test"], "entry_point": r["entry_point"]})
             for r in rows]
    programs = [r["prompt"] + r["canonical_solution"] + "\n" + r["test"] + f"\ncheck({r['entry_point']})\n"
                for r in rows]
    judge_many(items[:4], workers=workers)  # warm-up: page cache, the isolation probe
    t_ours, t_plain = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        verdicts = judge_many(items, workers=workers)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            plain_ok = list(pool.map(plain_run, programs))
        t_plain.append(time.perf_counter() - t0)
    best_ours, best_plain = min(t_ours), min(t_plain)
    n = len(rows)
    print(f"{n} HumanEval canonical solutions, {workers} workers, best of {args.repeat}; "
          f"isolation: {isolation()['bwrap']}, unprivileged uid {isolation()['unprivileged_uid']}")
    print(f"  plain subprocess   : {n / best_plain:7.1f} executions/s  ({best_plain:.2f} s, {sum(plain_ok)} passed)")
    print(f"  sandboxed judge    : {n / best_ours:7.1f} executions/s  ({best_ours:.2f} s, "
          f"{sum(v.passed is True for v in verdicts)} passed)")
    print(f"  sandboxed / plain  : {best_plain / best_ours:.2f}x throughput (target >= 0.67x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
