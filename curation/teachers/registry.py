"""``TEACHERS``, the registry behind ``--teacher``, and how a configured backend is built.

``make_teacher`` builds any registered backend and runs its ``preflight`` (a problem found there is
a ``ConfigError`` before any work). ``LazyTeacher`` builds a live backend on its first request, so
a resumed run whose answers are all on disk loads no model and contacts no server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from curation.config import TeacherConfig
from curation.settings import ConfigError
from curation.teachers.base import LiveTeacher, Teacher
from curation.teachers.hf import HFTeacher
from curation.teachers.openai_client import OpenAITeacher
from curation.teachers.queue import RequestQueue
from curation.teachers.replay import ReplayTeacher
from curation.teachers.requests import Completion, GenRequest
from curation.teachers.vllm_offline import VLLMTeacher

TEACHERS: dict[str, type[Teacher]] = {"replay": ReplayTeacher, "openai": OpenAITeacher, "vllm": VLLMTeacher,
                                      "hf": HFTeacher}


def live_teachers() -> list[str]:
    """The names of the backends that answer requests (``--judge`` and ``evaluate --backend`` take these)."""
    return [name for name, cls in TEACHERS.items() if issubclass(cls, LiveTeacher)]


def make_teacher(cfg: TeacherConfig) -> Teacher:
    """The backend named by ``cfg.backend``, checked before use: its preflight problems raise
    ``ConfigError`` here."""
    teacher = TEACHERS[cfg.backend](cfg)
    problems = teacher.preflight()
    if problems:
        raise ConfigError(problems)
    return teacher


def run_teacher(cfg: TeacherConfig) -> Teacher:
    """The teacher a run uses: the replayed source as it is, a live backend built on its first request."""
    cls = TEACHERS[cfg.backend]
    return LazyTeacher(cfg) if issubclass(cls, LiveTeacher) else cls(cfg)


class LazyTeacher(LiveTeacher):
    """A live backend built on its first request (see the module docstring)."""

    def __init__(self, cfg: TeacherConfig):
        super().__init__(cfg)
        if not issubclass(TEACHERS[cfg.backend], LiveTeacher):
            raise ValueError(f"teacher {cfg.backend!r} does not generate; it replays stored responses")
        self._teacher: LiveTeacher | None = None

    @property
    def teacher(self) -> LiveTeacher:
        if self._teacher is None:
            self._teacher = make_teacher(self.cfg)  # type: ignore[assignment]
        return self._teacher

    def build(self) -> None:
        """Build the backend now (a caller that must not block later does it in a thread)."""
        self.teacher  # noqa: B018 - the property builds it

    def describe(self) -> dict:
        return self.teacher.describe()

    def generate(self, requests: Sequence[GenRequest], on_result: Callable[[Completion], None]) -> None:
        self.teacher.generate(requests, on_result)

    async def serve(self, queue: RequestQueue, on_result: Callable[[Completion], None]) -> None:
        await self.teacher.serve(queue, on_result)
