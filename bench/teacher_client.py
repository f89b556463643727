"""Teacher client throughput against the scripted OpenAI-compatible server on loopback.

The server answers every request after a fixed latency (50 ms by default), so with C requests
in flight the ideal is C / latency requests per second; the target is at least half of it.
Run: .venv/bin/python bench/teacher_client.py [--requests 8000] [--concurrency 64] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import time

from curation.config import TeacherConfig
from curation.dry_run.scripted_server import ServerProcess
from curation.teachers import Completion, GenRequest, OpenAITeacher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=8000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--endpoint", choices=["chat", "completions"], default="chat")
    args = ap.parse_args()
    ideal = args.concurrency / (args.latency_ms / 1000)
    with ServerProcess(latency_ms=args.latency_ms) as srv:
        cfg = TeacherConfig(backend="openai", model="scripted", base_urls=[srv.base_url], endpoint=args.endpoint,
                            concurrency=args.concurrency, max_retries=0)
        teacher = OpenAITeacher(cfg)
        warm: list[Completion] = []
        teacher.generate([GenRequest("warm", i, "warm-up", i) for i in range(args.concurrency)], warm.append)
        done: list[Completion] = []
        requests = [GenRequest(f"p{i}", 0, f"Problem {i}: what is {i} + {i}?", i) for i in range(args.requests)]
        t0 = time.perf_counter()
        teacher.generate(requests, done.append)
        wall = time.perf_counter() - t0
    ok = sum(c.ok for c in done)
    rate = len(done) / wall
    print(f"requests {len(done)} (answered {ok}), concurrency {args.concurrency}, "
          f"server latency {args.latency_ms:g} ms")
    print(f"ideal      {ideal:8.0f} req/s  (concurrency / latency)")
    print(f"measured   {rate:8.0f} req/s  in {wall:.2f} s")
    print(f"ratio      {rate / ideal:8.2f} of ideal  (target >= 0.50: {'PASS' if rate >= ideal / 2 else 'FAIL'})")


if __name__ == "__main__":
    main()
