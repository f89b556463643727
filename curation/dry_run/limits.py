"""A provider's rate limit, for the scripted server: at most N requests and T tokens in any window of
W seconds (a sliding window), a request counted as its prompt's words plus its ``max_tokens`` when it
arrives, as OpenAI counts it. Beyond that: 429 with ``Retry-After`` (whole seconds, as HTTP says)
and ``retry-after-ms``. With ``headers`` every answer carries OpenAI's ``x-ratelimit-limit-*``,
``x-ratelimit-remaining-*`` and ``x-ratelimit-reset-*`` (the time until the window is empty again)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


def duration_text(seconds: float) -> str:
    """OpenAI's way of writing a reset time: ``250ms``, ``1.5s``, ``2m3s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return (f"{int(minutes)}m" if minutes else "") + f"{rest:.3g}s"


class WindowLimit:
    def __init__(self, requests: int | None, tokens: int | None = None, window_s: float = 1.0, *,
                 headers: bool = True, clock: Callable[[], float] = time.monotonic):
        self.requests, self.tokens, self.window_s, self.headers, self.clock = requests, tokens, window_s, headers, clock
        self.seen: deque[tuple[float, int]] = deque()  # (arrival, tokens) of the admitted requests in the window
        self.refused = 0

    def admit(self, tokens: int) -> tuple[bool, dict[str, str]]:
        """Whether a request of ``tokens`` is let through now, and the headers of its answer."""
        now = self.clock()
        while self.seen and self.seen[0][0] <= now - self.window_s:
            self.seen.popleft()
        used = sum(t for _, t in self.seen)
        ok = (self.requests is None or len(self.seen) < self.requests) and (
            self.tokens is None or used + tokens <= self.tokens)
        if ok:
            self.seen.append((now, tokens))
            used += tokens
        else:
            self.refused += 1
        out: dict[str, str] = {}
        if not ok:
            wait = self._wait(now, tokens)
            out.update({"Retry-After": str(max(1, math.ceil(wait))), "retry-after-ms": str(math.ceil(wait * 1000))})
        if self.headers:
            reset = (self.seen[-1][0] + self.window_s - now) if self.seen else 0.0
            for kind, limit, left in (("requests", self.requests, (self.requests or 0) - len(self.seen)),
                                      ("tokens", self.tokens, (self.tokens or 0) - used)):
                if limit is not None:
                    out.update({f"x-ratelimit-limit-{kind}": str(limit),
                                f"x-ratelimit-remaining-{kind}": str(max(0, left)),
                                f"x-ratelimit-reset-{kind}": duration_text(reset)})
        return ok, out

    def _wait(self, now: float, tokens: int) -> float:
        """Seconds until a request of ``tokens`` would be let through."""
        need_requests = len(self.seen) - (self.requests - 1) if self.requests is not None else 0
        used, need_tokens, gone = sum(t for _, t in self.seen), 0, 0
        if self.tokens is not None:
            for _, t in self.seen:
                if used - gone + tokens <= self.tokens:
                    break
                gone += t
                need_tokens += 1
        drop = max(need_requests, need_tokens, 1)
        return max(0.001, self.seen[min(drop, len(self.seen)) - 1][0] + self.window_s - now) if self.seen else 0.001
