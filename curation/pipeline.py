"""The flow of one curation run, in four resumable phases.

1. load: source rows -> problems, part by part (``malformed_*`` rows rejected);
2. problem stages over all problems (exact dedup), before any teacher compute is spent;
3. per part: generate (teacher) -> format filters -> verify -> select;
4. publish: shards, rejected shards, report, recipe, card (always redone; it is cheap).

Every part's outputs are written atomically with a completion marker, so re-running the same
command after a kill skips finished parts and publishes the same rows.
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from curation.config import ConfigError, CurateConfig
from curation.format_filters import LengthCounter
from curation.minhash import NearDupIndex, signatures
from curation.problem_stages import PROBLEM_STAGES
from curation.problems import load_part
from curation.publish import (
    REJECTED_SCHEMA,
    TRAIN_SCHEMA,
    to_rejected,
    to_train,
    write_recipe,
    write_report,
    write_shards,
)
from curation.rounds import ResponseLog, format_and_verify, sample_in_rounds
from curation.select import select_stage
from curation.sources import ResolvedSource, iter_parts, resolve_source
from curation.stages import Funnel, StageCount
from curation.teachers import LazyTeacher, replay_generate
from curation.teachers.samples import teacher_info
from curation.workdir import WorkDir

STAGES = ("load", *PROBLEM_STAGES, "generate", "format", "verify", "select")
# Bump when the layout or schema of work parts changes: parts written by another format are
# never mixed with new ones (the run asks for --restart instead).
WORK_FORMAT = 3


def out_dir_of(cfg: CurateConfig) -> Path:
    return Path(cfg.output.out_dir or f"out/{cfg.domain}")


def work_dir_of(out_dir: Path) -> Path:
    """Work parts live beside the published folder, never inside it (so they are never pushed)."""
    return out_dir.parent / ".work" / out_dir.name


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, disable=quiet,
                    transient=False)


def _load_phase(cfg: CurateConfig, src: ResolvedSource, work: WorkDir, progress: Progress) -> int:
    info = work.done("load")
    if info is not None:
        return info["parts"]
    size = cfg.output.part_size
    task = progress.add_task("load", total=None, status="")
    n_parts = 0
    rows_seen = 0
    skipped = [0]
    for k, rows in enumerate(iter_parts(src, size, cfg.source.limit, skipped)):
        n_parts += 1
        rows_seen += len(rows)
        name = f"load/part-{k:05d}"
        if work.done(name) is None:
            t0 = time.perf_counter()
            problems, rejected = load_part(rows, k * size, src.mapping, cfg.domain, src.name)
            count = StageCount("load")
            count.add(len(rows), problems.height, rejected, time.perf_counter() - t0)
            work.write(name, problems)
            work.write(name + ".rejected", rejected)
            work.mark_done(name, count.to_dict())
        progress.update(task, advance=1, status=f"{rows_seen} rows")
    work.mark_done("load", {"parts": n_parts, "skipped_by_where": skipped[0]})
    progress.update(task, total=n_parts)
    return n_parts


def _problem_phase(cfg: CurateConfig, work: WorkDir, n_parts: int, progress: Progress) -> set[int]:
    """Run the problem-level stages in order, each over what the previous kept; returns dropped rows."""
    cols = ["problem_id", "problem", "reference", "row_index"]
    problems: pl.DataFrame | None = None
    dropped: set[int] = set()
    task = progress.add_task("problem stages", total=len(PROBLEM_STAGES), status="")
    for stage, fn in PROBLEM_STAGES.items():
        if work.done(stage) is None:
            if problems is None:
                frames = [pl.read_parquet(work.root / f"load/part-{k:05d}.parquet", columns=cols)
                          for k in range(n_parts)]
                problems = pl.concat(frames) if frames else pl.DataFrame(schema={c: pl.String for c in cols})
            remaining = problems.filter(~pl.col("row_index").is_in(list(dropped))) if dropped else problems
            progress.update(task, status=stage)
            t0 = time.perf_counter()
            drops, info = fn(remaining, cfg)
            rejected = pl.DataFrame(schema=REJECTED_SCHEMA)
            if drops:  # the full rows (with their responses) of the dropped problems, in one filtered scan
                parts = [work.root / f"load/part-{k:05d}.parquet" for k in range(n_parts)]
                hit = pl.scan_parquet(parts).filter(pl.col("row_index").is_in(list(drops))).collect()
                rejected = to_rejected(hit.with_columns(
                    pl.lit(stage).alias("stage"),
                    pl.Series("reason", [drops[i][0] for i in hit["row_index"]], dtype=pl.String),
                    pl.Series("detail", [drops[i][1] for i in hit["row_index"]], dtype=pl.String)))
            work.write(f"{stage}.rejected", rejected)
            work.write(stage, pl.DataFrame({"row_index": list(drops)}, schema={"row_index": pl.Int64}))
            count = StageCount(stage)
            count.add(remaining.height, remaining.height - len(drops), Counter(r for r, _ in drops.values()),
                      time.perf_counter() - t0)
            work.mark_done(stage, {**count.to_dict(), "info": info})
        dropped |= set(work.read(stage)["row_index"].to_list())
        progress.update(task, advance=1)
    return dropped


def _sample_phase(cfg: CurateConfig, work: WorkDir, n_parts: int, dropped: set[int], lengths: LengthCounter,
                  progress: Progress) -> None:
    live = cfg.teacher.backend != "replay"
    teacher = LazyTeacher(cfg.teacher) if live else None
    task = progress.add_task("generate + verify", total=n_parts, status="")
    kept_total = 0
    for k in range(n_parts):
        name = f"samples/part-{k:05d}"
        info = work.done(name)
        if info is None:
            problems = work.read(f"load/part-{k:05d}")
            if dropped:
                problems = problems.filter(~pl.col("row_index").is_in(list(dropped)))
            if live:
                log = ResponseLog(work.path(f"responses/part-{k:05d}.jsonl"))
                try:
                    verified, rejected, counts, gen_stats = sample_in_rounds(problems, cfg, teacher, log, lengths)
                finally:
                    log.close()
            else:
                counts, gen_stats = [], None
                t0 = time.perf_counter()
                samples, gen = replay_generate(problems, cfg.teacher)
                counts.append(_count("generate", problems.height, gen, t0, rows_out=samples.height))
                fmt_count, ver_count = StageCount("format"), StageCount("verify")
                fmt, ver = format_and_verify(samples, cfg, lengths, fmt_count, ver_count)
                counts += [fmt_count.to_dict(), ver_count.to_dict()]
                verified, rejected = ver.kept, [gen.rejected, fmt.rejected, ver.rejected]
            t0 = time.perf_counter()
            sel = select_stage(verified, cfg.select.keep)
            counts.append(_count("select", verified.height, sel, t0))
            work.write(name, sel.kept)
            work.write(name + ".rejected", pl.concat([to_rejected(r) for r in (*rejected, sel.rejected)]))
            info = {"counts": counts, "kept": sel.kept.height, "generation": gen_stats}
            work.mark_done(name, info)
        kept_total += info["kept"]
        progress.update(task, advance=1, status=f"{kept_total} kept")


def _count(stage: str, rows_in: int, result, t0: float, rows_out: int | None = None) -> dict:
    c = StageCount(stage)
    c.add(rows_in, result.kept.height, result.rejected, time.perf_counter() - t0, rows_out)
    return c.to_dict()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("branch-merge", "math-verify", "sympy", "polars", "pyarrow", "datasets", "datasketch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _length_stats(values: list[int]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def q(p: float) -> int:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"count": len(values), "min": ordered[0], "p10": q(0.1), "median": q(0.5), "mean": round(
        statistics.fmean(values), 1), "p90": q(0.9), "max": ordered[-1], "total": sum(values)}


def run_curation(cfg: CurateConfig, *, restart: bool = False, console: Console | None = None,
                 quiet: bool = False) -> dict:
    """Run (or resume) one curation and publish it. Returns the report."""
    console = console or Console(stderr=True)
    started = time.time()
    src = resolve_source(cfg.source, cfg.domain)
    out_dir = out_dir_of(cfg)
    work = WorkDir(work_dir_of(out_dir))
    lengths = LengthCounter(cfg.filters.tokenizer)  # a bad tokenizer is a config error: report it first
    if cfg.domain == "code" and cfg.verify.sandbox:
        from verifiers.code import isolation

        info = isolation()
        if not info["unprivileged_uid"]:
            raise ConfigError([f"verify.sandbox: the code sandbox cannot start on this machine "
                               f"({info.get('error') or 'bubblewrap (bwrap) is not installed'}); install bubblewrap "
                               "(apt-get install bubblewrap) or run without --sandbox"])
    fingerprint = {"work_format": WORK_FORMAT, "recipe": cfg.fingerprint_dict(),
                   "source": dataclasses.asdict(src)}
    if not work.ensure(fingerprint, restart=restart):
        raise ConfigError([f"work folder {work.root} holds parts of a different recipe or source; "
                           "re-run with --restart to discard them"])
    with _progress(console, quiet) as progress:
        n_parts = _load_phase(cfg, src, work, progress)
        dropped = _problem_phase(cfg, work, n_parts, progress)
        _sample_phase(cfg, work, n_parts, dropped, lengths, progress)
    return publish(cfg, src, work, n_parts, out_dir, lengths, started)


def publish(cfg: CurateConfig, src: ResolvedSource, work: WorkDir, n_parts: int, out_dir: Path,
            lengths: LengthCounter, started: float) -> dict:
    from data_cards import render_dataset_card

    funnel = Funnel(STAGES)
    sample_parts = [work.done(f"samples/part-{k:05d}") for k in range(n_parts)]
    for k in range(n_parts):
        funnel.merge([work.done(f"load/part-{k:05d}")])
        funnel.merge(sample_parts[k]["counts"])
    funnel.merge([work.done(stage) for stage in PROBLEM_STAGES])
    total_train = funnel["select"].kept
    out_dir.mkdir(parents=True, exist_ok=True)

    train_lengths: list[int] = []
    per_source: Counter = Counter()
    verdict_paths: Counter = Counter()
    published: dict[str, str] = {}  # problem_id -> problem, for the near-dup index

    def train_frames():
        for k in range(n_parts):
            part = work.read(f"samples/part-{k:05d}")
            if part.height:
                for pid, text in zip(part["problem_id"], part["problem"], strict=True):
                    published.setdefault(pid, text)
                train_lengths.extend(part["length"].to_list())
                per_source.update(part["source"].to_list())
                verdict_paths.update(d.rsplit("via=", 1)[-1] if "via=" in d else "other"
                                     for d in part["verdict"].struct.field("detail").to_list())
            yield to_train(part, lengths.unit)

    def rejected_frames():
        yield from (to_rejected(work.read(f"load/part-{k:05d}.rejected")) for k in range(n_parts))
        yield from (work.read(f"{stage}.rejected") for stage in PROBLEM_STAGES)
        yield from (work.read(f"samples/part-{k:05d}.rejected") for k in range(n_parts))

    total_rejected = sum(sum(s.rejected.values()) for s in funnel.stages.values())
    train_files = write_shards(train_frames(), total_train, cfg.output.shard_rows, out_dir / "data", "train",
                               TRAIN_SCHEMA)
    rejected_files = write_shards(rejected_frames(), total_rejected, cfg.output.shard_rows, out_dir / "rejected",
                                  "rejected", REJECTED_SCHEMA)
    verify = funnel["verify"]
    report = {
        "domain": cfg.domain,
        "source": {"name": src.name, "kind": src.kind, "files": list(src.files), "hub_id": src.hub_id,
                   "subset": src.subset, "split": src.split, "fields": src.mapping, "limit": cfg.source.limit,
                   "where": dict(src.where),
                   "rows_skipped_by_where": (work.done("load") or {}).get("skipped_by_where", 0)},
        "rows": {"source_rows": funnel["load"].rows_in, "train": total_train, "rejected": total_rejected,
                 "problems_in": funnel["load"].kept, "samples_generated": funnel["generate"].rows_out or 0},
        "funnel": funnel.to_list(),
        "conservation": funnel.conserved,
        "length": {"unit": lengths.unit, "max_length": lengths.bound(cfg.filters.max_length),
                   "tokenizer": cfg.filters.tokenizer, "train": _length_stats(train_lengths)},
        "pass_rate": round(verify.kept / verify.rows_in, 4) if verify.rows_in else None,
        "per_source": dict(per_source.most_common()),
        "verifier": {"domain": cfg.domain, "timeout_s": cfg.verify.timeout_s,
                     "keep_unverified": cfg.verify.keep_unverified, "decided_by": dict(verdict_paths)},
        "teacher": _teacher_report(cfg),
        "generation": _generation_report([p.get("generation") for p in sample_parts]),
        "decontamination": work.done("decontaminate")["info"],
        "near_dedup": work.done("near_dedup")["info"],
        "isolation": _isolation(cfg),
        "parts": n_parts,
        "shards": {"train": train_files, "rejected": rejected_files},
        "versions": _versions(),
        "wall_seconds": round(time.time() - started, 2),
        "work_dir": str(work.root),
    }
    recipe = cfg.to_dict()
    recipe["output"].pop("out_dir", None)
    _write_index(cfg, published, out_dir)
    write_recipe(out_dir, recipe)
    write_report(out_dir, report)
    render_dataset_card(report, recipe, out_dir, lengths=train_lengths)
    return report


def _teacher_report(cfg: CurateConfig) -> dict:
    """The teacher settings that shaped the data (a replay run: only the recorded sampling ones)."""
    if cfg.teacher.backend == "replay":
        return teacher_info(cfg.teacher, cfg.teacher.seed)
    return {k: v for k, v in dataclasses.asdict(cfg.teacher).items() if k != "api_key_env"}


def _generation_report(parts: list[dict | None]) -> dict | None:
    """Requests, tokens, errors by kind and throughput of a live teacher, summed over parts."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    out = {"requests": 0, "sent": 0, "answered": 0, "prompt_tokens": 0, "completion_tokens": 0,
           "teacher_seconds": 0.0}
    failed, retried, rounds = Counter(), Counter(), {}
    for p in parts:
        for key in out:
            out[key] += p[key]
        failed.update(p["failed"])
        retried.update(p["retried"])
        for r in p["rounds"]:
            acc = rounds.setdefault(r["round"], Counter())
            acc.update({k: v for k, v in r.items() if k != "round"})
    secs = out["teacher_seconds"]
    out.update(teacher_seconds=round(secs, 2), failed=dict(failed), retried=dict(retried),
               requests_per_s=round(out["sent"] / secs, 2) if secs else None,
               completion_tokens_per_s=round(out["completion_tokens"] / secs, 1) if secs and out["sent"] else None,
               rounds=[{"round": r, **dict(c)} for r, c in sorted(rounds.items())])
    return out


def _write_index(cfg: CurateConfig, published: dict[str, str], out_dir: Path) -> None:
    """Save the near-dup index of the published problems (for a later ``--dedup-against``)."""
    d = cfg.dedup
    sigs = signatures(list(published.values()), num_perm=d.num_perm, shingle=d.shingle)
    NearDupIndex(list(published), sigs, d.threshold, d.num_perm, d.shingle).save(out_dir / "index")


def _isolation(cfg: CurateConfig) -> dict | None:
    """The sandbox isolation actually in force, for code runs that executed candidates."""
    if cfg.domain != "code" or not cfg.verify.sandbox:
        return None
    from verifiers.code import isolation

    return dict(isolation())
