"""429 refusals of one ``curate`` run against a rate-limited loopback server, with and without budgets.

The scripted server lets through at most ``--rate`` completion requests in any second and answers the
rest with 429, ``Retry-After`` and OpenAI's ``x-ratelimit-*`` headers. One ``curate math --samples 2``
over 6 problems (12 answers) runs once per setting; the server counts answers and refusals.
``--client PATH`` runs ``curate`` from another checkout (e.g. ``git archive`` of main in /tmp) to
measure a client from before the budgets.
Run: PYTHONPATH=. .venv/bin/python bench/rate_limits.py [--rate 2] [--client /tmp/main-checkout]
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

from curation.dry_run.scripted_server import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
RIGHT = "<think>\nadd\n</think>\n\nThe answer is \\boxed{7}."
SETTINGS = {"no budget": [], "--requests-per-minute 90": ["--requests-per-minute", "90"]}


def run(client: Path, rate: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp, ServerProcess({"rules": [{"match": "", "answers": [RIGHT]}]},
                                                             rate_limit=rate) as srv:
        src = Path(tmp) / "p.jsonl"
        src.write_text("".join(json.dumps({"id": f"p{i}", "problem": f"p{i}: what is {i} + {7 - i}?",
                                           "answer": "7"}) + "\n" for i in range(6)))
        cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher", "openai",
               "--base-url", srv.base_url, "--teacher-model", "scripted", "--samples", "2", "--no-decontaminate",
               "--quiet", "--out", f"{tmp}/out", *extra]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(client), "HF_HUB_OFFLINE": "1"}, cwd=tmp,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        stats = srv.stats()
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    return {"answers": stats.get("ok", 0), "refused (429)": stats.get("rate_limited", 0), "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=2, help="requests the server lets through per second")
    ap.add_argument("--client", type=Path, default=None, help="another checkout's curate, run without budgets")
    args = ap.parse_args()
    rows = []
    if args.client:
        rows.append((f"client of {args.client}", run(args.client, args.rate, [])))
    for name, extra in SETTINGS.items():
        rows.append((f"this checkout, {name}", run(ROOT, args.rate, extra)))
    print(f"server: {args.rate} requests/s, 429 + Retry-After beyond; curate --samples 2 over 6 problems")
    for name, row in rows:
        print(f"{name:45s} " + "  ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
