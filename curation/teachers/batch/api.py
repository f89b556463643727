"""``--batch``: requests through an OpenAI-compatible Batch API, answers into the response store.

``BatchAPI`` speaks the public API (``POST /files`` multipart with ``purpose=batch``, ``POST
/batches``, ``GET /batches/{id}``, ``GET /batches``, ``GET /files/{id}/content``) with the standard
library. ``answer_by_batch`` sends a set of requests (in files of at most ``MAX_LINES`` lines and
``MAX_BYTES`` bytes, the API's limits) and waits for their answers:

1. the lines are written (``files.request_lines``: each request recorded as exported) to
   ``<store>/batches/<digest>-input.jsonl``, the digest naming the set of requests;
2. a batch for the same digest that the store records and has not read back is polled again rather
   than created anew, and so is one the server lists with that digest in its ``metadata`` (the
   moment between creating a batch and recording it): a killed run never pays twice;
3. otherwise the file is uploaded and the batch created (``metadata``: the digest) and recorded;
4. every ``poll_s`` seconds its status is asked, until it is completed, failed, expired or cancelled;
5. its output and error files are downloaded beside the input and read into the store
   (``files.import_responses``), then the batch is marked read.
A batch that failed as a whole (its input refused) ends the run with the server's errors.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import curation.teachers.batch.files as files
from curation.config import BatchConfig, TeacherConfig
from curation.teachers.requests import GenRequest
from curation.teachers.response_store import ResponseStore

MAX_LINES = 50_000  # OpenAI: at most 50,000 requests and 200 MB per batch input file
MAX_BYTES = 190 * 2**20
ENDED = ("completed", "failed", "expired", "cancelled")
META_KEY = "branch_merge_requests"


class BatchAPIError(RuntimeError):
    """A Batch API call that failed, or a batch that failed as a whole; ``str()`` says which and why."""


class BatchAPI:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 120.0):
        self.base, self.timeout_s = base_url.rstrip("/"), timeout_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _call(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None):
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout_s)  # noqa: S310 - the configured base URL
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw[:300].decode("utf-8", "replace")
            raise BatchAPIError(f"{method} {self.base}{path}: HTTP {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise BatchAPIError(f"{method} {self.base}{path}: {getattr(exc, 'reason', exc)}") from None

    def _json(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        with self._call(method, path, data, "application/json" if data else None) as resp:
            return json.loads(resp.read())

    def upload(self, path: Path) -> dict:
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                "Content-Type: application/jsonl\r\n\r\n").encode()
        data = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        with self._call("POST", "/files", data, f"multipart/form-data; boundary={boundary}") as resp:
            return json.loads(resp.read())

    def create(self, file_id: str, endpoint: str, window: str, metadata: dict) -> dict:
        return self._json("POST", "/batches", {"input_file_id": file_id, "endpoint": endpoint,
                                                "completion_window": window, "metadata": metadata})

    def get(self, batch_id: str) -> dict:
        return self._json("GET", f"/batches/{batch_id}")

    def find(self, key: str, value: str, pages: int = 5) -> dict | None:
        """The newest batch whose ``metadata[key]`` is ``value`` and that did not fail or lapse."""
        after = ""
        for _ in range(pages):
            page = self._json("GET", f"/batches?limit=100{after}")
            for b in page.get("data") or []:
                if (b.get("metadata") or {}).get(key) == value and b.get("status") not in ("failed", "expired",
                                                                                            "cancelled"):
                    return b
            if not page.get("has_more") or not page.get("data"):
                return None
            after = f"&after={page['data'][-1]['id']}"
        return None

    def download(self, file_id: str, dest: Path) -> Path:
        tmp = dest.with_name(f".{dest.name}.part")
        with self._call("GET", f"/files/{file_id}/content") as resp, open(tmp, "wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
        tmp.replace(dest)
        return dest


def chunks(lines: list[str]) -> list[list[str]]:
    """Batch input files within the API's limits."""
    out: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if out[-1] and (len(out[-1]) >= MAX_LINES or size + len(line.encode()) + 1 > MAX_BYTES):
            out.append([])
            size = 0
        out[-1].append(line)
        size += len(line.encode()) + 1
    return [c for c in out if c]


def answer_by_batch(cfg: TeacherConfig, batch: BatchConfig, store: ResponseStore, requests: list[GenRequest],
                    api_key: str | None, status: Callable[[str], None] = lambda s: None,
                    sleep: Callable[[float], None] = time.sleep) -> list[files.ImportSummary]:
    """Send ``requests`` through the Batch API of ``cfg.base_urls[0]`` and read the answers into
    ``store`` (see the module docstring); one summary per file read."""
    base = cfg.base_urls[0].rstrip("/")
    api = BatchAPI(base, api_key)
    folder = store.root / "batches"
    running = []  # (batch id, requests)
    for lines in chunks(files.request_lines(cfg, store, requests)):
        name = files.digest(lines)
        batch_id = files.open_batch(store, base, name)
        if batch_id is None and (listed := api.find(META_KEY, name)) is not None:
            batch_id = listed["id"]
            files.record_batch(store, batch_id, base, name, len(lines))
        if batch_id is None:
            path = folder / f"{name[:16]}-input.jsonl"
            files.write_lines(path, lines)
            uploaded = api.upload(path)
            batch_id = api.create(uploaded["id"], files.batch_url(cfg), batch.window, {META_KEY: name})["id"]
            files.record_batch(store, batch_id, base, name, len(lines))
            status(f"batch {batch_id}: {len(lines)} requests sent")
        else:
            status(f"batch {batch_id}: {len(lines)} requests, sent by an earlier run, polled again")
        running.append(batch_id)
    summaries = []
    for batch_id in running:
        b = api.get(batch_id)
        while b["status"] not in ENDED:
            counts = b.get("request_counts") or {}
            status(f"batch {batch_id}: {b['status']} {counts.get('completed', 0) + counts.get('failed', 0)}/"
                   f"{counts.get('total', 0)}")
            sleep(batch.poll_s)
            b = api.get(batch_id)
        if b["status"] == "failed":
            errors = "; ".join(f"line {e.get('line')}: {e.get('code')}: {e.get('message')}"
                               for e in ((b.get("errors") or {}).get("data") or [])[:5])
            files.close_batch(store, batch_id)
            raise BatchAPIError(f"batch {batch_id} failed: {errors or 'no errors given'}")
        for key, kind in (("output_file_id", "output"), ("error_file_id", "errors")):
            if b.get(key):
                path = api.download(b[key], folder / f"{batch_id}-{kind}.jsonl")
                summaries.append(files.import_responses(path, store, name=f"batch {batch_id} {kind}"))
        files.close_batch(store, batch_id)
        status(f"batch {batch_id}: {b['status']}")
    return summaries
