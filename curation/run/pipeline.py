"""The flow of one curation run, in four resumable phases.

1. load: source rows -> problems, part by part (``malformed_*`` rows rejected);
2. problem stages over all problems (exact dedup, decontamination, near-dedup), before any
   teacher compute is spent;
3. per part: ``run_part`` (generate -> format filters -> verify -> select), run by an executor
   (``curation.run.executors.local``), or for a live teacher the streaming scheduler;
4. publish: shards, rejected shards, report, recipe, card (always redone; it is cheap).

Every part's outputs are written atomically with a completion marker, so re-running the same
command after a kill skips finished parts and publishes the same rows. The driver (this module)
keeps the work folder, the markers and the teacher; an executor only decides where the pure,
CPU-heavy work runs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from curation.config import CurateConfig
from curation.domains import get_domain
from curation.output.publish import publish
from curation.run.executors.local import make_executor
from curation.run.part_work import PartResult
from curation.run.streaming import StreamingScheduler
from curation.settings import ConfigError
from curation.sources.rows import ResolvedSource, iter_parts, resolve_source
from curation.stages.contract import StageResult, rejected_frame, timed, to_rejected
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge
from curation.stages.load import load_stage
from curation.stages.problem_stages import PROBLEM_STAGES
from curation.teachers import LazyTeacher
from curation.teachers.response_log import ResponseLog
from curation.workdir import WorkDir

# Bump when the layout or schema of work parts changes: parts written by another format are
# never mixed with new ones (the run asks for --restart instead).
WORK_FORMAT = 4


def out_dir_of(cfg: CurateConfig) -> Path:
    return Path(cfg.output.out_dir or f"out/{cfg.domain}")


def work_dir_of(out_dir: Path) -> Path:
    """Work parts live beside the published folder, never inside it (so they are never pushed)."""
    return out_dir.parent / ".work" / out_dir.name


def part_name(k: int) -> str:
    return f"part-{k:05d}"


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
        name = f"load/{part_name(k)}"
        if work.done(name) is None:
            result = timed(load_stage, rows, k * size, src.mapping, cfg.domain, src.name)
            work.write(name, result.kept)
            work.write(name + ".rejected", result.rejected)
            work.mark_done(name, result.count())
        progress.update(task, advance=1, status=f"{rows_seen} rows")
    work.mark_done("load", {"parts": n_parts, "skipped_by_where": skipped[0]})
    progress.update(task, total=n_parts)
    return n_parts


def _with_source_rows(result: StageResult, work: WorkDir, n_parts: int) -> pl.DataFrame:
    """A problem stage's rejected rows as the full source rows (with their responses), in one scan."""
    if result.rejected.height == 0:
        return rejected_frame()
    marks = {i: (r, d) for i, r, d in zip(result.rejected["row_index"], result.rejected["reason"],
                                          result.rejected["detail"], strict=True)}
    parts = [work.root / f"load/{part_name(k)}.parquet" for k in range(n_parts)]
    hit = pl.scan_parquet(parts).filter(pl.col("row_index").is_in(list(marks))).collect()
    return to_rejected(hit.with_columns(
        pl.lit(result.stage).alias("stage"),
        pl.Series("reason", [marks[i][0] for i in hit["row_index"]], dtype=pl.String),
        pl.Series("detail", [marks[i][1] for i in hit["row_index"]], dtype=pl.String)))


def _problem_phase(cfg: CurateConfig, work: WorkDir, n_parts: int, progress: Progress, executor) -> set[int]:
    """Run the problem-level stages in order, each over what the previous kept; returns dropped rows."""
    cols = ["problem_id", "problem", "reference", "row_index"]
    problems: pl.DataFrame | None = None
    dropped: set[int] = set()
    task = progress.add_task("problem stages", total=len(PROBLEM_STAGES), status="")
    for stage, fn in PROBLEM_STAGES.items():
        if work.done(stage) is None:
            if problems is None:
                frames = [pl.read_parquet(work.root / f"load/{part_name(k)}.parquet", columns=cols)
                          for k in range(n_parts)]
                problems = pl.concat(frames) if frames else pl.DataFrame(schema={c: pl.String for c in cols})
            remaining = problems.filter(~pl.col("row_index").is_in(list(dropped))) if dropped else problems
            progress.update(task, status=stage)
            result = timed(fn, remaining, cfg, executor)
            work.write(f"{stage}.rejected", _with_source_rows(result, work, n_parts))
            work.write(stage, result.rejected.select("row_index"))
            work.mark_done(stage, {**result.count(), "info": result.info})
        dropped |= set(work.read(stage)["row_index"].to_list())
        progress.update(task, advance=1)
    return dropped


def _sample_phase(cfg: CurateConfig, work: WorkDir, n_parts: int, dropped: set[int], lengths: LengthCounter,
                  progress: Progress, executor, console: Console) -> None:
    task = progress.add_task("generate + verify", total=n_parts, status="")
    kept_total = 0

    def problems_of(k: int) -> pl.DataFrame:
        problems = work.read(f"load/{part_name(k)}")
        return problems.filter(~pl.col("row_index").is_in(list(dropped))) if dropped else problems

    def finished(k: int, result: PartResult) -> None:
        nonlocal kept_total
        name = f"samples/{part_name(k)}"
        work.write(name, result.kept)
        work.write(name + ".rejected", result.rejected())
        work.mark_done(name, result.marker())
        kept_total += result.kept.height
        progress.update(task, advance=1, status=f"{kept_total} kept")

    pending = []
    for k in range(n_parts):
        info = work.done(f"samples/{part_name(k)}")
        if info is None:
            pending.append(k)
        else:
            kept_total += info["kept"]
            progress.update(task, advance=1, status=f"{kept_total} kept")
    if cfg.teacher.backend == "replay":
        for k, result in executor.run_parts((k, problems_of(k)) for k in pending):
            finished(k, result)
        return
    _stream(cfg, work, pending, problems_of, lengths, finished, progress, console, executor)


def _stream(cfg, work, pending, problems_of, lengths, finished, progress: Progress, console: Console,
            executor) -> None:
    """Live teacher: one streaming scheduler over every unfinished part (``curation.run.streaming``)."""
    total = (work.done("near_dedup") or {}).get("kept", 0)  # problems to settle over the whole run
    settled_before = total - sum(problems_of(k).height for k in pending)
    task = progress.add_task("teacher", total=None, status="")
    logs: list[ResponseLog] = []

    def open_part(k: int):
        log = ResponseLog(work.path(f"responses/{part_name(k)}.jsonl"))
        logs.append(log)
        return problems_of(k), log

    def show(c: dict) -> None:
        settled = settled_before + c.get("settled", 0)
        rate = c.get("settled", 0) / c["elapsed"] if c["elapsed"] else 0
        eta = f"ETA {(total - settled) / rate:,.0f} s" if rate and total > settled else ""
        in_flight = c.get("sent", 0) - c.get("done", 0) - c["queued"]
        rounds = " ".join(f"r{r} {n}" for r, n in c["per_round"].items())
        progress.update(task, completed=c.get("done", 0), total=c.get("sent", 0) or None, status=(
            f"in flight {in_flight} | answered {c.get('answered', 0)} | verified {c.get('verified', 0)} | failed "
            f"{c.get('failed', 0)} | asked {rounds} | "
            f"{c.get('completion_tokens', 0) / max(c['elapsed'], 1e-9):,.0f} tok/s | problems {settled}/{total} {eta}"))

    scheduler = StreamingScheduler(cfg, pending, open_part, LazyTeacher(cfg.teacher), executor, finished,
                                   say=lambda m: console.print(f"[yellow]{m}[/yellow]"), progress=show)
    try:
        scheduler.run()
    finally:
        for log in logs:
            log.close()


def run_curation(cfg: CurateConfig, *, source: ResolvedSource | None = None, restart: bool = False,
                 console: Console | None = None, quiet: bool = False) -> dict:
    """Run (or resume) one curation and publish it. Returns the report (``report.json``'s content).
    ``source``: the source as ``curation.prepare`` resolved it (resolved here when not given)."""
    console = console or Console(stderr=True)
    started = time.time()
    src = source or resolve_source(cfg.source, cfg.domain)
    out_dir = out_dir_of(cfg)
    work = WorkDir(work_dir_of(out_dir))
    lengths = LengthCounter(cfg.filters.tokenizer)  # a bad tokenizer is a config error: report it first
    if get_domain(cfg.domain).executes_code and cfg.verify.sandbox and cfg.executor.kind == "local":
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
    judge = LLMJudge(cfg.judge, work.path("judge")) if cfg.judge.backend != "none" else None
    executor = make_executor(cfg, lengths, judge)
    try:
        executor.start()  # ray: joins or starts the cluster, checks every node's sandbox
        with _progress(console, quiet) as progress:
            n_parts = _load_phase(cfg, src, work, progress)
            dropped = _problem_phase(cfg, work, n_parts, progress, executor)
            _sample_phase(cfg, work, n_parts, dropped, lengths, progress, executor, console)
        report = publish(cfg, src, work, n_parts, out_dir, lengths, started, executor.describe(),
                         judge.summary() if judge is not None else None)
    finally:
        executor.close()
        if judge is not None:
            judge.close()
    _check_generation(report.generation, console)
    return report.to_dict()


class TeacherFailed(RuntimeError):
    """Every request sent to the live teacher failed; ``str()`` names the kinds and the server's words.
    The run is still published (every problem rejected as ``teacher_failed``)."""


def _check_generation(gen: dict | None, console: Console) -> None:
    if not gen:
        return
    if gen["duplicate_responses"]:
        console.print(f"[yellow]teacher: {gen['duplicate_responses']} response(s) repeat another response to the "
                      "same problem word for word under a different seed; the server may decode greedily or ignore "
                      "`seed` (check its sampling settings), which wastes every extra sample[/yellow]")
    if gen["sent"] and not gen["answered"]:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(gen["failed"].items()))
        words = "; ".join(f"{k}: {d}" for k, d in sorted(gen["first_errors"].items()) if d)
        raise TeacherFailed(f"every request to the teacher failed ({kinds})" + (f": {words}" if words else ""))
