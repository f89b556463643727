"""Progress of a long command, in a terminal and in a log file alike.

On a terminal: rich's bars. When stderr is not a terminal (``nohup``, Slurm, CI, ``2> log``) the bars
are off and a plain line per running task is written every ``every`` seconds, with its counts
``done/total``, rate and ETA, and one line per task when the command ends, so a log shows what runs
and how far it got while it runs. ``quiet``: neither.

``RunProgress`` takes rich's calls (``add_task``, ``update``) so a phase reports once for both.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

DEFAULT_EVERY_S = 30.0


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    status: str = ""
    started: float = field(default_factory=time.monotonic)
    base: float = 0.0  # what was already done when the task was added (a resumed run's work is not a rate)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        done = f"{self.completed:,.0f}" + (f"/{self.total:,.0f}" if self.total is not None else "")
        if self.total:
            done += f" ({100 * self.completed / self.total:.0f}%)"
        parts = [f"{self.description} {done}"]
        rate = (self.completed - self.base) / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            parts.append(f"{rate:,.2f}/s" if rate < 10 else f"{rate:,.0f}/s")
            if self.total is not None and self.total > self.completed:
                parts.append(f"ETA {duration((self.total - self.completed) / rate)}")
        parts.append(f"{duration(elapsed)} elapsed")
        if self.status:
            parts.append(self.status)
        return " | ".join(parts)

    @property
    def finished(self) -> bool:
        return self.total is not None and self.completed >= self.total


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class RunProgress:
    """Bars on a terminal, plain lines in a log file (see the module docstring)."""

    def __init__(self, console: Console | None = None, *, every: float = DEFAULT_EVERY_S, quiet: bool = False,
                 name: str = "curate"):
        self.console = console or Console(stderr=True)
        self.every, self.name = every, name
        self.plain = not quiet and not self.console.is_terminal
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=self.console,
                            disable=quiet or self.plain, transient=False)
        self.tasks: dict[int, _Task] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        if self.plain and self.every > 0:
            self._ticker = threading.Thread(target=self._tick, name="progress-lines", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        if self.plain:
            self._write([t for t in self.tasks.values()])
        self.bar.__exit__(*exc)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, status: str = "") -> int:
        task = self.bar.add_task(description, total=total, completed=completed, status=status)
        with self._lock:
            self.tasks[task] = _Task(description, total, completed, status, base=completed)
        return task

    def update(self, task: int, *, advance: float | None = None, completed: float | None = None,
               total: float | None = None, status: str | None = None) -> None:
        kwargs = {k: v for k, v in (("advance", advance), ("completed", completed), ("total", total),
                                    ("status", status)) if v is not None}
        self.bar.update(task, **kwargs)
        with self._lock:
            t = self.tasks[task]
            t.completed = completed if completed is not None else t.completed + (advance or 0)
            if total is not None:
                t.total = total
            if status is not None:
                t.status = status

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                running = [t for t in self.tasks.values() if not t.finished]
            self._write(running)

    def _write(self, tasks: list[_Task]) -> None:
        now = time.monotonic()
        with self._lock:
            lines = [f"{self.name}: {t.line(now)}" for t in tasks]
        if lines:
            self.console.file.write("\n".join(lines) + "\n")
            self.console.file.flush()
