"""The same curation job with `--executor local` and with `--executor ray` on this machine.

The job: 20,000 long reasoning traces (5,000 problems x 4 responses, built from the 500 real
long-CoT traces of `../shared/data/traces/longcot_math500.jsonl`: each problem is a MATH-500
question with a variant tag, its first response the question's own trace and the other three
traces of other questions, each marked with its variant so no two responses are the same text),
run through load, format filters (the repetition check over every trace), math verification and
publishing; near-dedup is off (the variants would be clustered away) and is measured apart:
MinHash signatures and benchmark matching of 50,000 problem texts through each executor.

The Ray cluster (a local one, 2 CPUs) is started before anything is timed; `curate --executor
ray` joins it. Its wall time is reported with and without the executor's own start (its worker
actors importing the verifiers), apart from the cluster start. Target: ray wall <= 1.25x local.
Per-item costs of each stage (from the local run's funnel) and a scaling estimate for the
paper's three sets are printed for BENCHMARKS.md.

Run: .venv/bin/python bench/executors.py [--problems 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONGCOT = ROOT.parent / "shared" / "data" / "traces" / "longcot_math500.jsonl"
sys.path.insert(0, str(ROOT))

# The paper's sources, as assumptions for the estimate (responses as shipped by the sources):
# OpenR1-Math-220k default subset, 94k problems with 2-4 R1 traces (about 2.5 on average);
# OpenThoughts-114k science rows and s1K, about 25k traces; OpenThoughts-114k code rows, about
# 20k traces whose tests (assumed 15 per problem) each run once in the sandbox.
PAPER_SETS = {"math": 94_000 * 2.5, "science": 25_000, "code": 20_000}
CODE_TESTS = 15
# CPU cost of one sandboxed test run: bench/sandbox.py measured 138-225 executions/s on 2 cores.
SANDBOX_CORE_MS = 2 * 1000 / 180


def build_source(path: Path, problems: int) -> int:
    rows = [json.loads(line) for line in LONGCOT.read_text().splitlines()]
    n = len(rows)
    with open(path, "w") as fh:
        for i in range(problems):
            base, variant = rows[i % n], i // n
            traces = []
            for j in range(4):
                trace = rows[(i + 37 * j) % n]["code"][0]
                traces.append(trace.replace("<|end_of_thought|>", f" (variant {variant}.{j})<|end_of_thought|>", 1))
            fh.write(json.dumps({"id": f"{base['idx']}-{variant}", "problem": f"{base['question']} (variant {variant})",
                                 "answer": base["gt"], "responses": traces}) + "\n")
    return problems * 4


def curate(source: Path, out: Path, *extra: str) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(source), "--allow-no-think", "--no-dedup",
           "--no-exact-dedup", "--no-decontaminate", "--quiet", "--part-size", "500", "--out", str(out), *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"curate failed: {r.stderr[-2000:]}")
    return wall, json.loads((out / "report.json").read_text())


def problem_stage_costs(executor_kind: str, texts: list[str]) -> dict:
    from curation import build_config
    from curation.dedup.decontaminate import BenchmarkIndex
    from curation.run.executors import make_executor
    from curation.stages.format_filters import LengthCounter

    cfg = build_config({"domain": "math", "source": {"path": "demo"}, "executor": {"kind": executor_kind}})
    ex = make_executor(cfg, LengthCounter(None))
    ex.start()
    try:
        bench = [json.loads(line)["question"] for line in LONGCOT.read_text().splitlines()]
        index = BenchmarkIndex({"math500": bench}, n=8, min_overlap=0.5)
        t0 = time.perf_counter()
        ex.signatures(texts, num_perm=128, shingle=3)
        t1 = time.perf_counter()
        ex.contamination(texts, [""] * len(texts), index)
        t2 = time.perf_counter()
    finally:
        ex.close()
    return {"signatures_s": t1 - t0, "contamination_s": t2 - t1}


def main() -> None:
    import ray

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=5000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    source = tmp / "longcot_x.jsonl"
    responses = build_source(source, args.problems)
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    cluster_start = time.perf_counter() - t0
    address = ray.get_runtime_context().gcs_address
    try:
        local_wall, local = curate(source, tmp / "local")
        ray_wall, on_ray = curate(source, tmp / "ray", "--executor", "ray", "--ray-address", address)
        texts = [f"{q} (variant {v})" for v in range(100)
                 for q in (json.loads(line)["question"] for line in LONGCOT.read_text().splitlines())]
        stage_local = problem_stage_costs("local", texts)
        stage_ray = problem_stage_costs("ray", texts)
    finally:
        ray.shutdown()
    same = local["shards"] == on_ray["shards"]
    actor_start = on_ray["executor"]["start_seconds"]
    print(f"job: {responses:,} long responses ({args.problems:,} problems x 4), mean "
          f"{local['length']['train'].get('mean', 0):,.0f} characters kept; identical shards local vs ray: {same}")
    print(f"cluster start (ray.init, 2 CPUs): {cluster_start:.1f} s, not counted")
    print(f"local wall {local_wall:.1f} s | ray wall {ray_wall:.1f} s ({ray_wall / local_wall:.2f}x), without the "
          f"workers' start ({actor_start:.1f} s): {ray_wall - actor_start:.1f} s "
          f"({(ray_wall - actor_start) / local_wall:.2f}x) (target <= 1.25x)")
    funnel = {s["stage"]: s for s in local["funnel"]}
    per_item = {stage: 1000 * funnel[stage]["seconds"] / max(1, funnel[stage]["rows_in"])
                for stage in ("load", "generate", "format", "verify")}
    n = len(texts)
    per_item["signatures"] = 1000 * stage_local["signatures_s"] / n
    per_item["contamination"] = 1000 * stage_local["contamination_s"] / n
    print("per-item cost (local, ms of wall on 2 cores): " + ", ".join(f"{k} {v:.3f}" for k, v in per_item.items()))
    print(f"problem stages over {n:,} texts: signatures local {stage_local['signatures_s']:.1f} s / ray "
          f"{stage_ray['signatures_s']:.1f} s; benchmark matching local {stage_local['contamination_s']:.1f} s / ray "
          f"{stage_ray['contamination_s']:.1f} s")
    core_ms = 2 * (per_item["format"] + per_item["verify"])  # the per-item wall was measured on 2 cores
    for name, count in PAPER_SETS.items():
        item_ms = core_ms + (CODE_TESTS * SANDBOX_CORE_MS if name == "code" else 0)
        hours = count * item_ms / 1000 / 3600
        print(f"scaling: {name}: {count:,.0f} responses x {item_ms:.1f} core-ms = {hours:.2f} core-hours; "
              f"{60 * hours / 64:.1f} min on one 64-core node, {60 * hours / 64 / 8:.1f} min on 8 such nodes")


if __name__ == "__main__":
    main()
