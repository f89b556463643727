"""Benchmarks for decontamination: the known ones by Hub id, or any local file / Hub id.

A benchmark is given as ``PATH_OR_ID`` or ``PATH_OR_ID#field`` (the field holding the item
text). Known names fill in the subset, split and field of their Hub dataset.
"""

from __future__ import annotations

from pathlib import Path

from curation.config import SourceConfig
from curation.settings import ConfigError, looks_like_hub_id
from curation.sources.rows import DEMO_DIR, BadRow, iter_rows, resolve_source

# name -> Hub dataset and the field holding the problem text.
KNOWN_BENCHMARKS: dict[str, dict] = {
    "aime24": {"path": "HuggingFaceH4/aime_2024", "split": "train", "field": "problem"},
    "aime25": {"path": "yentinglin/aime_2025", "split": "train", "field": "problem"},
    "math500": {"path": "HuggingFaceH4/MATH-500", "split": "test", "field": "problem"},
    "gpqa_diamond": {"path": "Idavidrein/gpqa", "subset": "gpqa_diamond", "split": "train", "field": "Question",
                     "gated": True},
    "livecodebench": {"path": "livecodebench/code_generation_lite", "split": "test", "field": "question_content"},
}
TEXT_FIELDS = ("problem", "question", "prompt", "Question", "question_content", "text", "original")


def check_local_benchmark(name: str, spec: str) -> list[str]:
    """Config-time check: a benchmark given as a local path must exist (Hub ids are checked on load)."""
    path = spec.partition("#")[0]
    if path in ("demo", "default", "") or (name in KNOWN_BENCHMARKS and path == KNOWN_BENCHMARKS[name]["path"]):
        return []
    looks_local = path.endswith((".jsonl", ".json", ".parquet", ".gz")) or not looks_like_hub_id(path)
    if looks_local and not Path(path).expanduser().exists():
        return [f"benchmark {name}: file not found: {path}"]
    return []


def _hub_id(name: str, spec: str) -> str | None:
    """The Hub dataset a benchmark spec names (a known name's own for ``default``), None for a file."""
    path = spec.partition("#")[0]
    known = KNOWN_BENCHMARKS.get(name, {})
    if known and path in (known["path"], "default", ""):
        return known["path"]
    if path == "demo" or path.endswith((".jsonl", ".json", ".parquet", ".gz")) or Path(path).expanduser().exists():
        return None
    return path if looks_like_hub_id(path) else None


def _skip_hint(name: str) -> str:
    return f"skip it with --no-benchmark {name}, or give a local copy with --benchmark {name}=FILE"


def access_problem(name: str, spec: str) -> str | None:
    """One line, before anything runs, for a benchmark known to be gated on the Hub that this machine
    cannot read: offline, or no Hub token (a token without access shows when it is loaded)."""
    hub_id = _hub_id(name, spec)
    if hub_id is None or not any(k.get("gated") and k["path"] == hub_id for k in KNOWN_BENCHMARKS.values()):
        return None
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        why = "this machine is offline (HF_HUB_OFFLINE)"
    elif get_token() is None:
        why = "no Hub token is set (HF_TOKEN or `hf auth login`, after accepting its terms on the Hub)"
    else:
        return None
    return f"benchmark {name}: {hub_id} is gated on the Hub and {why}; {_skip_hint(name)}"


def benchmark_rows(name: str, spec: str, domain: str) -> list[dict]:
    """The raw rows of one benchmark (a known name's Hub dataset when ``spec`` is ``default`` or its
    Hub id; else a local file or any Hub id); unreadable lines are skipped. Raises ``ConfigError``
    (one line, naming the benchmark) when it cannot be read."""
    path = spec.partition("#")[0]
    if path == "demo":  # the embedded demo benchmark (a few items overlapping the demo set)
        path = str(DEMO_DIR / f"{domain}_demo_benchmark.jsonl")
    known = KNOWN_BENCHMARKS.get(name, {})
    subset = split = None
    if known and path in (known["path"], "default", ""):
        path, subset, split = known["path"], known.get("subset"), known.get("split")
    try:
        src = resolve_source(SourceConfig(path=path, subset=subset, split=split or "train"), domain)
        rows = [row for row in iter_rows(src) if not isinstance(row, BadRow)]
    except ConfigError as exc:
        raise ConfigError([f"benchmark {name}: {p.removeprefix('source: ')}; {_skip_hint(name)}"
                           for p in exc.problems]) from None
    if not rows:
        raise ConfigError([f"benchmark {name}: {path} holds no items"])
    return rows


def load_benchmark(name: str, spec: str, domain: str) -> list[str]:
    """The item texts of one benchmark; raises ``ConfigError`` (one line) when it cannot be read."""
    path, _, field = spec.partition("#")
    known = KNOWN_BENCHMARKS.get(name)
    if not field and known and path in (known["path"], "default", ""):
        field = known["field"]
    texts: list[str] = []
    for row in benchmark_rows(name, spec, domain):
        key = field or next((f for f in TEXT_FIELDS if isinstance(row.get(f), str)), None)
        if key is None or not isinstance(row.get(key), str):
            raise ConfigError([f"benchmark {name}: no text field in {path} (give it as {name}={path}#FIELD)"])
        texts.append(row[key])
    return texts
