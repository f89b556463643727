"""The live teacher's share of the sample phase when requests are not sent now: batch files out and
back, the Batch API, the budget.

- ``--import-responses FILE``: read before the sample phase into the response store
  (``import_files``), so the scheduler is served those answers like any stored one.
- The scheduler defers what the store cannot answer (``curation.run.streaming``) when the run exports
  (``--export-requests``), sends batches (``--batch``), has nowhere to ask (``--teacher openai`` with
  batch files and no ``--base-url``) or has spent ``--budget-usd``. Its finished parts are written
  as usual; the others wait.
- ``teacher_passes`` then: writes the deferred requests to the export file; or sends them through the
  Batch API, reads the answers into the store and runs the scheduler again over the parts that
  waited (the next rejection round is deferred in its turn), until nothing waits; or says what waits.

What waits is a ``Pending``: with the budget spent the finished parts are published (and the report
says what waits); otherwise nothing is published (``AnswersPending``) and re-running, after the
answers are imported, goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from curation.run.context import RunContext
from curation.run.streaming import StreamingScheduler
from curation.settings import ConfigError
from curation.teachers.batch import (
    BatchAPIError,
    ImportSummary,
    answer_by_batch,
    import_responses,
    request_lines,
    write_lines,
)
from curation.teachers.generation_stats import Prices


@dataclass
class Pending:
    """Requests this run did not send, and what waits for them."""

    reason: str  # exported, no_endpoint, budget
    requests: int
    problems: int  # problems that wait (of the parts put aside)
    parts: list[int] = field(default_factory=list)
    file: str | None = None  # the export file

    @property
    def publishes(self) -> bool:
        """With the budget spent the finished parts are published; otherwise nothing is."""
        return self.reason == "budget"

    def to_dict(self) -> dict:
        return {"reason": self.reason, "requests": self.requests, "problems": self.problems,
                "parts": len(self.parts), **({"file": self.file} if self.file else {})}

    def message(self) -> str:
        waits = f"{self.problems} problem(s) in {len(self.parts)} part(s) wait for {self.requests} answer(s)"
        if self.reason == "exported":
            return (f"{self.requests} request(s) written to {self.file} ({waits}); nothing is published yet. Answer "
                    f"them (OpenAI's Batch API, or vLLM: python -m vllm.entrypoints.openai.run_batch -i "
                    f"{self.file} -o OUT --model MODEL), then run the same command with --import-responses OUT "
                    "(and --export-requests for the next rejection round)")
        if self.reason == "budget":
            return (f"--budget-usd reached: {waits}; the finished parts are published; re-run the same command to "
                    "go on (it spends up to --budget-usd more)")
        return (f"{waits} and the teacher has no --base-url to ask: nothing is published yet; write the requests "
                "with --export-requests FILE, or give --base-url")


class AnswersPending(RuntimeError):
    """The run stopped before publishing because answers are missing (``pending`` says which)."""

    def __init__(self, pending: Pending):
        super().__init__(pending.message())
        self.pending = pending


def import_files(run: RunContext, say: Callable[[str], None]) -> None:
    """``--import-responses``: each file into the store, one console line each; their answers' price is
    this run's spend so far."""
    for name in run.cfg.batch.import_responses:
        path = Path(name)
        if not path.is_file():
            raise ConfigError([f"batch.import_responses: {name}: no such file"])
        _account(run, import_responses(path, run.responses, name=name), say)


def _account(run: RunContext, summary: ImportSummary, say: Callable[[str], None]) -> None:
    run.batch_files.append(summary.to_dict())
    prices = Prices.of(run.cfg.cost)
    if prices is not None:
        run.spent_usd += prices.usd(summary.prompt_tokens, summary.completion_tokens, batch=True)
    say(f"import {summary.line()}")


def teacher_passes(run: RunContext, parts: list[int],
                   stream: Callable[[list[int], bool, float], StreamingScheduler],
                   say: Callable[[str], None], status: Callable[[str], None]) -> Pending | None:
    """Run the scheduler over ``parts`` (``stream(parts, defer, spent_before)``) and deal with what it
    deferred (see the module docstring); None when every part finished."""
    cfg = run.cfg
    defer = bool(cfg.batch.export_requests or cfg.batch.submit) or (cfg.teacher.backend == "openai"
                                                                     and not cfg.teacher.base_urls)
    while True:
        sched = stream(parts, defer, run.spent_usd)
        if not defer:
            run.spent_usd = sched.spent
        if not sched.deferred:
            if cfg.batch.export_requests:  # an empty file: nothing is missing (a script can test for it)
                write_lines(Path(cfg.batch.export_requests), [])
                say(f"--export-requests: every request is answered; {cfg.batch.export_requests} is empty")
            return None
        requests = list(sched.deferred.values())
        pending = Pending("budget" if sched.budget_reached else "no_endpoint", len(requests), sched.waiting_problems,
                          sorted(sched.parked))
        if cfg.batch.export_requests:
            write_lines(Path(cfg.batch.export_requests), request_lines(cfg.teacher, run.responses, requests))
            pending.reason, pending.file = "exported", cfg.batch.export_requests
            return pending
        if not cfg.batch.submit or sched.budget_reached:
            return pending
        api_key = os.environ.get(cfg.teacher.api_key_env) if cfg.teacher.api_key_env else None
        before = len(run.batch_files)
        for summary in answer_by_batch(cfg.teacher, cfg.batch, run.responses, requests, api_key, status=status):
            _account(run, summary, say)
        if not sum(f["answers"] + f["already_answered"] for f in run.batch_files[before:]):
            raise BatchAPIError(f"the Batch API answered none of the {len(requests)} requests sent (see the "
                                "rejected lines above); nothing more is sent")
        parts = pending.parts  # the parts that waited, served from the store now
