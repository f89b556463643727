"""Streaming rejection sampling: one scheduler for the whole run, no barriers.

The teacher is the run's main cost and its response times are heavy-tailed, so nothing waits
for the slowest answer. The scheduler keeps the teacher's request queue filled across parts
and rounds (``--concurrency`` requests in flight for ``openai``); a problem's samples are
format-filtered and verified as soon as its round is complete (in a worker thread, off the
event loop, in batches of whatever has arrived meanwhile); its next round is asked at once when
it still has fewer than ``--want`` verified samples and budget left; and a part is assembled,
written and marked done (atomically, as before) as soon as all of its problems are settled.
Parts are opened lazily, a few ahead of the teacher, so a 400k-problem source is never in
memory at once.

Published rows do not depend on arrival order: each part is assembled in the order the
barrier schedule produced (round by round, problems in part order, samples by index), and the
decisions per problem are the barrier's, so the same seeds and answers give the same rows.
Every answer is committed to the response store the moment it arrives
(``curation.teachers.response_store``); a re-run, or a run of a changed recipe, is served every
request the store can answer and asks the teacher only for the rest.

Deferred requests (``defer``: ``--export-requests``, ``--batch``, a teacher with nowhere to ask, or
``--budget-usd`` once reached): a request the store cannot answer is kept in ``deferred`` instead of
being sent. Its problem waits (it is neither failed nor settled), and a part whose every unsettled
problem waits is put aside (``parked``: not written, not marked done, its memory freed); the next
run is served the answers from the store and goes on from there. With prices (``--price-input``,
``--price-output``) the progress line shows the spend of this process, and ``--budget-usd`` stops
the sending once the spend, with the requests in flight at the mean price so far, reaches it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from curation.config import CurateConfig
from curation.run.executors.base import Executor
from curation.run.part_work import PartResult
from curation.run.stream_parts import Part, Problem, assemble
from curation.teachers import Completion, GenRequest, LazyTeacher, LiveTeacher, RequestQueue, sample_seed
from curation.teachers.generation_stats import Prices
from curation.teachers.response_store import ResponseStore
from curation.teachers.samples import sample_row, samples_frame, teacher_info


@dataclass
class StreamProgress:
    """The scheduler's run-wide counts, as its progress line shows them."""

    sent: int = 0  # distinct requests put on the teacher's queue
    done: int = 0  # results back: answers and final failures
    answered: int = 0
    failed: int = 0
    verified: int = 0  # samples that passed the verifier
    settled: int = 0  # problems with no further round to ask
    completion_tokens: int = 0
    queued: int = 0  # requests waiting in the queue
    elapsed: float = 0.0
    per_round: dict[int, int] = field(default_factory=dict)  # requests asked per round
    spent_usd: float | None = None  # with prices: what this process has paid for answers
    budget_usd: float | None = None
    deferred: int = 0  # requests kept for later (batch files, the budget)

    def status(self, total: int, settled_before: int) -> str:
        """The progress line: ``total`` problems to settle over the run, ``settled_before`` by earlier runs."""
        settled = settled_before + self.settled
        rate = self.settled / self.elapsed if self.elapsed else 0
        eta = f"ETA {(total - settled) / rate:,.0f} s" if rate and total > settled else ""
        in_flight = self.sent - self.done - self.queued
        rounds = " ".join(f"r{r} {n}" for r, n in self.per_round.items())
        return (f"in flight {in_flight} | answered {self.answered} | verified {self.verified} | failed {self.failed} | "
                f"asked {rounds} | {self.completion_tokens / max(self.elapsed, 1e-9):,.0f} tok/s | "
                f"problems {settled}/{total} {eta}" + self._spend())

    def _spend(self) -> str:
        out = ""
        if self.spent_usd is not None:
            out += f" | spent ${self.spent_usd:,.4f}" + (f" of ${self.budget_usd:,.2f}" if self.budget_usd else "")
        return out + (f" | deferred {self.deferred}" if self.deferred else "")


class StreamingScheduler:
    """Runs every unfinished part's rejection sampling against one live teacher."""

    def __init__(self, cfg: CurateConfig, parts: list[int], open_part: Callable[[int], pl.DataFrame],
                 teacher: LiveTeacher, store: ResponseStore, executor: Executor,
                 finished: Callable[[int, PartResult], None],
                 *, say: Callable[[str], None] = lambda m: None,
                 progress: Callable[[StreamProgress], None] | None = None, defer: bool = False,
                 spent_before: float = 0.0):
        t = cfg.teacher
        self.cfg, self.todo, self.open_part, self.teacher = cfg, list(parts), open_part, teacher
        self.store = store  # paid answers: served from here first, every new one committed here
        self.requests: dict[tuple[str, int], GenRequest] = {}  # sent and not yet answered
        self.executor = executor  # where format filters and verification run (``curation.run.executors``)
        self.finished, self.say, self.progress = finished, say, progress
        self.budget = t.budget or t.samples * t.rounds
        self.target_queued = 2 * t.concurrency  # requests kept waiting so the teacher never idles
        self.max_open = max(4, -(-4 * t.concurrency // max(1, cfg.output.part_size * t.samples)))
        self.open: dict[int, Part] = {}
        self.waiting: dict[tuple[str, int], list[tuple[Part, Problem]]] = defaultdict(list)
        self.verify_buffer: list[tuple[Part, Problem, int, list[Completion]]] = []
        self.counts = StreamProgress()  # run-wide
        self.errors_said: set[str] = set()
        self.per_round: Counter = Counter()  # requests asked per round, run-wide
        # deferred requests (see the module docstring) and the parts put aside for them
        self.prices, self.budget_usd = Prices.of(cfg.cost), cfg.cost.budget_usd
        self.spent = spent_before  # this process's spend (answers of batch files it read included)
        self.live_spent = 0.0
        self.budget_reached = self.budget_usd is not None and self.spent >= self.budget_usd
        self.defer = defer or self.budget_reached
        self.deferred: dict[tuple[str, int], GenRequest] = {}
        self.parked: list[int] = []
        self.waiting_problems = 0  # problems of the parked parts that wait for a deferred request

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        if self.todo:
            asyncio.run(self._main())

    async def _main(self) -> None:
        self.queue = RequestQueue()
        self.serving: asyncio.Task | None = None
        self.wake = asyncio.Event()
        self.all_done = asyncio.Event()
        self.writes: list[asyncio.Future] = []
        self.t0 = time.time()
        verifier = asyncio.create_task(self._verify_loop())
        ticker = asyncio.create_task(self._tick()) if self.progress else None
        done = asyncio.create_task(self.all_done.wait())
        try:
            self._open_more()
            while not done.done():
                watched = [done, verifier, *([self.serving] if self.serving else [])]
                await asyncio.wait(watched, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if done.done():
                    break
                if verifier.done():
                    verifier.result()
                    raise RuntimeError("the verifier stopped")
                if self.serving is not None and self.serving.done():
                    self.serving.result()  # a teacher that failed (e.g. its preflight): its error ends the run
                    raise RuntimeError("the teacher stopped serving while requests were waiting")
            await asyncio.gather(*self.writes)
            self._show()
        finally:
            self.queue.close()
            for task in (verifier, ticker, done):
                if task is not None:
                    task.cancel()
            if self.serving is not None and not self.serving.done():
                try:
                    await asyncio.wait_for(self.serving, timeout=30)
                except Exception:  # noqa: BLE001 - the run's own outcome is what is reported
                    self.serving.cancel()

    def _open_more(self) -> None:
        while self.todo and len(self.open) < self.max_open and (not self.open or self.queue.qsize()
                                                                 < self.target_queued):
            k = self.todo.pop(0)
            part = Part(k, self.open_part(k), self.cfg)
            self.open[k] = part
            if not part.problems:
                self._finish(part)
            for p in list(part.problems.values()):
                self._start_round(part, p)
            self._park_if_waiting(part)
        if not self.todo and not self.open:
            self.all_done.set()

    def _park_if_waiting(self, part: Part) -> bool:
        """Put a part aside when every problem it has left waits for a deferred request."""
        if part.blocked and part.unsettled == part.blocked and part.k in self.open:
            del self.open[part.k]
            self.parked.append(part.k)
            self.waiting_problems += part.blocked
            return True
        return False

    def _start_round(self, part: Part, p: Problem) -> None:
        t = self.cfg.teacher
        n = min(t.samples, self.budget - p.asked)
        p.round += 1
        p.outstanding, p.arrived = n, []
        pid = p.row["problem_id"]
        reqs = [GenRequest(pid, i, p.prompt, sample_seed(t.seed, pid, i), p.round) for i in range(p.asked, p.asked + n)]
        p.asked += n
        part.stats.requests += n
        part.stats.round(p.round).update(problems=1, requests=n)
        self.per_round[p.round] += n
        for req in reqs:
            done = self.store.get(req)
            if done is not None:  # answered before (this recipe or another, or a batch file): from the store
                origin = self._origin(req, done)
                if origin == "batch":
                    part.stats.imported += 1
                else:
                    part.stats.reused += 1
                self._arrive(part, p, done, origin)
                continue
            if self.defer:
                self._defer(part, p, req)
                continue
            part.stats.sent += 1
            part.stats.round(p.round)["sent"] += 1
            if part.stats.first_sent is None:
                part.stats.first_sent = time.time()
            first = req.key not in self.waiting
            self.waiting[req.key].append((part, p))
            self.requests[req.key] = req
            if first:
                self.counts.sent += 1
                self.queue.put(req, (part.k, p.round, p.pos, req.sample_index))
                if self.serving is None:
                    self.serving = asyncio.ensure_future(self._serve())

    def _origin(self, req: GenRequest, c: Completion) -> str:
        """Where a stored answer came from: a batch file read by this process, else an earlier run."""
        if c.extra.get("via") == "batch":
            return "batch" if self.store.fresh(req) else "reused_batch"
        return "reused_live"

    def _defer(self, part: Part, p: Problem, req: GenRequest) -> None:
        self.deferred.setdefault(req.key, req)
        self.counts.deferred = len(self.deferred)
        if not p.blocked:
            p.blocked = True
            part.blocked += 1

    def _stop_asking(self) -> None:
        """The budget is reached: what is queued and every later request is deferred."""
        self.defer = self.budget_reached = True
        drained, _ = self.queue.take_ready(len(self.requests) + 1)
        for req in drained:
            self.requests.pop(req.key, None)
            self.counts.sent -= 1
            for part, p in self.waiting.pop(req.key, []):
                self._defer(part, p, req)
        self.say(f"budget: ${self.spent:,.4f} spent of --budget-usd {self.budget_usd:g} (with the requests in "
                 f"flight); no more requests are sent, {len(self.deferred)} wait for a re-run")
        for part in list(self.open.values()):
            self._park_if_waiting(part)
        self._open_more()

    async def _serve(self) -> None:
        if isinstance(self.teacher, LazyTeacher):
            await asyncio.to_thread(self.teacher.build)  # its model load or preflight, off the loop
        await self.teacher.serve(self.queue, self._on_result)

    def _on_result(self, c: Completion) -> None:
        self.counts.done += 1
        if c.ok:
            self.counts.answered += 1
        else:
            self.counts.failed += 1
        self.counts.completion_tokens += c.completion_tokens or 0
        req = self.requests.pop((c.problem_id, c.sample_index), None)
        if req is not None:
            self.store.put(req, c)  # committed before anything else happens to it
        if c.ok and self.prices is not None:
            cost = self.prices.usd(c.prompt_tokens or 0, c.completion_tokens or 0)
            self.spent += cost
            self.live_spent += cost
        for part, p in self.waiting.pop((c.problem_id, c.sample_index), []):
            if c.ok:
                part.stats.last_answer = time.time()
            self._arrive(part, p, c)
        if self.budget_usd is not None and not self.defer:
            in_flight = self.counts.sent - self.counts.done - self.queue.qsize()
            mean = self.live_spent / self.counts.answered if self.counts.answered else 0.0
            if self.spent + in_flight * mean >= self.budget_usd:
                self._stop_asking()
        self._open_more()

    def _arrive(self, part: Part, p: Problem, c: Completion, origin: str = "live") -> None:
        s = part.stats
        s.retried.update(c.extra.get("retried", {}))
        if c.ok:
            s.count(origin, c.prompt_tokens, c.completion_tokens)
            p.arrived.append(c)
            p.answered_any = True
            s.answered += 1
            s.prompt_tokens += c.prompt_tokens or 0
            s.completion_tokens += c.completion_tokens or 0
            s.round(p.round)["answered"] += 1
            digest = hashlib.sha1(c.text.encode()).digest()
            if digest in p.seen:
                s.duplicate_responses += 1
            p.seen.add(digest)
        else:
            p.failures[c.error] += 1
            s.failed[c.error] += 1
            s.first_errors.setdefault(c.error, c.detail)
            if c.error not in self.errors_said:
                self.errors_said.add(c.error)
                self.say(f"teacher: first {c.error} (after {c.attempts} attempt(s)): {c.detail or 'no detail'}")
        p.outstanding -= 1
        if p.outstanding == 0:
            if p.arrived:
                p.arrived.sort(key=lambda x: x.sample_index)
                self.verify_buffer.append((part, p, p.round, p.arrived))
                self.wake.set()
            else:
                self._decide(part, p)

    # -- verification, decisions, finished parts -------------------------------------------------

    async def _verify_loop(self) -> None:
        """Check what has arrived, in batches; up to ``executor.parallel_checks`` batches at once
        (one locally, where the verifiers' pools already use every core; one per worker on Ray)."""
        running: set[asyncio.Task] = set()
        ended: list[asyncio.Task] = []

        def on_end(task: asyncio.Task) -> None:
            running.discard(task)
            ended.append(task)
            self.wake.set()

        while True:
            await self.wake.wait()
            self.wake.clear()
            while ended:
                ended.pop().result()  # a verifier that raised: its error ends the run
            while self.verify_buffer and len(running) < self.executor.parallel_checks:
                batch, self.verify_buffer = self.verify_buffer, []
                task = asyncio.create_task(self._check(batch))
                running.add(task)
                task.add_done_callback(on_end)

    async def _check(self, batch) -> None:
        """Format filters and verifier over every sample of the batch (on the executor); then each
        problem-round's rows of each outcome are recorded and its next step decided."""
        t = self.cfg.teacher
        rows = [sample_row(p.row, c.sample_index, c.text, c.finish_reason, teacher_info(t, c.seed),
                           {"round": c.round, "prompt_tokens": c.prompt_tokens,
                            "completion_tokens": c.completion_tokens, "attempts": c.attempts})
                for _, p, _, comps in batch for c in comps]
        fmt, ver = await self.executor.check(samples_frame(rows))
        by_kind = {kind: {key[0]: g for key, g in frame.partition_by("row_index", as_dict=True).items()}
                   for kind, frame in (("fmt_kept", fmt.kept), ("fmt_rejected", fmt.rejected),
                                       ("ver_kept", ver.kept), ("ver_rejected", ver.rejected))}
        outcomes = (ver.info or {}).get("by_row", {})
        for part, p, rnd, comps in batch:
            ri, share = p.row["row_index"], len(comps) / len(rows)
            part.verdicts[rnd].update(outcomes.get(ri, {}))
            self._record(part, p, rnd, len(comps), {kind: groups[ri] for kind, groups in by_kind.items()
                                                     if ri in groups},
                         {"format": fmt.seconds * share, "verify": ver.seconds * share})

    def _record(self, part: Part, p: Problem, rnd: int, n: int, groups: dict, seconds: dict) -> None:
        part.seconds.update(seconds)
        part.answered_in_round[rnd] += n
        for kind, frame in groups.items():
            part.frames[(rnd, kind)].append(frame)
        verified = groups["ver_kept"].height if "ver_kept" in groups else 0
        p.verified += verified
        part.stats.round(rnd)["verified"] += verified
        self.counts.verified += verified
        self._decide(part, p)

    def _decide(self, part: Part, p: Problem) -> None:
        t = self.cfg.teacher
        if p.verified < t.want and p.asked < self.budget and p.round < t.rounds:
            self._start_round(part, p)
        else:
            part.unsettled -= 1
            self.counts.settled += 1
            if part.unsettled == 0:
                self._finish(part)
                return
        if self._park_if_waiting(part):
            self._open_more()

    def _finish(self, part: Part) -> None:
        del self.open[part.k]
        loop = asyncio.get_running_loop()

        def write() -> None:
            self.finished(part.k, assemble(part, self.cfg))

        self.writes.append(loop.run_in_executor(None, write))
        self._open_more()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._show()

    def _show(self) -> None:
        if self.progress:
            self.counts.queued = self.queue.qsize()
            self.counts.elapsed = time.time() - self.t0
            self.counts.per_round = dict(sorted(self.per_round.items()))
            if self.prices is not None:
                self.counts.spent_usd, self.counts.budget_usd = self.spent, self.budget_usd
            self.progress(self.counts)
