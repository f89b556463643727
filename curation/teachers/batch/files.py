"""Requests out and answers back as OpenAI batch files, through the response store.

Out (``write_requests``): one JSON line per request, ``{"custom_id", "method": "POST", "url":
"/v1/chat/completions" (or "/v1/completions"), "body"}``, the body exactly what the ``openai``
teacher would send (``openai_client.request_body``: model, messages, temperature, top_p, seed,
max_tokens, n 1). The ``custom_id`` is the answer's key in the store (``response_store.answer_key``:
the teacher setting, the prompt and the seed), and every exported request is recorded in the store
(table ``exported``: its key, teacher setting, problem, sample index, seed), so an answer read back
is stored under exactly the request it answers, whatever became of the run meanwhile.

Back (``import_responses``): a batch output file as OpenAI's Batch API and vLLM's ``run_batch``
write it (``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``), or
its error file. Each answer becomes a stored ``Completion`` marked ``extra["via"] = "batch"`` (priced
with ``--batch-price-factor``); a line is rejected, with its line number, when it is not JSON
(``not_json``), has no ``custom_id`` (``no_custom_id``), answers no request exported from this
store (``unknown_request``), reports a failed request (``request_failed``: not asked again until
exported again) or holds no completion (``bad_response``). An answer the store already holds is
kept as it was (``already_answered``); one to a request another teacher setting exported is stored
under that setting (``other_setting``). Files may be partial, repeated or several.

The batches sent through a Batch API (``curation.teachers.batch.api``) are recorded in the store too
(table ``batches``), so a killed run finds its batch again instead of paying twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from curation.config import TeacherConfig
from curation.teachers.openai_client import BadResponse, parse_body, request_body
from curation.teachers.requests import Completion, GenRequest
from curation.teachers.response_store import ResponseStore

_TABLES = ("""CREATE TABLE IF NOT EXISTS exported (custom_id TEXT PRIMARY KEY, identity TEXT NOT NULL,
               problem_id TEXT, sample_index INTEGER, seed INTEGER, exported_at REAL NOT NULL)""",
           """CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, identity TEXT NOT NULL, base_url TEXT,
               digest TEXT NOT NULL, requests INTEGER, created_at REAL NOT NULL, imported_at REAL)""")


def batch_url(cfg: TeacherConfig) -> str:
    return "/v1/chat/completions" if cfg.endpoint == "chat" else "/v1/completions"


def _tables(store: ResponseStore) -> None:
    for table in _TABLES:
        store.db.execute(table)


def request_lines(cfg: TeacherConfig, store: ResponseStore, requests: Iterable[GenRequest]) -> list[str]:
    """The batch input lines of ``requests``, each recorded in the store as exported."""
    _tables(store)
    lines, records, now = [], [], time.time()
    for req in requests:
        key = store.key(req)
        lines.append(json.dumps({"custom_id": key, "method": "POST", "url": batch_url(cfg),
                                 "body": request_body(cfg, req)}, ensure_ascii=False))
        records.append((key, store.ident, req.problem_id, req.sample_index, req.seed, now))
    with store.db:
        store.db.execute("BEGIN")
        store.db.executemany("INSERT OR IGNORE INTO exported VALUES (?, ?, ?, ?, ?, ?)", records)
    return lines


def write_lines(path: Path, lines: list[str]) -> None:
    """A file written whole or not at all (a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)


def digest(lines: list[str]) -> str:
    """A name for a set of requests: the same requests, in any order, give the same digest."""
    ids = sorted(json.loads(line)["custom_id"] for line in lines)
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


@dataclass
class ImportSummary:
    """What one batch output file brought: new answers of this teacher setting, and every other line by kind."""

    file: str
    lines: int = 0
    answers: int = 0
    already_answered: int = 0
    other_setting: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> lines
    first: dict[str, str] = field(default_factory=dict)  # reason -> "line N: what"
    prompt_tokens: int = 0  # of the new answers (what they cost)
    completion_tokens: int = 0

    def line(self) -> str:
        """One line for the console."""
        parts = [f"{self.answers} new answer(s)"]
        if self.already_answered:
            parts.append(f"{self.already_answered} already stored")
        if self.other_setting:
            parts.append(f"{self.other_setting} for another teacher setting (stored under it)")
        for reason, n in sorted(self.rejected.items()):
            parts.append(f"rejected {reason} {n} ({self.first[reason]})")
        return f"{self.file}: {self.lines} line(s): " + "; ".join(parts)

    def to_dict(self) -> dict:
        return {"file": self.file, "lines": self.lines, "answers": self.answers,
                "already_answered": self.already_answered, "other_setting": self.other_setting,
                "rejected": dict(self.rejected), "first_rejected": self.first}


def _failure(obj: dict) -> str | None:
    """Why a line reports no answer (its status and the server's words), or None for an answer."""
    response = obj.get("response") if isinstance(obj.get("response"), dict) else {}
    error, status = obj.get("error"), response.get("status_code")
    if not error and status == 200:
        return None
    if not error and isinstance(response.get("body"), dict):
        error = response["body"].get("error")
    if isinstance(error, dict) and isinstance(error.get("error"), dict):  # vLLM writes its whole error response
        error = error["error"]
    message = error.get("message") if isinstance(error, dict) else error
    return f"status {status}: {message or 'no message'}"[:200]


def import_responses(path: Path, store: ResponseStore, name: str | None = None) -> ImportSummary:
    """Read a batch output (or error) file into the store (see the module docstring)."""
    _tables(store)
    out = ImportSummary(name or str(path))

    def reject(n: int, reason: str, what: str) -> None:
        out.rejected[reason] += 1
        out.first.setdefault(reason, f"line {n}: {what}"[:240])

    with open(path, encoding="utf-8") as fh, store.db:
        store.db.execute("BEGIN")  # one transaction: a large file is read in seconds, all or nothing
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            out.lines += 1
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                reject(n, "not_json", "not a JSON line")
                continue
            cid = obj.get("custom_id") if isinstance(obj, dict) else None
            if not isinstance(cid, str):
                reject(n, "no_custom_id", "no custom_id")
                continue
            record = store.db.execute("SELECT identity, problem_id, sample_index, seed FROM exported "
                                      "WHERE custom_id = ?", (cid,)).fetchone()
            if record is None:
                reject(n, "unknown_request", f"custom_id {cid[:40]!r} was not exported from this response store")
                continue
            if (failure := _failure(obj)) is not None:
                reject(n, "request_failed", failure)
                continue
            body = obj["response"].get("body")
            try:
                chat = "message" in ((body or {}).get("choices") or [{}])[0]
                text_, finish, ptok, ctok = parse_body(body, "chat" if chat else "completions")
            except (BadResponse, AttributeError, TypeError) as exc:
                reject(n, "bad_response", str(exc) or "no completion in the body")
                continue
            ident, pid, index, seed = record
            c = Completion(pid, index, 0, seed, text_, finish, ptok, ctok, extra={"via": "batch"})
            if not store.put_keyed(cid, ident, pid, index, seed, c):
                out.already_answered += 1
            elif ident != store.ident:
                out.other_setting += 1
            else:
                out.answers += 1
                out.prompt_tokens += ptok or 0
                out.completion_tokens += ctok or 0
    return out


def record_batch(store: ResponseStore, batch_id: str, base_url: str, digest_: str, requests: int) -> None:
    _tables(store)
    store.db.execute("INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, ?, ?, NULL)",
                     (batch_id, store.ident, base_url, digest_, requests, time.time()))


def open_batch(store: ResponseStore, base_url: str, digest_: str) -> str | None:
    """The batch sent for these requests to this server and not read back yet, if any."""
    _tables(store)
    row = store.db.execute("SELECT batch_id FROM batches WHERE base_url = ? AND digest = ? AND imported_at IS NULL "
                           "ORDER BY created_at DESC", (base_url, digest_)).fetchone()
    return row[0] if row else None


def close_batch(store: ResponseStore, batch_id: str) -> None:
    """Its answers are in the store (or it ended without any): a later run sends anew."""
    store.db.execute("UPDATE batches SET imported_at = ? WHERE batch_id = ?", (time.time(), batch_id))
