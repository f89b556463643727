"""Paid teacher answers, kept outside every recipe: the response store.

An answer is determined by the model, the rendered prompt, the sampling settings, the seed and the
token limit, so that is its key (``answer_key``): any run that asks the same thing again (a
changed filter, more rounds or samples, a resumed or restarted run, ``evaluate`` asking for more
samples) gets the stored answer instead of paying for it twice. What a recipe decides beyond that
(which problems, which filters, how many samples) is not part of the key, so no recipe change can
make an answer unreachable; a changed prompt template, temperature or seed asks anew, as it must.

The store is one SQLite file (``answers.sqlite``) in a folder beside the published sets
(``out/.responses/`` by default, ``--responses DIR`` to share one between runs). Each answer is
committed the moment it arrives (WAL journal), so a run killed at any moment keeps every answer it
received. Only answers are stored: a request that failed is asked again next time. Nothing in the
toolkit deletes the store; ``curate --drop-answers`` removes the answers of one teacher setting,
on request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from curation.teachers.requests import Completion, GenRequest

FILE = "answers.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, identity TEXT NOT NULL, problem_id TEXT, sample_index INTEGER, seed INTEGER,
    completion TEXT NOT NULL, stored_at REAL NOT NULL)"""


def identity_key(identity: dict) -> str:
    """A short stable name of a teacher setting (model, endpoint, sampling, token limit)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def answer_key(identity: dict, prompt: str, seed: int) -> str:
    text = json.dumps({"identity": identity, "prompt": prompt, "seed": seed}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseStore:
    """The answers of one teacher setting (``identity``) in the store folder ``root``."""

    def __init__(self, root: Path, identity: dict):
        self.root, self.identity = Path(root), dict(identity)
        self.ident = identity_key(self.identity)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / FILE, timeout=60, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at each commit against a process kill
        self.db.execute(_SCHEMA)
        self.reused = 0  # answers served from the store by this object
        self.stored = 0  # answers it added
        self.opened = time.time()  # answers stored since then are this process's (``fresh``)

    def key(self, req: GenRequest) -> str:
        return answer_key(self.identity, req.prompt, req.seed)

    def get(self, req: GenRequest) -> Completion | None:
        """The stored answer to ``req`` (its round and sample index made the request's), or None."""
        row = self.db.execute("SELECT completion FROM answers WHERE key = ?", (self.key(req),)).fetchone()
        if row is None:
            return None
        self.reused += 1
        c = Completion(**json.loads(row[0]))
        return dataclasses.replace(c, problem_id=req.problem_id, sample_index=req.sample_index, round=req.round)

    def fresh(self, req: GenRequest) -> bool:
        """Whether the answer to ``req`` was stored by this process (e.g. read from a batch file just now)
        rather than by an earlier run."""
        row = self.db.execute("SELECT stored_at FROM answers WHERE key = ?", (self.key(req),)).fetchone()
        return row is not None and row[0] >= self.opened

    def has(self, req: GenRequest) -> bool:
        return self.db.execute("SELECT 1 FROM answers WHERE key = ?", (self.key(req),)).fetchone() is not None

    def put(self, req: GenRequest, c: Completion) -> None:
        """Keep an answer (failures are not kept: they are asked again)."""
        if c.ok:
            self.put_keyed(self.key(req), self.ident, req.problem_id, req.sample_index, req.seed, c)

    def put_keyed(self, key: str, ident: str, problem_id: str, sample_index: int, seed: int, c: Completion) -> bool:
        """Keep an answer under its key (a batch file's answers come with theirs); False when the store
        already held one (the first answer stays)."""
        added = self.db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (key, ident, problem_id, sample_index, seed, c.to_json(), time.time())).rowcount
        self.stored += added
        return bool(added)

    def count(self) -> int:
        """Answers stored for this teacher setting."""
        return self.db.execute("SELECT COUNT(*) FROM answers WHERE identity = ?", (self.ident,)).fetchone()[0]

    def drop(self) -> int:
        """Delete this teacher setting's answers (``--drop-answers``); returns how many."""
        return self.db.execute("DELETE FROM answers WHERE identity = ?", (self.ident,)).rowcount

    def close(self) -> None:
        self.db.close()
