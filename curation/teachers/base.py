"""The teacher seam: every backend behind ``--teacher`` declares ``Teacher``.

- ``Teacher``: built from a ``TeacherConfig``; ``preflight()`` lists what makes it unusable (one
  line each, before any work: an endpoint that does not answer, a model it does not serve);
  ``describe()`` is what the report records of it.
- ``ReplayTeacher`` (``curation.teachers.replay``): the source already holds the answers; each
  stored response becomes a sample, nothing is requested.
- ``LiveTeacher``: answers ``GenRequest``s with ``Completion``s. ``serve(queue, on_result)`` takes
  requests from a ``RequestQueue`` the caller keeps filling and hands each result on as it arrives
  (the streaming scheduler, the LLM judge and ``evaluate`` use it); ``generate(requests,
  on_result)`` is the same over a fixed batch. ``BlockingServe`` serves for backends that work in a
  thread of their own.

Which path a run takes is decided by these types (``issubclass(cls, LiveTeacher)``), never by
probing a backend for attributes.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

from curation.config import TeacherConfig
from curation.teachers.queue import RequestQueue
from curation.teachers.requests import Completion, GenRequest


class Teacher(ABC):
    """A generation backend configured by a ``TeacherConfig``."""

    live: ClassVar[bool] = False  # declared by the two kinds below (read it as ``isinstance(t, LiveTeacher)``)

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg

    def preflight(self) -> list[str]:
        """What makes this backend unusable, one line each (checked before any work); none by default."""
        return []

    @abstractmethod
    def describe(self) -> dict:
        """What the report records of the backend."""


class LiveTeacher(Teacher):
    """A backend that answers requests (see the module docstring)."""

    live: ClassVar[bool] = True

    @abstractmethod
    async def serve(self, queue: RequestQueue, on_result: Callable[[Completion], None]) -> None:
        """Answer requests from ``queue`` until it is closed and empty, each result to ``on_result``
        (on the event loop) as it arrives."""

    def generate(self, requests: Sequence[GenRequest], on_result: Callable[[Completion], None]) -> None:
        """A fixed batch through ``serve``: every request queued in order, then the queue closed."""
        if not requests:
            return

        async def main() -> None:
            queue = RequestQueue()
            for r in requests:
                queue.put(r)
            queue.close()
            await self.serve(queue, on_result)

        asyncio.run(main())


class BlockingServe(LiveTeacher):
    """``serve`` for backends that work in a thread of their own (hf, vllm): they implement
    ``serve_blocking(take, emit)``, where ``take(block)`` returns ``(requests, ended)`` (one
    request when ``block``, else whatever is queued) and ``emit(completion)`` reports one."""

    @abstractmethod
    def serve_blocking(self, take: Callable[[bool], tuple[list[GenRequest], bool]],
                       emit: Callable[[Completion], None]) -> None:
        """Answer what ``take`` returns until it says the queue ended."""

    async def serve(self, queue: RequestQueue, on_result: Callable[[Completion], None]) -> None:
        loop = asyncio.get_running_loop()

        async def take_async(block: bool) -> tuple[list[GenRequest], bool]:
            if block:
                req = await queue.get()
                return ([req], False) if req is not None else ([], True)
            return queue.take_ready(4096)

        def take(block: bool) -> tuple[list[GenRequest], bool]:
            return asyncio.run_coroutine_threadsafe(take_async(block), loop).result()

        def emit(c: Completion) -> None:
            loop.call_soon_threadsafe(on_result, c)

        await asyncio.to_thread(self.serve_blocking, take, emit)
