"""The ``openai`` teacher: any OpenAI-compatible endpoint (vLLM, SGLang, hosted APIs).

Async with a fixed number of requests in flight; several base URLs share the load
round-robin (a retry goes to the next one, so one dead server does not stall the run);
429, 5xx, dropped connections, timeouts and unreadable bodies are retried with exponential
backoff and jitter; other 4xx are final. One ``RateBudget`` (``curation.teachers.rate_limit``) paces
every attempt over all base URLs (``--requests-per-minute``, ``--tokens-per-minute``) and honours
``Retry-After`` and the ``x-ratelimit-*`` headers for all requests at once. ``serve`` keeps
``--concurrency`` requests in flight for as long as the request queue has work, and hands each
result to ``on_result`` as it arrives, so the caller can append it to disk and verify it at once.
The preflight checks every base URL answers and serves the configured model. ``request_body`` is
the one place a request's body is built: batch files (``curation.teachers.batch``) send the same.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable

from curation.config import TeacherConfig
from curation.teachers.base import LiveTeacher
from curation.teachers.queue import RequestQueue
from curation.teachers.rate_limit import RateBudget, retry_after_s
from curation.teachers.requests import Completion, GenRequest

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 60.0


class _Retry(Exception):
    def __init__(self, kind: str, detail: str = "", after: float | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.after = kind, detail, after


class BadResponse(_Retry):
    """An answer whose body is not a completion (retried when live; a batch file's line is rejected)."""

    def __init__(self, detail: str):
        super().__init__("bad_response", detail)


class _Final(Exception):
    def __init__(self, kind: str, detail: str = ""):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def join_reasoning(content: str | None, reasoning: str | None, finish_reason: str | None = None) -> str:
    """Servers that split R1's reasoning out (``reasoning_content``) get it put back in front. A
    response cut off with no answer part ended inside its reasoning: the block stays open, as the
    model left it (a cut-off trace), rather than being closed on an empty answer."""
    content = content or ""
    if reasoning and "</think>" not in content:
        if finish_reason == "length" and not content.strip():
            return f"<think>\n{reasoning.strip()}"
        return f"<think>\n{reasoning.strip()}\n</think>\n\n{content.lstrip()}"
    return content


def parse_body(body: dict, endpoint: str) -> tuple[str, str | None, int | None, int | None]:
    """``(text, finish_reason, prompt_tokens, completion_tokens)``; raises ``BadResponse`` on a bad body."""
    try:
        choice = body["choices"][0]
        if endpoint == "chat":
            msg = choice["message"]
            text = join_reasoning(msg.get("content"), msg.get("reasoning_content") or msg.get("reasoning"),
                                  choice.get("finish_reason"))
        else:
            text = choice["text"]
        if not isinstance(text, str):
            raise TypeError("text is not a string")
    except (KeyError, IndexError, TypeError) as exc:
        raise BadResponse(f"unexpected body: {type(exc).__name__}: {exc}"[:200]) from None
    usage = body.get("usage") or {}
    return text, choice.get("finish_reason"), usage.get("prompt_tokens"), usage.get("completion_tokens")


def request_body(cfg: TeacherConfig, req: GenRequest) -> dict:
    """What the ``openai`` teacher sends for ``req`` (and a batch file holds for it): the model, the
    prompt as one user message (or plain text for ``completions``), the sampling settings, the
    request's seed and the token limit, one choice."""
    body = {"model": cfg.model, "temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens,
            "seed": req.seed, "n": 1}
    if cfg.endpoint == "chat":
        body["messages"] = [{"role": "user", "content": req.prompt}]
    else:
        body["prompt"] = req.prompt
    return body


def _error_message(raw: bytes) -> str:
    """The server's own words for an error: ``error.message`` of an OpenAI-style body, else the text."""
    try:
        body = json.loads(raw)
        err = body.get("error", body) if isinstance(body, dict) else body
        message = err.get("message") if isinstance(err, dict) else None
        if isinstance(message, str) and message:
            return message[:300]
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return raw[:300].decode("utf-8", "replace")


def _served_models(raw: bytes) -> list[str] | None:
    """The model ids of an OpenAI ``/models`` body, or None when it is not one."""
    try:
        data = json.loads(raw).get("data")
        return [m["id"] for m in data if isinstance(m, dict) and "id" in m] if isinstance(data, list) else None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
        return None


class OpenAITeacher(LiveTeacher):
    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        self.urls = [u.rstrip("/") for u in cfg.base_urls]
        if not self.urls:
            raise ValueError("the openai teacher needs at least one base URL")
        self.api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        self.budget = RateBudget(cfg.requests_per_minute, cfg.tokens_per_minute)  # shared by every base URL

    def preflight(self, timeout_s: float = 10.0) -> list[str]:
        """One line per base URL that does not answer at all (any HTTP status counts as an answer),
        or whose ``/models`` list does not hold the configured model, so a wrong URL or model name
        fails at once instead of after every request's retries."""
        import urllib.error
        import urllib.request

        problems = []
        for url in self.urls:
            req = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {self.api_key}"}
                                         if self.api_key else {})
            try:
                with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                    served = _served_models(resp.read())
            except urllib.error.HTTPError:
                continue  # it answered, without a model list we can read (some hosted APIs)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                problems.append(f"teacher.base_urls: {url} does not answer ({reason})")
                continue
            if served is not None and self.cfg.model not in served:
                problems.append(f"teacher.model: {url} does not serve {self.cfg.model!r} (it serves: "
                                f"{', '.join(served) or 'nothing'}); set --teacher-model to one of them")
        return problems

    def describe(self) -> dict:
        return {"backend": "openai", "model": self.cfg.model, "base_urls": self.urls, "endpoint": self.cfg.endpoint}

    def payload(self, req: GenRequest) -> dict:
        return request_body(self.cfg, req)

    async def serve(self, queue: RequestQueue, on_result: Callable[[Completion], None]) -> None:
        """``--concurrency`` workers, each taking the next request as soon as its last one ended."""
        import aiohttp

        urls = itertools.cycle(self.urls)
        path = "/chat/completions" if self.cfg.endpoint == "chat" else "/completions"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        connector = aiohttp.TCPConnector(limit=self.cfg.concurrency, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.cfg.request_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
            async def worker() -> None:
                while (req := await queue.get()) is not None:
                    on_result(await self._one(session, req, urls, path))

            await asyncio.gather(*(worker() for _ in range(self.cfg.concurrency)))

    async def _one(self, session, req: GenRequest, urls, path: str) -> Completion:
        import aiohttp

        t0 = time.perf_counter()
        retried: Counter = Counter()
        body = json.dumps(self.payload(req))
        tokens = self.budget.estimate(req.prompt, self.cfg.max_tokens)
        attempts = 0
        while True:
            attempts += 1
            await self.budget.turn(tokens)
            try:
                text, finish, ptok, ctok = await self._attempt(session, next(urls) + path, body)
                self.budget.learn(req.prompt, ptok)
                return Completion(req.problem_id, req.sample_index, req.round, req.seed, text, finish, ptok, ctok,
                                  attempts=attempts, seconds=time.perf_counter() - t0,
                                  extra={"retried": dict(retried)} if retried else {})
            except _Final as exc:
                kind, detail, after = exc.kind, exc.detail, None
                final = True
            except _Retry as exc:
                kind, detail, after, final = exc.kind, exc.detail, exc.after, False
            except asyncio.TimeoutError:
                kind, after, final = "timeout", None, False
                detail = f"no answer within {self.cfg.request_timeout_s:g} s"
            except aiohttp.ClientError as exc:
                kind, detail, after, final = "connection_error", f"{type(exc).__name__}: {exc}"[:200], None, False
            if final or attempts > self.cfg.max_retries:
                return Completion(req.problem_id, req.sample_index, req.round, req.seed, error=kind, detail=detail,
                                  attempts=attempts, seconds=time.perf_counter() - t0,
                                  extra={"retried": dict(retried)} if retried else {})
            retried[kind] += 1
            await asyncio.sleep(self._backoff(attempts, after))

    def _backoff(self, attempt: int, after: float | None) -> float:
        if after is not None:
            return min(after, MAX_BACKOFF_S)
        return min(MAX_BACKOFF_S, self.cfg.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    async def _attempt(self, session, url: str, body: str):
        async with session.post(url, data=body) as resp:
            raw = await resp.read()
            self.budget.observe(resp.headers)
            if resp.status == 200:
                try:
                    parsed = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise _Retry("bad_response", f"body is not JSON: {raw[:100]!r}") from None
                return parse_body(parsed, self.cfg.endpoint)
            detail = _error_message(raw)
            if resp.status in RETRYABLE_STATUS or resp.status >= 500:
                after = retry_after_s(resp.headers)
                if resp.status == 429 and after is not None:
                    self.budget.pause(after, "retry_after")  # the limit is the account's: every request waits
                raise _Retry(f"http_{resp.status}", detail, after)
            raise _Final(f"http_{resp.status}", detail)
