"""Source rows: local JSONL / JSON / Parquet files and Hugging Face datasets, read in parts.

A source yields raw rows (dicts) in a fixed order, so part ``k`` always holds the same rows and
a resumed run can skip finished parts. Lines that are not valid JSON are yielded as
``BadRow`` values rather than raised, so they become rejected rows with a reason; a file that
cannot be read at all (not Parquet, a truncated gzip, JSON that is not a list of rows) raises
``ConfigError`` with one line naming it.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curation.config import SourceConfig
from curation.settings import ConfigError, looks_like_hub_id, portable_path

DEMO_DIR = Path(__file__).parents[1] / "demo"
CANONICAL_FIELDS = ("id", "problem", "answer", "responses", "finish_reasons", "source", "tests", "choices",
                    "reasoning", "final")

# OpenThoughts-114k's metadata subset stores R1's reasoning and solution in two fields.
_OPENTHOUGHTS = {"path": "open-thoughts/OpenThoughts-114k", "subset": "metadata", "split": "train"}
_OPENTHOUGHTS_FIELDS = {"problem": "problem", "reasoning": "deepseek_reasoning", "final": "deepseek_solution",
                        "source": "source"}

# Named sources with their field mapping. Keys are the `--preset` choices.
PRESETS: dict[str, dict] = {
    "openr1-math": {
        "path": "open-r1/OpenR1-Math-220k",
        "subset": "default",
        "split": "train",
        "fields": {"id": "uuid", "problem": "problem", "answer": "answer", "responses": "generations",
                   "finish_reasons": "finish_reasons", "source": "source"},
        "about": "OpenR1-Math-220k, default subset (94k NuminaMath-1.5 problems, 2-4 R1 traces each); "
                 "the TinyR1 paper's math source.",
    },
    "openthoughts-science": {
        **_OPENTHOUGHTS,
        "where": {"domain": "biology|chemistry|physics"},
        "fields": {**_OPENTHOUGHTS_FIELDS, "answer": "ground_truth_solution"},
        "about": "OpenThoughts-114k, metadata subset, science rows (biology, chemistry, physics); part of the "
                 "TinyR1 paper's science mix.",
    },
    "s1k": {
        "path": "simplescaling/s1K-1.1",
        "split": "train",
        "fields": {"problem": "question", "reasoning": "deepseek_thinking_trajectory", "final": "deepseek_attempt",
                   "answer": "solution", "source": "source_type"},
        "about": "s1K-1.1 (1k hard problems with R1 traces); part of the TinyR1 paper's science mix.",
    },
    "openthoughts-code": {
        **_OPENTHOUGHTS,
        "where": {"domain": "code"},
        "fields": {**_OPENTHOUGHTS_FIELDS, "tests": "test_cases"},
        "about": "OpenThoughts-114k, metadata subset, code rows (R1 reasoning + solution, with test cases); "
                 "the TinyR1 paper's code source.",
    },
}

_LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".jsonl.gz", ".ndjson")


@dataclass(frozen=True)
class BadRow:
    """A source line that could not be read as a JSON object."""

    where: str
    error: str
    raw: str


@dataclass(frozen=True)
class ResolvedSource:
    kind: str  # "files" or "hub"
    name: str  # shown in cards and reports
    files: tuple[str, ...] = ()
    hub_id: str | None = None
    subset: str | None = None
    split: str = "train"
    fields: tuple[tuple[str, str], ...] = ()
    where: tuple[tuple[str, str], ...] = ()

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.fields)


def resolve_source(cfg: SourceConfig, domain: str) -> ResolvedSource:
    """Turn the source settings into files or a Hub id; a missing file raises ``ConfigError``."""
    path, subset, split = cfg.path, cfg.subset, cfg.split
    fields: dict[str, str] = {}
    where: dict[str, str] = {}
    if cfg.preset:
        preset = PRESETS[cfg.preset]
        path = path or preset["path"]
        subset = subset or preset.get("subset")
        split = cfg.split if cfg.split != "train" else preset.get("split", "train")
        fields.update(preset.get("fields", {}))
        where.update(preset.get("where", {}))
    fields.update(cfg.fields)
    where.update(cfg.where)
    bad = sorted(set(fields) - set(CANONICAL_FIELDS))
    if bad:
        raise ConfigError([f"source.fields: unknown field {b!r} (ours are: {', '.join(CANONICAL_FIELDS)})"
                           for b in bad])
    frozen = tuple(sorted(fields.items()))
    w = tuple(sorted(where.items()))
    if path == "demo":
        demo = DEMO_DIR / f"{domain}_demo.jsonl"
        if not demo.is_file():
            raise ConfigError([f"source: there is no embedded demo set for domain {domain!r}"])
        return ResolvedSource("files", f"demo/{demo.name}", (str(demo),), fields=frozen, where=w)
    p = Path(path)
    # the name is in every row, the report and the card: an absolute path is named relative to here
    if p.is_file():
        return ResolvedSource("files", portable_path(str(path)), (str(p),), fields=frozen, where=w)
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.name.endswith(_LOCAL_SUFFIXES))
        if not files:
            raise ConfigError([f"source: folder {path} holds no .jsonl/.json/.parquet files"])
        return ResolvedSource("files", portable_path(str(path)), tuple(files), fields=frozen, where=w)
    if any(ch in path for ch in "*?["):
        files = sorted(f for f in glob.glob(path, recursive=True) if f.endswith(_LOCAL_SUFFIXES))
        if not files:
            raise ConfigError([f"source: no files match {path}"])
        return ResolvedSource("files", portable_path(str(path)), tuple(files), fields=frozen, where=w)
    if path.endswith(_LOCAL_SUFFIXES) or not looks_like_hub_id(path):
        raise ConfigError([f"source: file not found: {path}"])
    return ResolvedSource("hub", path, hub_id=path, subset=subset, split=split, fields=frozen, where=w)


def _unreadable(path: str, what: str) -> ConfigError:
    """A source file that cannot be read at all: one line naming it (exit 2), not a traceback."""
    return ConfigError([f"source: {path}: {what}"])


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _iter_jsonl(path: str) -> Iterator[dict | BadRow]:
    gz = path.endswith(".gz")
    opener = gzip.open if gz else open
    lineno = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield BadRow(f"{os.path.basename(path)}:{lineno}", f"invalid JSON: {exc.msg}", line[:2000])
                    continue
                if not isinstance(row, dict):
                    yield BadRow(f"{os.path.basename(path)}:{lineno}", "line is not a JSON object", line[:2000])
                    continue
                yield row
    except gzip.BadGzipFile:
        raise _unreadable(path, "not a gzip file (the name ends in .gz)") from None
    except EOFError:  # the stream stops before gzip's end marker: a cut-off download or copy
        raise _unreadable(path, f"truncated gzip file (it ends inside line {lineno + 1})") from None
    except zlib.error as exc:
        raise _unreadable(path, f"corrupt gzip data after line {lineno} ({exc})") from None
    except OSError as exc:
        raise _unreadable(path, f"cannot read it ({exc.strerror or _first_line(exc)})") from None


def _iter_json(path: str) -> Iterator[dict | BadRow]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _unreadable(path, f"not JSON: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise _unreadable(path, f"cannot read it ({exc.strerror or _first_line(exc)})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if _looks_like_json_lines(text):  # some ".json" files are really JSON Lines
            yield from _iter_jsonl(path)
            return
        raise _unreadable(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) > 1 and all(v and all(isinstance(x, dict) for x in v) for v in data.values()):
            raise _unreadable(path, f"a JSON object holding {len(lists)} lists of rows ({', '.join(lists[:4])}); "
                                    "give one list")
        data = data[lists[0]] if len(lists) == 1 else [data]  # {"data": [rows]}, or one row
    if not isinstance(data, list):
        kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(data), "null")
        raise _unreadable(path, f"a JSON {kind}, not a list of rows (expected a JSON list of objects, an object "
                                "holding one, or JSON Lines)")
    for i, row in enumerate(data):
        if isinstance(row, dict):
            yield row
        else:
            yield BadRow(f"{os.path.basename(path)}[{i}]", "item is not a JSON object", json.dumps(row)[:2000])


def _looks_like_json_lines(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def _iter_parquet(path: str) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        what = "not a Parquet file, or a truncated one (no Parquet footer)" if "magic bytes" in str(exc) \
            else f"cannot read it as Parquet ({_first_line(exc)})"
        raise _unreadable(path, what) from None
    try:
        for batch in reader.iter_batches(batch_size=1024):
            yield from batch.to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, f"corrupt Parquet data ({_first_line(exc)})") from None


def _iter_hub(src: ResolvedSource) -> Iterator[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(src.hub_id, src.subset, split=src.split)
    except Exception as exc:  # network, offline mode, unknown id, a gated set: one line for the user
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        if "gated" in f"{type(exc).__name__} {exc}".lower():
            first = (f"it is gated and this Hub token has no access (accept its terms at "
                     f"https://huggingface.co/datasets/{src.hub_id})")
        raise ConfigError([f"source: could not load Hub dataset {src.hub_id!r}"
                           f"{f' ({src.subset})' if src.subset else ''}: {first}"]) from None
    for batch in ds.iter(batch_size=1024):
        keys = list(batch)
        for i in range(len(batch[keys[0]]) if keys else 0):
            yield {k: batch[k][i] for k in keys}


def iter_rows(src: ResolvedSource, limit: int | None = None, skipped: list[int] | None = None
              ) -> Iterator[dict | BadRow]:
    """Every raw row of the source in a fixed order (at most ``limit``).

    Rows failing the source's ``where`` filter are not part of it; ``skipped[0]`` counts them.
    """
    def rows() -> Iterator[dict | BadRow]:
        if src.kind == "hub":
            yield from _iter_hub(src)
            return
        for path in src.files:
            if path.endswith(".parquet"):
                yield from _iter_parquet(path)
            elif path.endswith(".json"):
                yield from _iter_json(path)
            else:
                yield from _iter_jsonl(path)

    n = 0
    for row in rows():
        if src.where and isinstance(row, dict) and any(str(row.get(k)) not in v.split("|") for k, v in src.where):
            if skipped is not None:
                skipped[0] += 1
            continue
        if limit is not None and n >= limit:
            return
        n += 1
        yield row


def iter_parts(src: ResolvedSource, part_size: int, limit: int | None = None,
               skipped: list[int] | None = None) -> Iterator[list[dict | BadRow]]:
    part: list[dict | BadRow] = []
    for row in iter_rows(src, limit, skipped):
        part.append(row)
        if len(part) == part_size:
            yield part
            part = []
    if part:
        yield part
