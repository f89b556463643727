"""Our streaming ``vllm`` teacher against vLLM's own ``LLM.generate`` on the same requests.

One engine, one process, the same requests on both sides: the same model, the same rendered and
tokenized prompts, the same ``SamplingParams`` (temperature 0.6, top_p 0.95, ``--max-tokens``, n=1)
and the same per-request seeds (``sample_seed``), so both sides must produce the same texts (checked).
Ours is ``VLLMTeacher.generate`` (the request queue and the serve loop the curation scheduler
drives); theirs is ``llm.generate(prompts, params)`` over the whole batch. Printed per side: output
tokens/s (first request in to last answer out), and the time to the first verified sample (the
earliest arrival, among answers the math verifier passes: ``LLM.generate`` hands nothing back
before the whole batch is done), and the main process's CPU time (the engine runs in processes
of its own, the same for both). Sides alternate, ``--repeats`` times each; compared: the best of
each, and the median of the ratios of adjacent runs. Throughput goal: ours >= 0.95 of theirs.

Default model: the tiny hand-written reasoner of the tests (``tests/helpers/tiny_reasoner.py``),
whose "coin" problems are answered right in 12 tokens or ramble until ``--max-tokens``, as the
request's seed decides: a mix of short and long answers like a real teacher's.

Run: VLLM_CPU_KVCACHE_SPACE=2 .venv/bin/python bench/vllm_teacher.py [--problems 48 --samples 4
--max-tokens 512 --repeats 5] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # for helpers.tiny_reasoner


def requests_for(problems: int, samples: int, seed: int):
    from helpers.tiny_reasoner import COIN

    from curation.teachers import GenRequest, sample_seed

    texts = [f"{COIN[i % len(COIN)]} (number {i})" for i in range(problems)]
    return [GenRequest(f"p{i}", j, texts[i], sample_seed(seed, f"p{i}", j)) for i in range(problems)
            for j in range(samples)]


def timed_teacher(cfg):
    """``VLLMTeacher`` that also adds up the seconds its serve loop spends asking the event loop for
    queued requests (non-blocking ``take``): the part of the frontend that LLM.generate does not have."""
    from curation.teachers import VLLMTeacher

    class Timed(VLLMTeacher):
        asking = 0.0

        def serve_blocking(self, take, emit):
            def timed_take(block):
                t = time.perf_counter()
                out = take(block)
                if not block:
                    self.asking += time.perf_counter() - t
                return out

            super().serve_blocking(timed_take, emit)

    return Timed(cfg)


def ours(teacher, reqs) -> tuple[float, dict, dict]:
    """``VLLMTeacher.generate`` over the batch, each answer timed as it is handed on."""
    arrived = {}
    teacher.asking = 0.0
    c0, t0 = time.process_time(), time.perf_counter()
    teacher.generate(reqs, lambda c: arrived.__setitem__((c.problem_id, c.sample_index),
                                                         (time.perf_counter() - t0, c.text, c.completion_tokens)))
    return time.perf_counter() - t0, arrived, {"cpu": time.process_time() - c0, "take": teacher.asking}


def theirs(teacher, reqs) -> tuple[float, dict, dict]:
    """``LLM.generate`` over the whole batch, prompts rendered and tokenized as the teacher does it
    (inside the timed span, as the teacher's are)."""
    from vllm import SamplingParams

    from curation.teachers.requests import render_chat

    c, tok = teacher.cfg, teacher.tokenizer
    c0, t0 = time.process_time(), time.perf_counter()
    prompts = [{"prompt_token_ids": tok.encode(render_chat(tok, r.prompt), add_special_tokens=False)} for r in reqs]
    params = [SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens, seed=r.seed)
              for r in reqs]
    outs = teacher.llm.generate(prompts, params, use_tqdm=False)
    span = time.perf_counter() - t0
    return span, {(r.problem_id, r.sample_index): (span, o.outputs[0].text, len(o.outputs[0].token_ids))
                  for r, o in zip(reqs, outs, strict=True)}, {"cpu": time.process_time() - c0}


def first_verified(arrived: dict) -> float | None:
    from curation import VerifyConfig, get_domain, verify_responses

    keys = sorted(arrived, key=lambda k: arrived[k][0])
    ref = get_domain("math").reference({"answer": "7"})
    verdicts = verify_responses("math", [arrived[k][1] for k in keys], [ref] * len(keys), VerifyConfig(sandbox=False))
    return next((arrived[k][0] for k, v in zip(keys, verdicts, strict=True) if v.passed), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (default: the tests' tiny reasoner, built in a temp folder)")
    ap.add_argument("--problems", type=int, default=48)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    # before vLLM is imported: an engine otherwise posts usage statistics to vLLM's server
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

    from curation.config import TeacherConfig

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from helpers.tiny_reasoner import build_reasoner

            model = str(build_reasoner(Path(tmp) / "tiny_reasoner"))
        t0 = time.perf_counter()
        teacher = timed_teacher(TeacherConfig(backend="vllm", model=model, max_tokens=args.max_tokens))
        print(f"engine start {time.perf_counter() - t0:.1f} s", flush=True)
        reqs = requests_for(args.problems, args.samples, args.seed)
        warm = requests_for(4, 1, args.seed + 1)
        theirs(teacher, warm)
        ours(teacher, warm)
        runs: dict[str, list] = {"LLM.generate": [], "ours": []}
        texts = {}
        for _ in range(args.repeats):
            for name, side in (("LLM.generate", theirs), ("ours", ours)):
                span, arrived, cost = side(teacher, reqs)
                tokens = sum(a[2] for a in arrived.values())
                runs[name].append({"tok/s": tokens / span, "first": first_verified(arrived), "span": span, **cost})
                texts.setdefault(name, {k: a[1] for k, a in arrived.items()})
                extra = f", {cost['take']:.2f} s asking for requests" if "take" in cost else ""
                print(f"{name:>12}: {tokens:,} tokens in {span:.2f} s = {tokens / span:,.0f} tok/s, first verified "
                      f"sample at {runs[name][-1]['first']:.3f} s, main process CPU {cost['cpu']:.2f} s{extra}",
                      flush=True)
    same = texts["ours"] == texts["LLM.generate"]
    pairs = [o["tok/s"] / t["tok/s"] for t, o in zip(runs["LLM.generate"], runs["ours"], strict=True)]
    print(f"\n{len(reqs)} requests ({args.problems} problems x {args.samples} samples), max_tokens "
          f"{args.max_tokens}, model {args.model or 'tiny reasoner'}; same texts on both sides: {same}")
    print("| side | best tok/s | median tok/s | main process CPU (median) | first verified sample (median) |")
    print("|---|---:|---:|---:|---:|")
    for name, rs in runs.items():
        print(f"| {name} | {max(r['tok/s'] for r in rs):,.0f} | {statistics.median(r['tok/s'] for r in rs):,.0f} | "
              f"{statistics.median(r['cpu'] for r in rs):.2f} s | "
              f"{statistics.median(r['first'] for r in rs if r['first'] is not None):.3f} s |")
    best = {name: max(r["tok/s"] for r in rs) for name, rs in runs.items()}
    print(f"throughput ratio ours / LLM.generate: best {best['ours'] / best['LLM.generate']:.3f}, median of "
          f"pairs {statistics.median(pairs):.3f} (pairs: {' '.join(f'{p:.2f}' for p in pairs)}; goal >= 0.95)")

if __name__ == "__main__":
    main()
