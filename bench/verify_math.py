"""Benchmark: ``verifiers.math.verify_many`` against a plain math-verify loop, in one run.

Inputs: the real responses of ../shared/data/traces/math_cot_100x8.jsonl (800 short
chain-of-thought answers) and traces/longcot_math500.jsonl (500 long reasoning traces).
Baseline: one process, ``math_verify.verify(parse("\\boxed{gold}"), parse(response))`` per
response with math-verify's defaults (its own 5 s timeouts). Ours: ``verify_many`` with the
default worker count. Two like-for-like pairs:

- cold: the baseline in a fresh interpreter (import and parser tables built as it goes) against
  ``verify_many`` starting its pool (fork server, warm-up, workers);
- warm: both sides have verified these responses before and forgot every parsed answer
  (math-verify's caches cleared on both sides, our workers' memos too), keeping only the LaTeX
  parser's prediction tables, as in the middle of a long curation run.

Prints samples/s of both, the ratio, the agreement on responses both finished, and every
disagreement so a reader can judge which side is right. Target: ratio >= 3x, agreement >= 99%.

Run: .venv/bin/python bench/verify_math.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_pairs(data: Path) -> list[tuple[str, str, str]]:
    pairs = []
    for name in ("traces/math_cot_100x8.jsonl", "traces/longcot_math500.jsonl"):
        for line in (data / name).read_text().splitlines():
            row = json.loads(line)
            for response in row["code"]:
                pairs.append((name.split("/")[1].split(".")[0], response, str(row["gt"])))
    return pairs


def baseline(pairs):
    import math_verify.parser
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    # math-verify memoises parsed LaTeX; start each repetition without the previous one's cache
    # (the parser's own tables stay warm, as they would in one long run).
    math_verify.parser.parse_latex_cached.cache_clear()
    math_verify.parser.parse_expr_cached.cache_clear()
    out = []
    for _, response, gold in pairs:
        t0 = time.perf_counter()
        ok = verify(parse("\\boxed{" + gold + "}"), parse(response))
        out.append((ok, time.perf_counter() - t0))
    return out


def cold_baseline(data: Path) -> float:
    """The baseline loop in a fresh interpreter, its math-verify import included."""
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--data", str(data), "--cold-baseline"], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side; the best time of each is reported")
    ap.add_argument("--cold-baseline", action="store_true", help=argparse.SUPPRESS)  # one timed loop, for the above
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"data folder not found: {args.data}", file=sys.stderr)
        return 2
    pairs = load_pairs(args.data)
    if args.cold_baseline:
        t0 = time.perf_counter()
        baseline(pairs)  # imports math-verify itself
        print(time.perf_counter() - t0)
        return 0

    from verifiers.deadline_pool import _close_pools, shared_pool
    from verifiers.math import verify_many

    items = [(r, g) for _, r, g in pairs]
    t_cold, t_warm, t_base, t_base_cold = [], [], [], []
    for _ in range(args.repeat):  # alternate the sides so machine noise hits both alike
        _close_pools()
        t0 = time.perf_counter()
        ours = verify_many(items, timeout_s=5.0)
        t_cold.append(time.perf_counter() - t0)
        t_base_cold.append(cold_baseline(args.data))
        shared_pool("verifiers.math.equivalence:check").clear_caches()
        t0 = time.perf_counter()
        verify_many(items, timeout_s=5.0)
        t_warm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        base = baseline(pairs)
        t_base.append(time.perf_counter() - t0)
    # best of N for each side: the least disturbed run
    t_cold, t_warm, t_base, t_base_cold = min(t_cold), min(t_warm), min(t_base), min(t_base_cold)

    finished = [i for i, (v, (_, secs)) in enumerate(zip(ours, base, strict=True))
                if v.reason not in ("timeout", "verifier_error") and secs < 5.0]
    # A cut-off trace (a reasoning block opened and never closed) is never a pass for us, by
    # design (issue 16): math-verify reads whatever it boxed last. Those are counted apart.
    cut_off = [i for i in finished if ours[i].reason == "truncated_reasoning"]
    complete = [i for i in finished if ours[i].reason != "truncated_reasoning"]
    disagree = [i for i in complete if (ours[i].passed is True) != bool(base[i][0])]
    agreement = 1 - len(disagree) / len(complete)
    by_set: dict[str, list[int]] = {}
    for i, (name, _, _) in enumerate(pairs):
        by_set.setdefault(name, []).append(i)

    print(f"responses: {len(pairs)} ({', '.join(f'{k} {len(v)}' for k, v in by_set.items())}); "
          f"cores: {os.cpu_count()}; best of {args.repeat} runs per side")
    n = len(pairs)
    print(f"cold  plain math-verify loop : {n / t_base_cold:7.1f} samples/s  ({t_base_cold:.2f} s, fresh interpreter)")
    print(f"cold  verify_many            : {n / t_cold:7.1f} samples/s  ({t_cold:.2f} s, pool start-up included)")
    print(f"warm  plain math-verify loop : {n / t_base:7.1f} samples/s  ({t_base:.2f} s)")
    print(f"warm  verify_many            : {n / t_warm:7.1f} samples/s  ({t_warm:.2f} s)")
    print(f"speed-up                     : {t_base / t_warm:7.2f}x warm, {t_base_cold / t_cold:.2f}x cold"
          f"   (target >= 3x)")
    print(f"both finished          : {len(finished)}/{len(pairs)}; agreement {agreement:.2%} on the "
          f"{len(complete)} complete traces (target >= 99%)")
    print(f"cut-off traces         : {len(cut_off)}, all rejected by us (truncated_reasoning); math-verify passes "
          f"{sum(bool(base[i][0]) for i in cut_off)} of them on the last answer they happen to box")
    for name, idx in by_set.items():
        ours_pass = sum(ours[i].passed is True for i in idx)
        base_pass = sum(bool(base[i][0]) for i in idx)
        print(f"  {name}: ours passes {ours_pass}, math-verify passes {base_pass} of {len(idx)}")
    reasons: dict[str, int] = {}
    for v in ours:
        reasons[v.reason] = reasons.get(v.reason, 0) + 1
    print(f"our verdicts by reason : {dict(sorted(reasons.items()))}")
    print(f"\ndisagreements ({len(disagree)}):")
    for i in disagree:
        name, response, gold = pairs[i]
        tail = response[-160:].replace("\n", " ")
        print(f"- [{name} #{i}] gold={gold!r} ours={ours[i].passed} ({ours[i].reason}: {ours[i].detail}) "
              f"math-verify={bool(base[i][0])}\n    ...{tail}")
    if args.json:
        args.json.write_text(json.dumps({
            "responses": len(pairs), "ours_cold_s": t_cold, "ours_warm_s": t_warm, "baseline_warm_s": t_base,
            "baseline_cold_s": t_base_cold, "ratio_warm": t_base / t_warm, "ratio_cold": t_base_cold / t_cold,
            "finished": len(finished), "agreement": agreement, "disagreements": disagree}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
