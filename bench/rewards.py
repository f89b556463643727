"""Benchmark: ``verifiers.rewards.math_reward`` against TRL's own math accuracy reward, in one run.

Inputs: the 1,300 real responses of ../shared/data/traces/math_cot_100x8.jsonl (800) and
traces/longcot_math500.jsonl (500), as conversational completions with the gold as the
``solution`` / ``answer`` column. Baseline: ``trl.rewards.accuracy_reward`` (math-verify in the
calling process, its ``signal.alarm`` timeouts in the main thread and none in other threads);
when this TRL has none, the plain math-verify loop open-r1 writes. Ours: ``math_reward``.

Measured, for both:
- rewards/s from the main thread, warm (each side has seen the responses once and then forgot
  every parsed answer; only the LaTeX parser's tables stay warm), best of ``--repeat``;
- rewards/s and failures when 8 worker threads call at once, each with 1/8 of the batch
  (exceptions, threads still running at a bounded join, results differing from the main thread);
- a pathological batch (a power tower, 100k characters) from 8 worker threads, in a child
  process killed after ``--probe-s`` seconds (a hang cannot be joined away: a sympy or big-int
  loop holds the GIL);
- agreement on responses both judged (cut-off traces counted apart: we never pass them).

Run: .venv/bin/python bench/rewards.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
THREADS = 8
PATHOLOGICAL = ["\\boxed{9^{9^{9^{9}}}}", "\\boxed{" + "1+" * 50_000 + "1}", "x" * 100_000,
                "\\boxed{" + "(" * 2_000 + "1" + ")" * 2_000 + "}"]


def load(data: Path) -> list[tuple[str, str, str]]:
    rows = []
    for name in ("traces/math_cot_100x8.jsonl", "traces/longcot_math500.jsonl"):
        for line in (data / name).read_text().splitlines():
            row = json.loads(line)
            rows.extend((name.split("/")[1].split(".")[0], response, str(row["gt"])) for response in row["code"])
    return rows


def trl_reward():
    """TRL's accuracy reward, or open-r1's plain math-verify loop when this TRL has none."""
    try:
        from trl.rewards import accuracy_reward
        return "trl.rewards.accuracy_reward", accuracy_reward
    except ImportError:
        from math_verify import parse, verify

        def open_r1_accuracy(completions, solution, **kwargs):
            out = []
            for completion, sol in zip(completions, solution, strict=True):
                gold = parse(sol)
                out.append(float(verify(gold, parse(completion[0]["content"]))) if gold else None)
            return out
        return "open-r1 math-verify loop", open_r1_accuracy


def forget_parsed_answers() -> None:
    import math_verify.parser

    from verifiers.deadline_pool import shared_pool

    math_verify.parser.parse_latex_cached.cache_clear()
    math_verify.parser.parse_expr_cached.cache_clear()
    shared_pool("verifiers.math.equivalence:check").clear_caches()


def from_threads(fn, completions, golds, join_s: float) -> dict:
    """``fn`` over 1/THREADS of the batch on each of THREADS threads started together."""
    chunks = [range(k, len(completions), THREADS) for k in range(THREADS)]
    results: list = [None] * THREADS
    errors: list[str] = []
    barrier = threading.Barrier(THREADS)

    def run(k):
        barrier.wait()
        try:
            results[k] = fn([completions[i] for i in chunks[k]], [golds[i] for i in chunks[k]])
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(exc).__name__}: {exc}"[:120])

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    deadline = t0 + join_s
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))
    seconds = time.perf_counter() - t0
    scores: list = [None] * len(completions)
    for k, res in enumerate(results):
        for i, s in zip(chunks[k], res or [], strict=False):
            scores[i] = s
    return {"seconds": seconds, "exceptions": errors, "hung": sum(t.is_alive() for t in threads),
            "scores": scores, "finished": sum(r is not None for r in results)}


def side(name: str):
    from verifiers.rewards import math_reward

    if name == "ours":
        return lambda c, g: math_reward(c, answer=g)
    _, fn = trl_reward()
    return lambda c, g: fn(c, solution=g)


def probe(name: str, join_s: float) -> None:
    """Child process: the pathological batch from THREADS threads; prints one JSON line."""
    logging.disable(logging.WARNING)
    completions = [[{"role": "assistant", "content": t}] for t in PATHOLOGICAL] * 2
    golds = ["3", "4", "5", "2"] * 2
    out = from_threads(side(name), completions, golds, join_s)
    print(json.dumps({k: out[k] for k in ("seconds", "exceptions", "hung", "finished", "scores")}), flush=True)
    os._exit(0)  # hung daemon threads must not keep the child alive


def run_probe(name: str, data: Path, limit_s: float) -> dict:
    cmd = [sys.executable, __file__, "--data", str(data), "--probe", name, "--probe-s", str(limit_s)]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s + 30)
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - t0, "killed": True, "hung": THREADS, "exceptions": []}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"seconds": time.perf_counter() - t0, "killed": False, "hung": None,
                "exceptions": [done.stderr.strip()[-200:]]}
    return {**json.loads(lines[-1]), "killed": False}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per side; the best of each is reported")
    ap.add_argument("--probe", choices=["ours", "trl"], help=argparse.SUPPRESS)  # child: pathological batch
    ap.add_argument("--probe-s", type=float, default=60.0, help="bounded join for the pathological batch")
    args = ap.parse_args()
    if args.probe:
        probe(args.probe, args.probe_s)
    if not args.data.is_dir():
        print(f"data folder not found: {args.data}", file=sys.stderr)
        return 2
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    rows = load(args.data)
    completions = [[{"role": "assistant", "content": text}] for _, text, _ in rows]
    golds = [gold for _, _, gold in rows]
    n = len(rows)
    base_name, _ = trl_reward()
    fns = {"ours": side("ours"), "trl": side("trl")}

    def timed(name):
        forget_parsed_answers()
        t0 = time.perf_counter()
        scores = fns[name](completions, golds)
        return time.perf_counter() - t0, scores

    t_cold, ours = timed("ours")  # pool start-up included
    t_cold_base, base = timed("trl")  # math-verify imported above; its parser tables built here
    best = {"ours": [], "trl": []}
    for _ in range(args.repeat):  # alternate so machine noise hits both alike
        for name in best:
            best[name].append(timed(name)[0])
    t_ours, t_base = min(best["ours"]), min(best["trl"])

    threaded = {}
    for name in ("ours", "trl"):
        forget_parsed_answers()
        out = from_threads(fns[name], completions, golds, join_s=600)
        reference = ours if name == "ours" else base
        out["differ"] = sum(a != b for a, b in zip(out["scores"], reference, strict=True))
        threaded[name] = out
    probes = {name: run_probe(name, args.data, args.probe_s) for name in ("ours", "trl")}

    from verifiers.reasoning import split_reasoning

    cut = [i for i, (_, text, _) in enumerate(rows) if not split_reasoning(text).complete]
    judged = [i for i in range(n) if ours[i] is not None and base[i] is not None and i not in set(cut)]
    disagree = [i for i in judged if (ours[i] == 1.0) != (base[i] == 1.0)]
    agreement = 1 - len(disagree) / max(1, len(judged))
    print(f"responses: {n}; cores: {os.cpu_count()}; baseline: {base_name}; best of {args.repeat} warm runs")
    print(f"main thread, warm   ours {n / t_ours:7.1f} rewards/s ({t_ours:.2f} s)   "
          f"baseline {n / t_base:7.1f} rewards/s ({t_base:.2f} s)   speed-up {t_base / t_ours:.2f}x (target >= 3x)")
    print(f"main thread, cold   ours {n / t_cold:7.1f} rewards/s ({t_cold:.2f} s, pool start-up)   "
          f"baseline {n / t_cold_base:7.1f} rewards/s ({t_cold_base:.2f} s)")
    for name, out in threaded.items():
        print(f"{THREADS} threads, {name:<4}  {n / out['seconds']:7.1f} rewards/s ({out['seconds']:.2f} s); "
              f"exceptions {len(out['exceptions'])}, hung {out['hung']}, differ from main thread {out['differ']}"
              + (f"; first: {out['exceptions'][0]}" if out["exceptions"] else ""))
    for name, out in probes.items():
        state = (f"killed after {out['seconds']:.0f} s, {THREADS} threads hung" if out["killed"] else
                 f"{out['seconds']:.1f} s, hung {out['hung']}, exceptions {len(out['exceptions'])}, "
                 f"scores {sorted(set(map(str, out.get('scores') or [])))}")
        print(f"pathological batch from {THREADS} threads, {name:<4}: {state}")
    print(f"agreement {agreement:.2%} on {len(judged)} responses both judged; cut-off traces {len(cut)} "
          f"(we never pass them; baseline passes {sum(base[i] == 1.0 for i in cut)}); "
          f"unjudged: ours {sum(s is None for s in ours)}, baseline {sum(s is None for s in base)}")
    kinds: dict[str, int] = {}
    for i in disagree:
        key = f"{rows[i][0]}: ours {ours[i]} / baseline {base[i]}"
        kinds[key] = kinds.get(key, 0) + 1
    print(f"disagreements ({len(disagree)}): {dict(sorted(kinds.items()))}")
    if args.json:
        args.json.write_text(json.dumps({
            "responses": n, "ours_warm_s": t_ours, "baseline_warm_s": t_base, "ours_cold_s": t_cold,
            "baseline_cold_s": t_cold_base, "ratio_warm": t_base / t_ours, "agreement": agreement,
            "threads": {k: {x: v[x] for x in ("seconds", "exceptions", "hung", "differ")} for k, v in threaded.items()},
            "pathological": {k: {x: v.get(x) for x in ("seconds", "killed", "hung", "exceptions")}
                             for k, v in probes.items()},
            "disagreements": disagree}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
