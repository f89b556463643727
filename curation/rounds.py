"""Rejection sampling with a live teacher: rounds of requests, resumable from an append-only log.

Round r asks for ``samples`` new responses for every problem that still has fewer than ``want``
verified samples and has budget left; sample indices continue where the last round stopped, and
each sample's seed derives from (base seed, problem id, index). Every answer (or final failure)
is appended to the part's JSONL log the moment it arrives, so a killed run resumes by reading the
log and requesting only the ``(problem_id, sample_index)`` pairs that have no answer.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import polars as pl

from curation.config import CurateConfig
from curation.format_filters import LengthCounter, format_stage
from curation.stages import StageResult, split_by_reason, timed
from curation.teachers import Completion, GenRequest, build_prompt, sample_seed
from curation.teachers.samples import sample_row, samples_frame, teacher_info
from curation.verify_stage import verify_stage


class ResponseLog:
    """Append-only JSONL of ``Completion``s; the answered ones are never requested again."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.answered: dict[tuple[str, int], Completion] = {}
        self.failed: dict[tuple[str, int], Completion] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        c = Completion(**json.loads(line))
                    except (json.JSONDecodeError, TypeError):
                        continue  # the half-written last line of a killed run
                    self._store(c)
        self._fh = None

    def _store(self, c: Completion) -> None:
        key = (c.problem_id, c.sample_index)
        if c.ok:
            self.answered[key] = c
            self.failed.pop(key, None)
        elif key not in self.answered:
            self.failed[key] = c

    def append(self, c: Completion) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed in close())
        self._fh.write(c.to_json() + "\n")  # line-buffered: in the OS once written, so it survives a kill
        self._store(c)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _sample_rows(problems: dict[str, dict], completions: list[Completion], cfg: CurateConfig) -> pl.DataFrame:
    return samples_frame([
        sample_row(problems[c.problem_id], c.sample_index, c.text, c.finish_reason, teacher_info(cfg.teacher, c.seed),
                   {"round": c.round, "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                    "attempts": c.attempts})
        for c in completions])


def format_and_verify(samples: pl.DataFrame, cfg: CurateConfig, lengths: LengthCounter) -> list[StageResult]:
    """The format filters, then the verifier over what they kept."""
    fmt = timed(format_stage, samples, cfg.filters, lengths)
    return [fmt, timed(verify_stage, fmt.kept, cfg.domain, cfg.verify, cfg.output.workers)]


def sample_in_rounds(problems: pl.DataFrame, cfg: CurateConfig, teacher, log: ResponseLog,
                     lengths: LengthCounter) -> tuple[list[StageResult], dict]:
    """Generate -> format -> verify, round by round, over one part's problems.

    Returns the stage results (generate over the part's problems first, then format and verify
    of each round; the verify results' kept rows are the verified samples) and the generation
    statistics.
    """
    t = cfg.teacher
    budget = t.budget or t.samples * t.rounds
    by_id = {row["problem_id"]: row for row in problems.iter_rows(named=True)}
    order = list(by_id)
    prompts = {pid: build_prompt(cfg.domain, r["problem"], r["reference"], t.prompt) for pid, r in by_id.items()}
    asked: Counter = Counter()
    verified: Counter = Counter()
    answered_any: set[str] = set()
    failures: dict[str, Counter] = {}
    checked: list[StageResult] = []
    generated: list[pl.DataFrame] = []
    stats = {"requests": 0, "sent": 0, "answered": 0, "failed": Counter(), "retried": Counter(), "prompt_tokens": 0,
             "completion_tokens": 0, "teacher_seconds": 0.0, "rounds": []}
    for rnd in range(1, t.rounds + 1):
        todo = [pid for pid in order if verified[pid] < t.want and asked[pid] < budget]
        if not todo:
            break
        plan = []
        for pid in todo:
            n = min(t.samples, budget - asked[pid])
            plan += [GenRequest(pid, i, prompts[pid], sample_seed(t.seed, pid, i), rnd)
                     for i in range(asked[pid], asked[pid] + n)]
            asked[pid] += n
        missing = [q for q in plan if q.key not in log.answered]
        if missing:
            t0 = time.perf_counter()
            teacher.generate(missing, log.append)
            stats["teacher_seconds"] += time.perf_counter() - t0
        done = [log.answered[q.key] for q in plan if q.key in log.answered]
        for q in plan:
            if q.key not in log.answered:
                failed = log.failed.get(q.key)
                kind = failed.error if failed else "not_answered"
                if failed:
                    stats["retried"].update(failed.extra.get("retried", {}))
                failures.setdefault(q.problem_id, Counter())[kind] += 1
                stats["failed"][kind] += 1
        for c in done:
            answered_any.add(c.problem_id)
            stats["prompt_tokens"] += c.prompt_tokens or 0
            stats["completion_tokens"] += c.completion_tokens or 0
            stats["retried"].update(c.extra.get("retried", {}))
        stats["requests"] += len(plan)
        stats["sent"] += len(missing)
        stats["answered"] += len(done)
        samples = _sample_rows(by_id, done, cfg)
        generated.append(samples)
        fmt, ver = format_and_verify(samples, cfg, lengths)
        verified.update(ver.kept["problem_id"].to_list())
        checked += [fmt, ver]
        stats["rounds"].append({"round": rnd, "problems": len(todo), "requests": len(plan), "sent": len(missing),
                                "answered": len(done), "verified": ver.kept.height})
    reasons = [None if pid in answered_any else "teacher_failed" for pid in problems["problem_id"]]
    details = ["" if r is None else ", ".join(f"{k} x{n}" for k, n in sorted(failures.get(pid, {}).items()))
               for pid, r in zip(problems["problem_id"], reasons, strict=True)]
    gen = split_by_reason(problems, "generate", reasons, details,
                          out=pl.concat(generated) if generated else samples_frame([]))
    gen.seconds = stats["teacher_seconds"]
    stats["failed"], stats["retried"] = dict(stats["failed"]), dict(stats["retried"])
    return [gen, *checked], stats
