"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, TEI, hosted APIs).

Used by rephrase decontamination (``--decontam-retrieval embeddings``). Texts go in batches, in
order; several base URLs share the batches round-robin; 429, 5xx, dropped connections, timeouts
and unreadable bodies are retried with exponential backoff (``Retry-After`` honoured), other 4xx
are final. A batch that still fails raises ``EmbeddingError`` with the server's own words: the
problem stage it serves cannot decide anything without its vectors. Vectors are not stored (the
problem stage's marker keeps what they decided; a changed setting embeds again).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import urllib.error
import urllib.request

import numpy as np

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class EmbeddingError(RuntimeError):
    """A batch of texts could not be embedded (after retries); ``str()`` says why."""


def _server_words(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        err = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:300]
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return raw[:300].decode("utf-8", "replace")


def vectors_of(body: dict, n: int) -> np.ndarray:
    """The ``n`` embeddings of an OpenAI embeddings body, in input order (by ``index``)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != n:
        raise ValueError(f"expected {n} embeddings, got {len(data) if isinstance(data, list) else 'none'}")
    rows = sorted(data, key=lambda d: d.get("index", 0))
    out = np.asarray([d["embedding"] for d in rows], dtype=np.float32)
    if out.ndim != 2:
        raise ValueError("embeddings of unequal length")
    return out


class EmbeddingClient:
    def __init__(self, model: str, base_urls: list[str], *, api_key_env: str | None = "OPENAI_API_KEY",
                 batch: int = 64, timeout_s: float = 120.0, max_retries: int = 6, backoff_s: float = 1.0):
        if not base_urls:
            raise ValueError("embeddings need at least one base URL")
        self.model, self.batch, self.timeout_s = model, batch, timeout_s
        self.max_retries, self.backoff_s = max_retries, backoff_s
        self.urls = itertools.cycle([u.rstrip("/") for u in base_urls])
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.requests = 0  # HTTP requests sent (retries included)

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text (float32)."""
        parts = [self._batch(texts[i:i + self.batch]) for i in range(0, len(texts), self.batch)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        body = json.dumps({"model": self.model, "input": texts}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            attempt += 1
            url = next(self.urls) + "/embeddings"
            after = None
            self.requests += 1
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return vectors_of(json.loads(resp.read()), len(texts))
            except urllib.error.HTTPError as exc:
                why = f"{url}: HTTP {exc.code}: {_server_words(exc.read())}"
                if exc.code not in RETRYABLE_STATUS and exc.code < 500:
                    raise EmbeddingError(why) from None
                try:
                    after = float(exc.headers.get("Retry-After") or "")
                except ValueError:
                    after = None
            except (urllib.error.URLError, OSError) as exc:
                why = f"{url}: {getattr(exc, 'reason', exc)}"
            except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not an embeddings body
                why = f"{url}: unreadable embeddings body ({exc})"[:300]
            if attempt > self.max_retries:
                raise EmbeddingError(f"{why} (after {attempt} attempts)")
            wait = after if after is not None else self.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            time.sleep(min(wait, 60.0))
