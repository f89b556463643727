"""The resumable work folder and its layout (this module is the one place it is spelled).

A part counts as finished only when its ``.done`` marker exists; the marker is written last,
after every output of the part has been renamed into place, so a run killed at any moment
leaves either a finished part or one that is redone from scratch.

Layout, beside the published folder ``out/NAME`` (never inside it, so a push never uploads it)::

    out/.work/NAME/
      fingerprint.json                  WORK_FORMAT and, per phase, the settings that decide its output
      load.done                         parts, rows skipped by --where
      load/part-0000K.parquet|.rejected.parquet|.done         problems of source part K
      STAGE.parquet|.rejected.parquet|.done                  each problem stage (row indices dropped)
      samples/part-0000K.parquet|.rejected.parquet|.done      kept samples of part K, its counts
      judge/replies.jsonl               the LLM judge's replies before the response store (never deleted)
      responses/part-0000K.jsonl        answers of runs before the response store (read into it once;
                                        never deleted)

Everything else in it is CPU work: when a phase's settings change, that phase's work and the
work of the phases after it are discarded and redone (teacher answers come back from the
response store, ``curation.teachers.response_store``); ``--restart`` discards all CPU work.
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
# never mixed with new ones (their CPU work is redone; paid answers are kept).
WORK_FORMAT = 5
PHASES = ("load", "problems", "samples")  # in order: a phase's output feeds the next
PAID = ("judge", "responses", "fingerprint.json")  # never discarded here


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


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

    def legacy_response_logs(self) -> list[Path]:
        """Answer logs written by runs before the response store (``responses/part-K.jsonl``)."""
        return sorted((self.root / "responses").glob("part-*.jsonl"))

    def _phase_of(self, entry: Path) -> str | None:
        """Which phase's CPU work a top-level entry holds (None: paid or the fingerprint)."""
        name = entry.name
        if name in PAID:
            return None
        if name == "load" or name.startswith("load."):
            return "load"
        if name == "samples":
            return "samples"
        return "problems"  # the problem stages' outputs and markers

    def ensure(self, fingerprint: dict, *, restart: bool = False) -> list[str]:
        """Create the folder and make its CPU work match ``fingerprint`` (``{"work_format", "phases":
        {phase: settings}}``): the work of the first phase whose settings changed, and of every phase
        after it, is discarded (all of it for ``restart`` or another work format). Returns the
        phases whose finished work was discarded; paid answers are never touched."""
        fp_path = self.root / "fingerprint.json"
        self.root.mkdir(parents=True, exist_ok=True)
        old = json.loads(fp_path.read_text()) if fp_path.exists() else None
        phases = fingerprint["phases"]
        if restart or old is None or old.get("work_format") != fingerprint["work_format"] or "phases" not in old:
            stale = list(PHASES)
        else:
            first = next((i for i, ph in enumerate(PHASES)
                          if _canon(old["phases"].get(ph)) != _canon(phases.get(ph))), len(PHASES))
            stale = list(PHASES[first:])
        discarded = []  # phases that had finished work
        for entry in list(self.root.iterdir()):
            phase = self._phase_of(entry)
            if phase in stale:
                if entry.name.endswith(".done") or (entry.is_dir() and any(entry.rglob("*.done"))):
                    discarded.append(phase)
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        atomic_write_bytes(fp_path, json.dumps(fingerprint, sort_keys=True, indent=1, default=str).encode())
        return [ph for ph in PHASES if ph in discarded]

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
