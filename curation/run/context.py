"""One run's shared state, built once (``RunContext.open``) and handed to every phase and to
publishing, instead of long parameter lists (the shape of torchtune's recipe object)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from curation.config import CurateConfig
from curation.domains import get_domain
from curation.run.executors.base import Executor
from curation.run.executors.registry import make_executor
from curation.settings import ConfigError
from curation.sources.rows import ResolvedSource, resolve_source
from curation.stages.format_filters import LengthCounter
from curation.stages.llm_judge import LLMJudge
from curation.teachers.base import Teacher
from curation.teachers.registry import run_teacher
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

    @classmethod
    def open(cls, cfg: CurateConfig, *, source: ResolvedSource | None = None, restart: bool = False,
             console: Console | None = None) -> RunContext:
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
        fingerprint = {"work_format": WORK_FORMAT, "recipe": cfg.fingerprint_dict(),
                       "source": dataclasses.asdict(src)}
        if not work.ensure(fingerprint, restart=restart):
            raise ConfigError([f"work folder {work.root} holds parts of a different recipe or source; "
                               "re-run with --restart to discard them"])
        judge = LLMJudge(cfg.judge, work.judge_log()) if cfg.judge.backend != "none" else None
        executor = make_executor(cfg, lengths, judge)
        return cls(cfg, src, out_dir, work, lengths, run_teacher(cfg.teacher), executor, judge, started, console)

    def close(self) -> None:
        self.executor.close()
        if self.llm_judge is not None:
            self.llm_judge.close()
