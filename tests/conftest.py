"""Shared fixtures: the real public data folder, offline Hub, a scratch cwd."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real public data not found at {SHARED_DATA} (the ../shared/data folder beside the checkout)")
    return SHARED_DATA


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line.strip()]


def write_jsonl(path: Path, rows: list) -> Path:
    with open(path, "w") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row))
            fh.write("\n")
    return path


def stored_answers(folder: Path) -> list[dict]:
    """The teacher answers in a response store folder (``out/.responses`` by default), oldest first."""
    import sqlite3

    path = Path(folder) / "answers.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT problem_id, sample_index, seed, stored_at, completion FROM answers "
                          "ORDER BY stored_at").fetchall()
    except sqlite3.OperationalError:  # the run has not created its table yet
        rows = []
    finally:
        db.close()
    return [{"problem_id": p, "sample_index": i, "seed": s, "stored_at": t, **json.loads(c)} for p, i, s, t, c in rows]


@pytest.fixture(scope="session")
def tiny_reasoner(tmp_path_factory) -> Path:
    """A tiny Qwen2 written by hand to answer 'quick' problems right and ramble on 'slow' ones
    (``tests/helpers/tiny_reasoner.py``), for the tests that run a real engine."""
    from helpers.tiny_reasoner import build_reasoner

    return build_reasoner(tmp_path_factory.mktemp("tiny_reasoner"))


@lru_cache(maxsize=1)
def sandbox_unavailable() -> str | None:
    """Why code-sandbox tests must skip here, or None when bubblewrap can sandbox."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    from verifiers.code import isolation

    return None if isolation()["unprivileged_uid"] else "bubblewrap cannot create an unprivileged sandbox here"
