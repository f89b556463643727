"""How requests reach a live teacher: one priority queue that the caller keeps filling.

Every live backend has ``serve(queue, on_result)``: it takes requests from the queue as fast as
it can work (``--concurrency`` in flight for ``openai``, the engine's own batching for
``vllm``), hands each ``Completion`` to ``on_result`` on the event loop as it arrives, and
returns once the queue is closed and empty. The rejection-sampling scheduler feeds it across
parts and rounds without barriers; ``generate(requests, on_result)`` (a fixed batch, used by
``evaluate``) is the same call with every request put in up front.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence

from curation.teachers.requests import Completion, GenRequest

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


def run_batch(teacher, requests: Sequence[GenRequest], on_result: Callable[[Completion], None]) -> None:
    """A fixed batch through ``teacher.serve``: every request queued in order, then the queue closed."""
    if not requests:
        return

    async def main() -> None:
        queue = RequestQueue()
        for r in requests:
            queue.put(r)
        queue.close()
        await teacher.serve(queue, on_result)

    asyncio.run(main())


class BlockingServe:
    """``serve`` for backends that work in a thread of their own (hf, vllm): they implement
    ``serve_blocking(take, emit)``, where ``take(block)`` returns ``(requests, ended)`` (one
    request when ``block``, else whatever is queued) and ``emit(completion)`` reports one."""

    def generate(self, requests: Sequence[GenRequest], on_result: Callable[[Completion], None]) -> None:
        run_batch(self, requests, on_result)

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

        await asyncio.to_thread(self.serve_blocking, take, emit)  # each backend defines serve_blocking
