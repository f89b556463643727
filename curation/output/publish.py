"""Publishing a run: read the finished parts, write the shards, build the typed report, render the
card. Always redone from the work folder (it is cheap), so a resumed run publishes the same
rows as an uninterrupted one."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from curation.config import CurateConfig
from curation.dedup.minhash import NearDupIndex, signatures
from curation.domains import get_domain
from curation.output.report import (
    LengthReport,
    RowCounts,
    RunReport,
    SourceReport,
    VerifierReport,
    generation_report,
    isolation_report,
    length_stats,
    portable,
    portable_recipe,
    teacher_report,
    verdict_counts,
    versions,
)
from curation.output.shards import TRAIN_SCHEMA, to_train, write_recipe, write_report, write_shards
from curation.stages.contract import REJECTED_SCHEMA, Funnel
from curation.stages.problem_stages import PROBLEM_STAGES
from curation.teachers.generation_stats import PartGeneration, Prices

if TYPE_CHECKING:
    from curation.run.context import RunContext  # the run is the driver's; publishing only reads it

# The funnel's stages, in the order rows pass through them.
STAGES = ("load", *PROBLEM_STAGES, "generate", "format", "verify", "select")


# What publishing does, in order (``publish``'s ``on_step`` is called with each when it is done).
PUBLISH_STEPS = ("train shards", "rejected shards", "index", "report and card")


def publish(run: RunContext, n_parts: int, on_step=lambda step: None, pending: dict | None = None) -> RunReport:
    """Publish the ``n_parts`` parts of ``run`` (a ``curation.run.context.RunContext``). ``pending``: the
    run stopped with parts waiting for answers (``--budget-usd``): the finished parts are published
    and the report says what waits."""
    from data_cards import render_dataset_card

    cfg, src, work, out_dir, lengths = run.cfg, run.source, run.work, run.out_dir, run.lengths
    executor = run.executor.describe()
    judge = run.llm_judge.summary() if run.llm_judge is not None else None
    funnel = Funnel(STAGES)
    done = {k: info for k in range(n_parts) if (info := work.done(work.sample_part(k))) is not None}
    sample_parts = list(done.values())
    for k in range(n_parts):
        funnel.merge([work.done(work.load_part(k))])
        funnel.merge(done[k]["counts"] if k in done else [])
    funnel.merge([work.done(stage) for stage in PROBLEM_STAGES])
    total_train = funnel["select"].kept
    out_dir.mkdir(parents=True, exist_ok=True)

    train_lengths: list[int] = []
    per_source: Counter = Counter()
    verdict_paths: Counter = Counter()
    for part in sample_parts:
        train_lengths.extend(part["summary"]["lengths"])
        per_source.update(part["summary"]["per_source"])
        verdict_paths.update(part["summary"]["decided_by"])

    def train_frames():
        for k in done:
            yield to_train(work.read(work.sample_part(k)), lengths.unit)

    def rejected_frames():
        yield from (work.read(work.rejected(work.load_part(k))) for k in range(n_parts))
        yield from (work.read(work.rejected(stage)) for stage in PROBLEM_STAGES)
        yield from (work.read(work.rejected(work.sample_part(k))) for k in done)

    total_rejected = sum(sum(s.rejected.values()) for s in funnel.stages.values())
    train_files = write_shards(train_frames(), total_train, cfg.output.shard_rows, out_dir / "data", "train",
                               TRAIN_SCHEMA)
    on_step("train shards")
    rejected_files = write_shards(rejected_frames(), total_rejected, cfg.output.shard_rows, out_dir / "rejected",
                                  "rejected", REJECTED_SCHEMA)
    on_step("rejected shards")
    verdicts = verdict_counts([part["summary"] for part in sample_parts])
    domain = get_domain(cfg.domain)
    report = RunReport(
        domain=cfg.domain,
        source=SourceReport(portable(src.name), src.kind, [portable(f) for f in src.files], src.hub_id, src.subset,
                            src.split, src.mapping, cfg.source.limit, dict(src.where),
                            (work.done(work.LOAD) or {}).get("skipped_by_where", 0)),
        rows=RowCounts(funnel["load"].rows_in, total_train, total_rejected, funnel["load"].kept,
                       funnel["generate"].rows_out or 0),
        funnel=funnel.to_list(),
        conservation=funnel.conserved,
        length=LengthReport(lengths.unit, lengths.bound(cfg.filters.max_length), portable(cfg.filters.tokenizer),
                            length_stats(train_lengths)),
        pass_rate=round(verdicts["passed"] / verdicts["checked"], 4) if verdicts and verdicts["checked"] else None,
        verdicts=verdicts,
        per_source=dict(per_source.most_common()),
        verifier=VerifierReport(cfg.domain, cfg.verify.timeout_s, cfg.verify.keep_unverified, dict(verdict_paths),
                                judge),
        teacher=teacher_report(cfg),
        generation=generation_report([PartGeneration.from_dict(p["generation"]) if p.get("generation") else None
                                      for p in sample_parts], Prices.of(cfg.cost)),
        decontamination=_portable_sources(work.done("decontaminate")["info"]),
        near_dedup={k: portable(v) if k == "against" else v for k, v in work.done("near_dedup")["info"].items()},
        isolation=isolation_report(cfg),
        parts=n_parts,
        shards={"train": train_files, "rejected": rejected_files},
        versions=versions(),
        wall_seconds=round(time.time() - run.started, 2),
        work_dir=portable(str(work.root)),
        executor=executor,
        card_tags=list(domain.card_tags),
        pending=pending,
        batch_files=run.batch_files or None,
    )
    recipe = portable_recipe(cfg.to_dict())
    recipe["output"].pop("out_dir", None)
    recipe.pop("batch", None)  # how answers travelled (files of this machine), not what decides the rows
    _write_index(cfg, out_dir)
    on_step("index")
    write_recipe(out_dir, recipe)
    write_report(out_dir, report.to_dict())
    render_dataset_card(report, recipe, out_dir, lengths=train_lengths)
    on_step("report and card")
    return report


def _portable_sources(info: dict) -> dict:
    """The decontamination facts with each benchmark's source ``portable``."""
    benchmarks = {name: {**b, "source": portable(b["source"])} for name, b in (info.get("benchmarks") or {}).items()}
    return {**info, "benchmarks": benchmarks}


def _write_index(cfg: CurateConfig, out_dir: Path) -> None:
    """Save the near-dup index of the published problems (for a later ``--dedup-against``)."""
    d = cfg.dedup
    rows = pl.read_parquet(out_dir / "data", columns=["problem_id", "messages"]).unique(
        "problem_id", keep="first", maintain_order=True)
    texts = [m[0]["content"] for m in rows["messages"].to_list()]
    sigs = signatures(texts, num_perm=d.num_perm, shingle=d.shingle)
    NearDupIndex(rows["problem_id"].to_list(), sigs, d.threshold, d.num_perm, d.shingle).save(out_dir / "index")
