"""The resumable work folder: part outputs written atomically, then a completion marker.

A part counts as finished only when its ``.done`` marker exists; the marker is written last,
after every output of the part has been renamed into place, so a run killed at any moment
leaves either a finished part or one that is redone from scratch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_parquet(path: Path, frame: pl.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


class WorkDir:
    def __init__(self, root: Path):
        self.root = Path(root)

    def ensure(self, fingerprint: dict, *, restart: bool = False) -> bool:
        """Create the folder; returns False when it holds work from a different recipe."""
        fp_path = self.root / "fingerprint.json"
        if restart and self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps(fingerprint, sort_keys=True, indent=1, default=str)
        if fp_path.exists() and fp_path.read_text() != text:
            if any(self.root.rglob("*.done")):
                return False  # finished parts of another recipe: never mixed with this one
            shutil.rmtree(self.root)  # nothing finished there yet: nothing to lose
            self.root.mkdir(parents=True)
        if not fp_path.exists():
            atomic_write_bytes(fp_path, text.encode())
        return True

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def done(self, name: str) -> dict | None:
        marker = self.root / f"{name}.done"
        return json.loads(marker.read_text()) if marker.exists() else None

    def mark_done(self, name: str, info: dict) -> None:
        atomic_write_bytes(self.path(f"{name}.done"), json.dumps(info, sort_keys=True, default=str).encode())

    def write(self, name: str, frame: pl.DataFrame) -> None:
        atomic_write_parquet(self.path(f"{name}.parquet"), frame)

    def read(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.root / f"{name}.parquet")
