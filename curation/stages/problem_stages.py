"""Problem-level stages, run over all problems before any teacher compute is spent.

Each takes the problems still in the run (``problem_id``, ``problem``, ``reference``,
``row_index``), the config, the executor (which computes MinHash signatures, benchmark matches and
retrieval candidates where the run's executor says) and the run's LLM judge (None without one), and
returns a ``StageResult`` whose ``info`` holds what the report says of it (benchmarks checked,
clusters found). Decontamination is the n-gram check, then, with ``--decontam-judge``, retrieval and
the judge over what it kept (``curation.stages.decontam_judge``). ``status(text)`` shows how far a
long stage has got.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl

from curation.config import CurateConfig
from curation.dedup.decontaminate import BenchmarkIndex, contamination
from curation.dedup.exact import exact_duplicates
from curation.dedup.minhash import NearDupIndex, cluster, signatures
from curation.settings import ConfigError
from curation.sources.benchmarks import load_benchmark
from curation.stages.contract import StageResult, split_by_reason
from curation.stages.decontam_judge import rephrase_matches

Drops = dict[int, tuple[str, str]]
_REPORT_CAP = 200


def _result(stage: str, problems: pl.DataFrame, drops: Drops, info: dict) -> StageResult:
    marks = [drops.get(i) for i in problems["row_index"].to_list()]
    return split_by_reason(problems, stage, [m[0] if m else None for m in marks],
                           [m[1] if m else "" for m in marks], info=info)


def exact_dedup(problems: pl.DataFrame, cfg: CurateConfig, executor=None, judge=None,
                status=lambda text: None) -> StageResult:
    if not cfg.dedup.exact or problems.height == 0:
        return _result("exact_dedup", problems, {}, {"enabled": cfg.dedup.exact})
    dropped = exact_duplicates(problems["problem_id"].to_list(), problems["problem"].to_list(),
                               problems["row_index"].to_list())
    return _result("exact_dedup", problems, {i: ("duplicate_problem", f"duplicate of {pid}")
                                             for i, pid in dropped.items()}, {"enabled": True})


def decontaminate(problems: pl.DataFrame, cfg: CurateConfig, executor=None, judge=None,
                  status=lambda text: None) -> StageResult:
    dc = cfg.decontaminate
    info: dict = {"enabled": dc.enabled, "ngram": dc.ngram, "min_overlap": dc.min_overlap, "fuzzy": dc.fuzzy,
                  "fuzzy_threshold": dc.fuzzy_threshold if dc.fuzzy else None, "benchmarks": {}}
    if not dc.enabled:
        return _result("decontaminate", problems, {}, info)
    loaded: dict[str, list[str]] = {}
    problems_found: list[str] = []
    for name, spec in sorted(dc.benchmarks.items()):
        if name in dc.skip:
            info["benchmarks"][name] = {"source": spec, "items": 0, "status": "skipped by --no-benchmark"}
            continue
        try:
            loaded[name] = load_benchmark(name, spec, cfg.domain)
            info["benchmarks"][name] = {"source": spec, "items": len(loaded[name]), "status": "checked"}
        except ConfigError as exc:
            if dc.on_missing == "error":
                problems_found.extend(exc.problems)
            info["benchmarks"][name] = {"source": spec, "items": 0, "status": "unavailable: " + exc.problems[0]}
    if problems_found:
        raise ConfigError(problems_found)
    if not loaded or problems.height == 0:
        return _result("decontaminate", problems, {}, info)
    index = BenchmarkIndex(loaded, n=dc.ngram, min_overlap=dc.min_overlap,
                           fuzzy_threshold=dc.fuzzy_threshold if dc.fuzzy else None)
    match = executor.contamination if executor is not None else contamination
    details = match(problems["problem"].to_list(), problems["reference"].to_list(), index)
    drops = {i: ("contaminated", d) for i, d in zip(problems["row_index"].to_list(), details, strict=True) if d}
    pids = dict(zip(problems["row_index"].to_list(), problems["problem_id"].to_list(), strict=True))
    info["matches"] = [{"problem_id": pids[i], "match": d} for i, (_, d) in list(drops.items())[:_REPORT_CAP]]
    if dc.judge:  # rephrasings: retrieval and the LLM judge over what the n-gram check kept
        if judge is None:
            raise ConfigError(["decontaminate.judge: --decontam-judge needs an LLM judge (--judge ...)"])
        rest = problems.filter(~pl.col("row_index").is_in(list(drops)))
        status(f"decontaminate: retrieving candidates for {rest.height} problems")
        marks, info["rephrase"] = rephrase_matches(
            rest["problem_id"].to_list(), rest["problem"].to_list(), loaded, cfg, executor, judge,
            progress=lambda done, total: status(f"decontaminate: judge, {done}/{total} problems"))
        drops.update((i, m) for i, m in zip(rest["row_index"].to_list(), marks, strict=True) if m)
    return _result("decontaminate", problems, drops, info)


def load_prior(against: str, cfg: CurateConfig) -> NearDupIndex:
    """The near-dup index of a published folder (or Hub dataset id) to deduplicate against."""
    folder = Path(against)
    if not folder.exists():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(against, repo_type="dataset", allow_patterns=["index/*", "data/*"]))
        except Exception as exc:
            raise ConfigError([f"dedup.against: cannot read {against!r}: {str(exc).splitlines()[0][:160]}"]) from None
    d = cfg.dedup
    if (folder / "index" / "index.json").is_file():
        try:
            prior = NearDupIndex.load(folder / "index")
        except (ValueError, KeyError, TypeError, EOFError, OSError) as exc:  # a cut-off copy, a hand edit
            raise ConfigError([f"dedup.against: {folder / 'index'}: unreadable near-dup index "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"]) from None
        if (prior.num_perm, prior.shingle) == (d.num_perm, d.shingle):
            return prior
    shards = sorted((folder / "data").glob("*.parquet"))
    if not shards:
        raise ConfigError([f"dedup.against: {against} holds neither index/ nor data/*.parquet"])
    frames = []
    for shard in shards:
        try:
            frames.append(pl.read_parquet(shard, columns=["problem_id", "messages"]))
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ConfigError([f"dedup.against: {shard}: not a readable curated shard "
                               f"({str(exc).splitlines()[0][:160]})"]) from None
    rows = pl.concat(frames).unique("problem_id", keep="first", maintain_order=True)
    texts = [m[0]["content"] for m in rows["messages"].to_list()]
    return NearDupIndex(rows["problem_id"].to_list(), signatures(texts, num_perm=d.num_perm, shingle=d.shingle),
                        d.threshold, d.num_perm, d.shingle)


def near_dedup(problems: pl.DataFrame, cfg: CurateConfig, executor=None, judge=None,
               status=lambda text: None) -> StageResult:
    d = cfg.dedup
    info: dict = {"enabled": d.near, "threshold": d.threshold, "num_perm": d.num_perm, "shingle": d.shingle,
                  "against": d.against}
    if not d.near or problems.height == 0:
        return _result("near_dedup", problems, {}, info)
    prior = load_prior(d.against, cfg) if d.against else None
    sign = executor.signatures if executor is not None else signatures
    sigs = sign(problems["problem"].to_list(), num_perm=d.num_perm, shingle=d.shingle)
    pids = problems["problem_id"].to_list()
    rows = problems["row_index"].to_list()
    result = cluster(sigs, list(zip(pids, rows, strict=True)), d.threshold, prior=prior)
    drops: Drops = {}
    clusters: dict[str, list[str]] = defaultdict(list)
    for i, target in enumerate(result):
        if isinstance(target, str):
            drops[rows[i]] = ("near_duplicate", f"near-duplicate of published {target} ({d.against})")
            clusters[f"published:{target}"].append(pids[i])
        elif target != i:
            drops[rows[i]] = ("near_duplicate", f"near-duplicate of {pids[target]}")
            clusters[pids[target]].append(pids[i])
    ordered = sorted(clusters.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    info["clusters_total"] = len(ordered)
    info["clusters"] = [{"kept": k, "dropped": v} for k, v in ordered[:_REPORT_CAP]]
    return _result("near_dedup", problems, drops, info)


PROBLEM_STAGES = {"exact_dedup": exact_dedup, "decontaminate": decontaminate, "near_dedup": near_dedup}
