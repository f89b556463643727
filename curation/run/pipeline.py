"""The flow of one curation run, in four resumable phases.

1. load: source rows -> problems, part by part (``malformed_*`` rows rejected);
2. problem stages over all problems (exact dedup, decontamination, near-dedup), before any
   teacher compute is spent;
3. per part: generate -> format filters -> verify -> select. Replayed traces: ``run_part`` over
   each part, run by the executor (``curation.run.executors``); a live teacher: the streaming
   scheduler over every unfinished part at once (``curation.run.streaming``);
4. publish: shards, rejected shards, report, recipe, card (always redone; it is cheap).

Requests a live teacher is not asked now (``--export-requests``, ``--batch``, ``--budget-usd``) are
dealt with by ``curation.run.batch_rounds``: a run that waits for answers publishes nothing
(``AnswersPending``), except when the budget stopped it (its finished parts are published).

Every part's outputs are written atomically with a completion marker (``curation.workdir``), so
re-running the same command after a kill skips finished parts and publishes the same rows. The
driver (this module) keeps the work folder, the markers and the teacher, all in the run's
``RunContext``; an executor only decides where the pure, CPU-heavy work runs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import polars as pl
from rich.console import Console

from curation.config import CurateConfig
from curation.output.publish import PUBLISH_STEPS, publish
from curation.progress import DEFAULT_EVERY_S, RunProgress
from curation.run.batch_rounds import AnswersPending, Pending, import_files, teacher_passes
from curation.run.context import RunContext
from curation.run.part_work import PartResult
from curation.run.streaming import StreamingScheduler, StreamProgress
from curation.settings import ConfigError
from curation.sources.columns import column_problems, columns_of, nothing_loaded_problem
from curation.sources.rows import ResolvedSource, iter_parts, iter_rows
from curation.stages.contract import StageResult, rejected_frame, timed, to_rejected
from curation.stages.load import load_stage
from curation.stages.problem_stages import PROBLEM_STAGES
from curation.teachers.base import LiveTeacher
from curation.teachers.batch import BatchAPIError


def _load_phase(run: RunContext, progress: RunProgress) -> int:
    cfg, src, work = run.cfg, run.source, run.work
    info = work.done(work.LOAD)
    if info is not None:
        return info["parts"]
    size = cfg.output.part_size
    task = progress.add_task("load", total=None, status="")
    n_parts = 0
    rows_seen = 0
    skipped = [0]
    # a mapping or filter that names a column no row has: one line, before any work on the rows
    first_rows = list(iter_rows(dataclasses.replace(src, where=()), 200))
    if problems := column_problems(first_rows, src.mapping, dict(src.where)):
        raise ConfigError(problems)
    kept, rejected, columns = 0, Counter(), columns_of(first_rows)
    for k, rows in enumerate(iter_parts(src, size, cfg.source.limit, skipped)):
        n_parts += 1
        rows_seen += len(rows)
        name = work.load_part(k)
        if (info := work.done(name)) is None:
            result = timed(load_stage, rows, k * size, src.mapping, cfg.domain, src.name)
            work.write(name, result.kept)
            work.write(work.rejected(name), result.rejected)
            work.mark_done(name, info := result.count())
        kept += info["kept"]
        rejected.update(info["rejected"])
        progress.update(task, advance=1, status=f"{rows_seen} rows")
    if not kept and (problem := nothing_loaded_problem(rows_seen, dict(rejected), columns, src.mapping)):
        raise ConfigError([problem])  # nothing to curate: a mistake in the mapping, not an empty result
    if not rows_seen and skipped[0]:
        where = ", ".join(f"{k}={v}" for k, v in src.where)
        raise ConfigError([f"source.where: {where} matches none of the source's {skipped[0]} rows"])
    work.mark_done(work.LOAD, {"parts": n_parts, "skipped_by_where": skipped[0]})
    progress.update(task, total=n_parts)
    return n_parts


def _with_source_rows(result: StageResult, run: RunContext, n_parts: int) -> pl.DataFrame:
    """A problem stage's rejected rows as the full source rows (with their responses), in one scan."""
    if result.rejected.height == 0:
        return rejected_frame()
    marks = {i: (r, d) for i, r, d in zip(result.rejected["row_index"], result.rejected["reason"],
                                          result.rejected["detail"], strict=True)}
    parts = [run.work.parquet(run.work.load_part(k)) for k in range(n_parts)]
    hit = pl.scan_parquet(parts).filter(pl.col("row_index").is_in(list(marks))).collect()
    return to_rejected(hit.with_columns(
        pl.lit(result.stage).alias("stage"),
        pl.Series("reason", [marks[i][0] for i in hit["row_index"]], dtype=pl.String),
        pl.Series("detail", [marks[i][1] for i in hit["row_index"]], dtype=pl.String)))


def _problem_phase(run: RunContext, n_parts: int, progress: RunProgress) -> set[int]:
    """Run the problem-level stages in order, each over what the previous kept; returns dropped rows."""
    work = run.work
    cols = ["problem_id", "problem", "reference", "row_index"]
    problems: pl.DataFrame | None = None
    dropped: set[int] = set()
    task = progress.add_task("problem stages", total=len(PROBLEM_STAGES), status="")
    for stage, fn in PROBLEM_STAGES.items():
        if work.done(stage) is None:
            if problems is None:
                frames = [work.read(work.load_part(k), columns=cols) for k in range(n_parts)]
                problems = pl.concat(frames) if frames else pl.DataFrame(schema={c: pl.String for c in cols})
            remaining = problems.filter(~pl.col("row_index").is_in(list(dropped))) if dropped else problems
            progress.update(task, status=stage)
            result = timed(fn, remaining, run.cfg, run.executor, run.llm_judge,
                           status=lambda text: progress.update(task, status=text))
            work.write(work.rejected(stage), _with_source_rows(result, run, n_parts))
            work.write(stage, result.rejected.select("row_index"))
            work.mark_done(stage, {**result.count(), "info": result.info})
        dropped |= set(work.read(stage)["row_index"].to_list())
        progress.update(task, advance=1)
    return dropped


def _sample_phase(run: RunContext, n_parts: int, dropped: set[int], progress: RunProgress) -> Pending | None:
    """Every unfinished part generated, verified, selected and written; a live teacher's requests that
    were not sent (batch files, the budget) are returned as ``Pending``."""
    work = run.work
    kept_total = 0

    def problems_of(k: int) -> pl.DataFrame:
        problems = work.read(work.load_part(k))
        return problems.filter(~pl.col("row_index").is_in(list(dropped))) if dropped else problems

    def finished(k: int, result: PartResult) -> None:
        nonlocal kept_total
        name = work.sample_part(k)
        work.write(name, result.kept)
        work.write(work.rejected(name), result.rejected())
        work.mark_done(name, result.marker())
        kept_total += result.kept.height
        progress.update(task, advance=1, status=f"{kept_total} kept")

    pending = []
    for k in range(n_parts):
        info = work.done(work.sample_part(k))
        if info is None:
            pending.append(k)
        else:
            kept_total += info["kept"]
    task = progress.add_task("generate + verify (parts)", total=n_parts, completed=n_parts - len(pending),
                             status=f"{kept_total} kept")
    if isinstance(run.teacher, LiveTeacher):
        teacher = run.teacher

        def stream(parts: list[int], defer: bool, spent_before: float) -> StreamingScheduler:
            return _stream(run, teacher, parts, problems_of, finished, progress, defer, spent_before)

        return teacher_passes(run, pending, stream, say=lambda m: run.console.print(f"[yellow]{m}[/yellow]"),
                              status=lambda m: progress.update(task, status=m))
    for k, result in run.executor.run_parts((k, problems_of(k)) for k in pending):
        finished(k, result)
    return None


def _stream(run: RunContext, teacher: LiveTeacher, pending: list[int], problems_of, finished,
            progress: RunProgress, defer: bool = False, spent_before: float = 0.0) -> StreamingScheduler:
    """Live teacher: one streaming scheduler over every unfinished part (``curation.run.streaming``)."""
    total = (run.work.done("near_dedup") or {}).get("kept", 0)  # problems to settle over the whole run
    settled_before = total - sum(problems_of(k).height for k in pending)
    task = progress.add_task("teacher: problems settled", total=total, completed=settled_before, status="")

    def show(counts: StreamProgress) -> None:
        progress.update(task, completed=settled_before + counts.settled, status=counts.status(total, settled_before))

    scheduler = StreamingScheduler(run.cfg, pending, problems_of, teacher, run.responses, run.executor, finished,
                                   say=lambda m: run.console.print(f"[yellow]{m}[/yellow]"), progress=show,
                                   defer=defer, spent_before=spent_before)
    scheduler.run()
    return scheduler


def run_curation(cfg: CurateConfig, *, source: ResolvedSource | None = None, restart: bool = False,
                 drop_answers: bool = False, console: Console | None = None, quiet: bool = False,
                 progress_every: float = DEFAULT_EVERY_S) -> dict:
    """Run (or resume) one curation and publish it. Returns the report (``report.json``'s content).
    ``source``: the source as ``curation.prepare`` resolved it (resolved here when not given).
    ``restart`` redoes all CPU work; ``drop_answers`` deletes the stored answers of this teacher
    setting first (they are asked, and paid for, again); ``progress_every``: seconds between
    progress lines when stderr is not a terminal."""
    run = RunContext.open(cfg, source=source, restart=restart, drop_answers=drop_answers, console=console)
    try:
        run.executor.start()  # ray: joins or starts the cluster, checks every node's sandbox
        if run.responses is not None and cfg.batch.import_responses:
            import_files(run, say=run.console.print)
        with RunProgress(run.console, every=progress_every, quiet=quiet) as progress:
            n_parts = _load_phase(run, progress)
            dropped = _problem_phase(run, n_parts, progress)
            waiting = _sample_phase(run, n_parts, dropped, progress)
            if waiting is not None and not waiting.publishes:
                raise AnswersPending(waiting)
            task = progress.add_task("publish", total=len(PUBLISH_STEPS))
            report = publish(run, n_parts, on_step=lambda done: progress.update(task, advance=1,
                                                                               status=f"{done} written"),
                             pending=waiting.to_dict() if waiting else None)
    except BatchAPIError as exc:
        raise TeacherFailed(str(exc)) from None
    finally:
        run.close()
    if waiting is not None:
        run.console.print(f"[yellow]{waiting.message()}[/yellow]")
    _check_generation(report.generation, run.console)
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
