"""The typed report of a curation run: what ``report.json`` holds and the dataset card renders.

``RunReport.to_dict()`` is the JSON form (its key order is the file's); the helpers below turn
finished parts' markers and the config into its sections.
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
from collections import Counter
from dataclasses import dataclass, field

from curation.config import CurateConfig
from curation.domains import get_domain
from curation.settings import portable_path as portable
from curation.teachers.generation_stats import ORIGINS, ROUND_KEYS, PartGeneration, Prices


@dataclass
class SourceReport:
    name: str
    kind: str
    files: list[str]
    hub_id: str | None
    subset: str | None
    split: str
    fields: dict[str, str]
    limit: int | None
    where: dict[str, str]
    rows_skipped_by_where: int


@dataclass
class RowCounts:
    source_rows: int
    train: int
    rejected: int
    problems_in: int
    samples_generated: int


@dataclass
class LengthReport:
    unit: str  # tokens or characters
    max_length: int
    tokenizer: str | None
    train: dict  # count, min, p10, median, mean, p90, max, total


@dataclass
class VerifierReport:
    domain: str
    timeout_s: float
    keep_unverified: bool
    decided_by: dict[str, int]  # which path decided the kept verdicts (math: fast / math_verify / sympy / judge)
    judge: dict | None = None  # the LLM judge, when the run had one: model, replies asked, verdicts decided


@dataclass
class RunReport:
    domain: str
    source: SourceReport
    rows: RowCounts
    funnel: list[dict]  # per stage: rows_in, kept, rejected by reason, seconds (StageCount.to_dict)
    conservation: bool
    length: LengthReport
    pass_rate: float | None  # passed / checked (``verdicts``); None when no sample was checked
    # of the samples the verifier saw: checked, passed, not checked by reason (code not executed, an
    # unparseable gold, ...); of the kept rows: verified, kept unverified by reason. None: not known
    # (a work folder from before these counts)
    verdicts: dict | None
    per_source: dict[str, int]
    verifier: VerifierReport
    teacher: dict
    generation: dict | None
    decontamination: dict
    near_dedup: dict
    isolation: dict | None
    parts: int
    shards: dict[str, list[str]]
    versions: dict[str, str | None]
    wall_seconds: float
    work_dir: str
    executor: dict = field(default_factory=dict)  # kind, nodes, CPUs, isolation per node, task seconds
    card_tags: list[str] = field(default_factory=list, metadata={"json": False})
    # parts that wait for answers (--budget-usd reached): reason, requests, problems, parts; and the batch
    # output files the run read (--import-responses, --batch). Left out of report.json when None.
    pending: dict | None = field(default=None, metadata={"json": "unless None"})
    batch_files: list[dict] | None = field(default=None, metadata={"json": "unless None"})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for f in dataclasses.fields(self):
            if f.metadata.get("json") is False or (f.metadata.get("json") == "unless None" and out[f.name] is None):
                out.pop(f.name)
        return out


def portable_recipe(recipe: dict) -> dict:
    """The resolved recipe with its local paths ``portable`` (what recipe.yaml and the card hold)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in recipe.items()}
    for section, key in (("source", "path"), ("dedup", "against"), ("filters", "tokenizer"), ("teacher", "model"),
                         ("judge", "model")):
        if key in out.get(section, {}):
            out[section][key] = portable(out[section][key])
    if "benchmarks" in out.get("decontaminate", {}):
        out["decontaminate"]["benchmarks"] = {k: portable(v) for k, v in out["decontaminate"]["benchmarks"].items()}
    return out


def verdict_counts(summaries: list[dict]) -> dict | None:
    """``RunReport.verdicts`` from the parts' summaries (``PartResult.summary``)."""
    if any("verdicts" not in s for s in summaries):
        return None
    seen, kept = Counter(), Counter()
    for s in summaries:
        seen.update(s["verdicts"])
        kept.update(s["kept_verdicts"])

    def by_reason(counts: Counter, prefix: str) -> dict[str, int]:
        return {k.split(":", 1)[1]: n for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                if k.startswith(prefix)}

    return {"checked": seen["passed"] + seen["failed"], "passed": seen["passed"],
            "unchecked": by_reason(seen, "unchecked:"),
            "kept": {"verified": kept["verified"], "unverified": by_reason(kept, "unverified:")}}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("branch-merge", "math-verify", "sympy", "polars", "pyarrow", "datasets", "datasketch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def length_stats(values: list[int]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def q(p: float) -> int:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"count": len(values), "min": ordered[0], "p10": q(0.1), "median": q(0.5), "mean": round(
        statistics.fmean(values), 1), "p90": q(0.9), "max": ordered[-1], "total": sum(values)}


# client settings the report names only when they are set (reports from before them stay as they were)
OPTIONAL_LIMITS = ("requests_per_minute", "tokens_per_minute")


def teacher_report(cfg: CurateConfig) -> dict:
    """The teacher settings that shaped the data (a replay run: only the recorded sampling ones)."""
    from curation.teachers.samples import teacher_info

    if cfg.teacher.backend == "replay":
        return teacher_info(cfg.teacher, cfg.teacher.seed)
    out = {k: v for k, v in dataclasses.asdict(cfg.teacher).items() if k != "api_key_env"
           and not (k in OPTIONAL_LIMITS and v is None)}
    return {**out, "model": portable(out["model"])}


def generation_report(parts: list[PartGeneration | None], prices: Prices | None = None) -> dict | None:
    """Requests, tokens, errors by kind and throughput of a live teacher, summed over parts; with
    ``prices``, what the answers cost (``cost_report``).

    Parts are generated concurrently, so the teacher's time is the union of the parts' spans
    (first request sent to last answer), not their sum."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    out = {"requests": 0, "sent": 0, "reused": 0, "answered": 0, "prompt_tokens": 0, "completion_tokens": 0,
           "teacher_seconds": 0.0}
    failed, retried, rounds, first_errors, duplicates = Counter(), Counter(), {}, {}, 0
    spans = []
    for p in parts:
        for key in out:
            out[key] += getattr(p, key)
        failed.update(p.failed)
        retried.update(p.retried)
        for kind, detail in p.first_errors.items():
            first_errors.setdefault(kind, detail)
        duplicates += p.duplicate_responses
        if p.first_sent is not None and p.last_answer is not None:
            spans.append([p.first_sent, p.last_answer])
        for r, counts in sorted(p.rounds.items()):
            rounds.setdefault(r, Counter()).update({k: counts[k] for k in ROUND_KEYS})
    secs = _union_seconds(spans) if spans else out["teacher_seconds"]
    out.update(teacher_seconds=round(secs, 2), failed=dict(failed), retried=dict(retried),
               requests_per_s=round(out["sent"] / secs, 2) if secs else None,
               completion_tokens_per_s=round(out["completion_tokens"] / secs, 1) if secs and out["sent"] else None,
               rounds=[{"round": r, **dict(c)} for r, c in sorted(rounds.items())],
               first_errors=first_errors, duplicate_responses=duplicates)
    if imported := sum(p.imported for p in parts):  # answers read from batch files (none: the key is left out)
        out["imported"] = imported
    if prices is not None:
        out.update(cost_report(parts, prices))
    return out


def cost_report(parts: list[PartGeneration], prices: Prices) -> dict:
    """``cost_usd``: the price of the answers the parts received from the teacher (live, and read from
    batch files by the run that finished the part, at ``batch_factor``); ``cost``: the prices, tokens
    and USD by origin, the price of the answers reused from the store (paid for by earlier runs) and
    the total of both. An answer whose server reported no usage counts zero tokens."""
    tokens = {origin: [0, 0, 0] for origin in ORIGINS}
    for p in parts:
        for origin, (n, prompt, completion) in p.tokens.items():
            for i, v in enumerate((n, prompt, completion)):
                tokens[origin][i] += v

    def priced(*origins: str) -> dict:
        n, prompt, completion = (sum(tokens[o][i] for o in origins) for i in range(3))
        usd = sum(prices.usd(tokens[o][1], tokens[o][2], batch=o.endswith("batch")) for o in origins)
        return {"answers": n, "prompt_tokens": prompt, "completion_tokens": completion, "usd": round(usd, 6)}

    received, reused = priced("live", "batch"), priced("reused_live", "reused_batch")
    return {"cost_usd": received["usd"],
            "cost": {"price_input": prices.input, "price_output": prices.output,
                     "batch_price_factor": prices.batch_factor, "live": priced("live"), "batch": priced("batch"),
                     "reused": reused, "total_usd": round(received["usd"] + reused["usd"], 6)}}


def _union_seconds(spans: list[list[float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def isolation_report(cfg: CurateConfig) -> dict | None:
    """The sandbox isolation actually in force, for runs that executed candidates."""
    if not get_domain(cfg.domain).executes_code or not cfg.verify.sandbox:
        return None
    from verifiers.code import isolation

    return dict(isolation())
