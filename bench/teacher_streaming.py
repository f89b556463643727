"""Teacher utilisation of `curate` with a live teacher whose response times are heavy-tailed.

Runs `curate math --teacher openai` (rejection sampling: --samples 2 --rounds 3 --want 1) against
the scripted server on loopback, which answers after a lognormal delay (median 200 ms, sigma 1.0,
capped at 3 s; drawn from a hash of each request, so runs are repeatable) and logs every
request's start, latency and problem. From that log it computes the ideal span: a greedy
streaming schedule of exactly those requests (the same latencies, the same round structure: a
problem's round r+1 can start only when its round r has answered, and the same concurrency),
and prints our span (first request in to last answer out, as the server saw them), the ideal and
their ratio (target >= 0.90), the mean number of requests in flight, and the client's CPU per
request.

Run: .venv/bin/python bench/teacher_streaming.py [--problems 3000 --concurrency 512] [--problems 600
--concurrency 64 --part-size 100]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.dry_run.scripted_server import ServerProcess  # noqa: E402

RIGHT = "<think>\nAdd the two numbers.\n</think>\n\nThe answer is \\boxed{{{a}}}."
WRONG = "<think>\nA guess.\n</think>\n\nThe answer is \\boxed{{{b}}}."


def ideal_span(requests: list[dict], concurrency: int) -> float:
    """Greedy list schedule: requests become ready when their problem's previous round has
    answered; a free slot takes the earliest-ready request."""
    rounds: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in requests:
        rounds[r["problem"]][r["round"]].append(r["latency_s"])
    ready: list[tuple[float, str, int, int]] = []  # (ready at, problem, round, index)
    pending: dict[tuple[str, int], int] = {}
    for pid, by_round in rounds.items():
        first = min(by_round)
        for i in range(len(by_round[first])):
            heapq.heappush(ready, (0.0, pid, first, i))
        pending[(pid, first)] = len(by_round[first])
    running: list[tuple[float, str, int]] = []  # (ends at, problem, round)
    now = span = 0.0
    while ready or running:
        while ready and len(running) < concurrency and (not running or ready[0][0] <= now):
            at, pid, rnd, i = heapq.heappop(ready)
            start = max(now, at)
            now = start
            heapq.heappush(running, (start + rounds[pid][rnd][i], pid, rnd))
        end, pid, rnd = heapq.heappop(running)
        now = span = max(now, end)
        pending[(pid, rnd)] -= 1
        if pending[(pid, rnd)] == 0:
            later = [r for r in rounds[pid] if r > rnd]
            if later:
                nxt = min(later)
                pending[(pid, nxt)] = len(rounds[pid][nxt])
                for i in range(len(rounds[pid][nxt])):
                    heapq.heappush(ready, (end, pid, nxt, i))
    return span


def mean_in_flight(requests: list[dict]) -> float:
    events = sorted([(r["t_start"], 1) for r in requests] + [(r["t_start"] + r["latency_s"], -1) for r in requests])
    area, level, last = 0.0, 0, events[0][0]
    for t, d in events:
        area += level * (t - last)
        level, last = level + d, t
    return area / (events[-1][0] - events[0][0])


def run(problems: int, concurrency: int, part_size: int, keep: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    rows = [{"id": f"q{i}", "problem": f"q{i}: what is {i} + 1?", "answer": str(i + 1)} for i in range(problems)]
    (tmp / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    script = {"rules": [{"match": f"q{i}:", "answers": [WRONG.format(b=i + 2), RIGHT.format(a=i + 1)]}
                        for i in range(problems)]}
    log = tmp / "server.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with ServerProcess(script, latency="lognormal:200,1.0,3000", log=str(log)) as srv:
        cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(tmp / "problems.jsonl"), "--teacher",
               "openai", "--base-url", srv.base_url, "--teacher-model", "scripted", "--samples", "2", "--rounds",
               "3", "--want", "1", "--concurrency", str(concurrency), "--part-size", str(part_size),
               "--no-decontaminate", "--no-dedup", "--quiet", "--seed", "1", "--out", str(tmp / "out")]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if status != 0:
            raise SystemExit(f"curate failed: {proc.stderr.read()[-2000:]}")
    seeds = {}  # the prompt and seed of each request -> its problem and round (from the published log)
    for path in (tmp / ".work/out/responses").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            c = json.loads(line)
            seeds[c["seed"]] = (c["problem_id"], c["round"])
    requests = []
    for line in log.read_text().splitlines():
        r = json.loads(line)
        pid, rnd = seeds[r["seed"]]
        requests.append({**r, "problem": pid, "round": rnd})
    ours = max(r["t_start"] + r["latency_s"] for r in requests) - min(r["t_start"] for r in requests)
    ideal = ideal_span(requests, concurrency)
    if not keep:
        import shutil

        shutil.rmtree(tmp)
    return {"problems": problems, "concurrency": concurrency, "part_size": part_size, "requests": len(requests),
            "rounds": max(r["round"] for r in requests), "ours_s": ours, "ideal_s": ideal, "ratio": ideal / ours,
            "in_flight": mean_in_flight(requests), "wall_s": wall,
            "client_cpu_ms_per_request": 1000 * (usage.ru_utime + usage.ru_stime) / len(requests)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--part-size", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the run's folder (printed)")
    args = ap.parse_args()
    r = run(args.problems, args.concurrency, args.part_size, args.keep)
    print(f"{r['problems']} problems, {r['requests']} requests over {r['rounds']} rounds, concurrency "
          f"{r['concurrency']}, part size {r['part_size']}")
    print(f"span: ours {r['ours_s']:.2f} s, ideal streaming schedule {r['ideal_s']:.2f} s, ratio {r['ratio']:.3f} "
          f"(target >= 0.90); mean in flight {r['in_flight']:.0f} of {r['concurrency']}")
    print(f"client CPU {r['client_cpu_ms_per_request']:.2f} ms per request (curate process, everything included); "
          f"curate wall {r['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
