"""How requests reach a live teacher: one priority queue that the caller keeps filling.

Every live backend (``curation.teachers.base.LiveTeacher``) has ``serve(queue, on_result)``: it
takes requests from the queue as fast as it can work (``--concurrency`` in flight for ``openai``,
the engine's own batching for ``vllm``), hands each ``Completion`` to ``on_result`` on the event
loop as it arrives, and returns once the queue is closed and empty. The rejection-sampling
scheduler feeds it across parts and rounds without barriers; ``generate(requests, on_result)``
(a fixed batch, used by ``evaluate``) is the same call with every request put in up front.
"""

from __future__ import annotations

import asyncio
import itertools

from curation.teachers.requests import GenRequest

_LAST = (float("inf"),)


class RequestQueue:
    """Requests waiting for the teacher, lowest ``priority`` first (ties: first put, first out)."""

    def __init__(self):
        self._q: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self.closed = False

    def put(self, req: GenRequest, priority: tuple = ()) -> None:
        if self.closed:
            raise RuntimeError("request queue is closed")
        self._q.put_nowait((priority, next(self._seq), req))

    def close(self) -> None:
        """No more requests will come: workers finish what is queued, then stop."""
        if not self.closed:
            self.closed = True
            self._q.put_nowait((_LAST, next(self._seq), None))

    def qsize(self) -> int:
        return self._q.qsize() - (1 if self.closed else 0)

    async def get(self) -> GenRequest | None:
        """The next request, or None once the queue is closed and empty (for every worker)."""
        item = await self._q.get()
        if item[2] is None:
            self._q.put_nowait(item)  # leave the end mark for the other workers
        return item[2]

    def take_ready(self, most: int) -> tuple[list[GenRequest], bool]:
        """Up to ``most`` queued requests without waiting, and whether the end mark was reached."""
        out: list[GenRequest] = []
        while len(out) < most and not self._q.empty():
            item = self._q.get_nowait()
            if item[2] is None:
                self._q.put_nowait(item)
                return out, True
            out.append(item[2])
        return out, False
