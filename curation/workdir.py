"""The resumable work folder and its layout (this module is the one place it is spelled).

A part counts as finished only when its ``.done`` marker exists; the marker is written last,
after every output of the part has been renamed into place, so a run killed at any moment
leaves either a finished part or one that is redone from scratch.

Layout, beside the published folder ``out/NAME`` (never inside it, so a push never uploads it)::

    out/.work/NAME/
      fingerprint.json                  WORK_FORMAT, the recipe minus execution settings, the source
      load.done                         parts, rows skipped by --where
      load/part-0000K.parquet|.rejected.parquet|.done         problems of source part K
      STAGE.parquet|.rejected.parquet|.done                  each problem stage (row indices dropped)
      samples/part-0000K.parquet|.rejected.parquet|.done      kept samples of part K, its counts
      responses/part-0000K.jsonl        a live teacher's answers for part K (append-only)
      judge/replies.jsonl               the LLM judge's replies
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


# Bump when the layout or schema of work parts changes: parts written by another format are
# never mixed with new ones (the run asks for --restart instead).
WORK_FORMAT = 4


def part_name(k: int) -> str:
    return f"part-{k:05d}"


class WorkDir:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def beside(cls, out_dir: Path) -> WorkDir:
        """The work folder of the published folder ``out_dir``."""
        return cls(Path(out_dir).parent / ".work" / Path(out_dir).name)

    # -- the layout: names of outputs (``write``/``read``/``done`` take them) and files -------------

    LOAD = "load"  # the load phase's marker

    @staticmethod
    def load_part(k: int) -> str:
        return f"load/{part_name(k)}"

    @staticmethod
    def sample_part(k: int) -> str:
        return f"samples/{part_name(k)}"

    @staticmethod
    def rejected(name: str) -> str:
        """The rejected rows written beside the output ``name``."""
        return f"{name}.rejected"

    def parquet(self, name: str) -> Path:
        return self.root / f"{name}.parquet"

    def response_log(self, k: int) -> Path:
        return self.path(f"responses/{part_name(k)}.jsonl")

    def judge_log(self) -> Path:
        return self.root / "judge" / "replies.jsonl"

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

    def read(self, name: str, columns: list[str] | None = None) -> pl.DataFrame:
        return pl.read_parquet(self.parquet(name), columns=columns)
