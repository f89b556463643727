"""The request and token budget of a live teacher, shared by all its requests over every base URL.

Providers limit requests and tokens per minute per account, whichever server answers, and penalise
clients that keep hitting the limit; so the ``openai`` client keeps one ``RateBudget`` for the run:

- ``--requests-per-minute N``: request starts are spaced ``60/N`` s apart (no burst: providers
  enforce a per-minute limit over shorter windows too, e.g. 2 per second for 120 per minute).
- ``--tokens-per-minute N``: each request is counted, when it starts, as its prompt plus
  ``max_tokens`` (as OpenAI counts it: a server that counts the completion actually written admits
  more, never less), and the next start waits until those tokens have flowed at ``N`` per minute.
  The prompt's tokens are estimated from its characters: 4 per token until answers report their
  prompt tokens, then the ratio measured on them.
- a 429 with ``Retry-After`` (or ``retry-after-ms``) pauses every request, not only the refused one;
  ``x-ratelimit-remaining-requests: 0`` pauses them until ``x-ratelimit-reset-requests``, and a
  ``x-ratelimit-remaining-tokens`` below the next request's estimate until ``x-ratelimit-reset-tokens``
  (OpenAI's header names; durations as ``1s``, ``6m0s``, ``20ms`` or plain seconds).

Every attempt, retries included, takes its turn. The budget is an event-loop object: a turn is
taken without an ``await`` between reading and moving the clock, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``"1s"``, ``"6m0s"``, ``"250ms"``, ``"1.5"``; None when unreadable."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """A refusal's wait: ``retry-after-ms``, else ``Retry-After`` in seconds or as an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    after = headers.get("Retry-After")
    if not after:
        return None
    try:
        return max(0.0, float(after))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(after).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class RateBudget:
    """See the module docstring. ``clock``/``sleep`` are the event loop's time by default."""

    def __init__(self, requests_per_minute: int | None = None, tokens_per_minute: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep=asyncio.sleep):
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.clock, self.sleep = clock, sleep
        self.next_request = self.next_tokens = self.paused_until = 0.0
        self.chars = self.prompt_tokens = 0  # prompts measured so far: characters and tokens
        self.last_estimate = 0
        self.pauses: Counter = Counter()  # by cause: retry_after, remaining_requests, remaining_tokens
        self.waited_s = 0.0

    def estimate(self, prompt: str, max_tokens: int) -> int:
        """A request's tokens before it is sent: its prompt (estimated) plus ``max_tokens``."""
        per_char = self.prompt_tokens / self.chars if self.chars else 0.25
        return math.ceil(len(prompt) * per_char) + max_tokens

    def learn(self, prompt: str, prompt_tokens: int | None) -> None:
        """An answer's reported prompt tokens sharpen the estimate of the next prompts."""
        if prompt_tokens:
            self.chars += len(prompt)
            self.prompt_tokens += prompt_tokens

    async def turn(self, tokens: int) -> None:
        """Wait until a request of ``tokens`` may start, and count it."""
        self.last_estimate = tokens
        while True:
            now = self.clock()
            if self.paused_until > now:
                await self._wait(self.paused_until - now)
                continue
            start = max(now, self.next_request if self.rpm else now, self.next_tokens if self.tpm else now)
            if self.rpm:
                self.next_request = start + 60.0 / self.rpm
            if self.tpm:
                self.next_tokens = start + tokens * 60.0 / self.tpm
            if start <= now:
                return
            await self._wait(start - now)
            if self.paused_until <= self.clock():  # no pause arrived meanwhile: the turn taken is ours
                return

    async def _wait(self, seconds: float) -> None:
        self.waited_s += seconds
        await self.sleep(seconds)

    def pause(self, seconds: float, cause: str) -> None:
        """No request starts for ``seconds`` (from now)."""
        until = self.clock() + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.pauses[cause] += 1

    def observe(self, headers: Mapping[str, str]) -> None:
        """Honour what a server says of its limits (any response, refused or not)."""
        for kind, need in (("requests", 1), ("tokens", max(1, self.last_estimate))):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            try:
                left = float(remaining) if remaining is not None else None
            except ValueError:
                left = None
            if left is not None and left < need:
                reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
                if reset:
                    self.pause(reset, f"remaining_{kind}")
