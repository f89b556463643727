"""One run's shared state, built once (``RunContext.open``) and handed to every phase and to
publishing, instead of long parameter lists (the shape of torchtune's recipe object)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from curation.config import CurateConfig, TeacherConfig
from curation.domains import get_domain
from curation.run.executors.base import Executor
from curation.run.executors.registry import make_executor
from curation.settings import ConfigError
from curation.sources.rows import ResolvedSource, resolve_source
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge
from curation.teachers.base import LiveTeacher, Teacher
from curation.teachers.registry import run_teacher
from curation.teachers.requests import GenRequest, build_prompt
from curation.teachers.response_log import ResponseLog
from curation.teachers.response_store import ResponseStore
from curation.workdir import WORK_FORMAT, WorkDir


@dataclass
class RunContext:
    cfg: CurateConfig
    source: ResolvedSource  # resolved once
    out_dir: Path  # the published folder
    work: WorkDir  # beside it
    lengths: LengthCounter  # tokens of the configured tokenizer, else characters
    teacher: Teacher  # replay, or a live backend built on its first request
    executor: Executor
    llm_judge: LLMJudge | None
    started: float  # wall clock at the start, for the report
    console: Console
    responses: ResponseStore | None = None  # a live teacher's paid answers, kept outside the work folder
    batch_files: list[dict] = field(default_factory=list)  # batch output files read (``ImportSummary.to_dict``)
    spent_usd: float = 0.0  # with prices: what this process paid for answers (live, and batch files it read)

    @classmethod
    def open(cls, cfg: CurateConfig, *, source: ResolvedSource | None = None, restart: bool = False,
             drop_answers: bool = False, console: Console | None = None) -> RunContext:
        """Resolve the source, check what can be checked before any work (the tokenizer, the sandbox,
        the work folder's recipe) and build the run's pieces; ``close()`` releases them."""
        console = console or Console(stderr=True)
        started = time.time()
        src = source or resolve_source(cfg.source, cfg.domain)
        out_dir = Path(cfg.output.out_dir or f"out/{cfg.domain}")
        work = WorkDir.beside(out_dir)
        lengths = LengthCounter(cfg.filters.tokenizer)  # a bad tokenizer is a config error: report it first
        if get_domain(cfg.domain).executes_code and cfg.verify.sandbox and cfg.executor.kind == "local":
            from verifiers.code import isolation

            info = isolation()
            if not info["unprivileged_uid"]:
                raise ConfigError([f"verify.sandbox: the code sandbox cannot start on this machine "
                                   f"({info.get('error') or 'bubblewrap (bwrap) is not installed'}); install "
                                   "bubblewrap (apt-get install bubblewrap) or run without --sandbox"])
        phases = cfg.phase_fingerprints()
        phases["load"]["resolved_source"] = dataclasses.asdict(src)
        teacher = run_teacher(cfg.teacher)
        store = None
        if isinstance(teacher, LiveTeacher):
            store = ResponseStore(responses_folder(cfg, out_dir), cfg.teacher.answer_identity())
            if drop_answers:
                console.print(f"responses: dropped {store.drop():,} stored answers of teacher {cfg.teacher.model}")
            imported = import_legacy_logs(work, store, cfg)
            if imported:
                console.print(f"responses: {imported:,} answers of earlier runs read into the store {store.root}")
        discarded = work.ensure({"work_format": WORK_FORMAT, "phases": phases}, restart=restart)
        if discarded and not restart:
            reuse = f" ({store.count():,} stored teacher answers are reused)" if store else ""
            console.print(f"work folder: the settings of {', '.join(discarded)} changed since the last run; that CPU "
                          f"work is redone{reuse}")
        judge = LLMJudge(cfg.judge, responses_folder(cfg, out_dir)) if cfg.judge.backend != "none" else None
        executor = make_executor(cfg, lengths, judge)
        return cls(cfg, src, out_dir, work, lengths, teacher, executor, judge, started, console, store)

    def close(self) -> None:
        self.executor.close()
        if self.llm_judge is not None:
            self.llm_judge.close()
        if self.responses is not None:
            self.responses.close()


def responses_folder(cfg: CurateConfig, out_dir: Path) -> Path:
    """The answer store's folder: ``--responses``, else ``.responses`` beside the output folder."""
    return Path(cfg.output.responses_dir) if cfg.output.responses_dir else out_dir.parent / ".responses"


def import_legacy_logs(work: WorkDir, store: ResponseStore, cfg: CurateConfig) -> int:
    """Answers that runs before the store kept in ``responses/part-K.jsonl`` of the work folder, keyed
    as the store keys them (the prompt rebuilt from the part's problems and the recipe those runs
    recorded). Read once (a marker beside them); the files are left where they are."""
    logs = work.legacy_response_logs()
    marker = work.root / "responses" / f".read-into-{store.ident}"
    if not logs or marker.exists():
        return 0
    import json

    import polars as pl

    old = json.loads((work.root / "fingerprint.json").read_text()) if (work.root / "fingerprint.json").exists() else {}
    teacher = (old.get("recipe") or {}).get("teacher") or {}
    if TeacherConfig(**{**cfg.teacher.__dict__, **teacher}).answer_identity() != store.identity:
        return 0  # answers of another teacher setting: not this store's
    n = 0
    for log_path in logs:
        part = work.parquet(work.load_part(int(log_path.stem.split("-")[1])))
        if not part.exists():
            continue
        rows = {r["problem_id"]: r for r in pl.read_parquet(part, columns=["problem_id", "problem", "reference"])
                .iter_rows(named=True)}
        for c in ResponseLog(log_path).answered.values():
            row = rows.get(c.problem_id)
            if row is not None:
                prompt = build_prompt(cfg.domain, row["problem"], row["reference"], teacher.get("prompt"))
                store.put(GenRequest(c.problem_id, c.sample_index, prompt, c.seed, c.round), c)
                n += 1
    marker.write_text(str(n))
    return n
