"""Published files: Parquet shards (train and rejected, content-hashed names), report and recipe."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import yaml

from curation.stages.contract import PUBLISHED_VERDICT, published_verdict
from curation.teachers.samples import GENERATION_STRUCT, TEACHER_STRUCT
from curation.workdir import atomic_write_bytes

MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
TRAIN_SCHEMA = {
    "messages": MESSAGES, "id": pl.String, "problem_id": pl.String, "domain": pl.String, "source": pl.String,
    "reference": pl.String, "verdict": PUBLISHED_VERDICT, "teacher": TEACHER_STRUCT, "generation": GENERATION_STRUCT,
    "finish_reason": pl.String, "num_tokens": pl.Int64, "num_chars": pl.Int64,
}


def to_train(samples: pl.DataFrame, unit: str) -> pl.DataFrame:
    """Kept samples -> published train rows (``messages`` + provenance columns)."""
    if samples.height == 0:
        return pl.DataFrame(schema=TRAIN_SCHEMA)
    return samples.select(
        pl.concat_list(
            pl.struct(pl.lit("user").alias("role"), pl.col("problem").alias("content")),
            pl.struct(pl.lit("assistant").alias("role"), pl.col("response").alias("content")),
        ).alias("messages"),
        pl.col("sample_id").alias("id"), "problem_id", "domain", "source", "reference", published_verdict(),
        "teacher", "generation", "finish_reason",
        (pl.col("length") if unit == "tokens" else pl.lit(None, dtype=pl.Int64)).alias("num_tokens"),
        pl.col("response").str.len_chars().cast(pl.Int64).alias("num_chars"),
    ).cast(TRAIN_SCHEMA)


def write_shards(frames: Iterable[pl.DataFrame], total: int, shard_rows: int, folder: Path, prefix: str,
                 schema: dict) -> list[str]:
    """Stream frames into ``folder/prefix-0000i-of-0000N-<hash>.parquet``; always at least one shard.

    The suffix is a hash of the shard's bytes: identical rows give identical names (an
    unchanged re-run changes nothing), and changed rows give new names, which is what makes
    ``datasets.load_dataset(folder)`` see them instead of its cached copy of the old ones.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    n_shards = max(1, math.ceil(total / shard_rows))
    names: list[str] = []
    buffer: list[pl.DataFrame] = []
    buffered = 0
    shard = 0

    def flush(frame: pl.DataFrame) -> None:
        nonlocal shard
        tmp = folder / f".{prefix}-{shard:05d}.tmp"
        if frame.height:
            pq.write_table(frame.to_arrow(), tmp, compression="zstd")
        else:
            _write_schema_only(frame, tmp)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:12]
        names.append(f"{prefix}-{shard:05d}-of-{n_shards:05d}-{digest}.parquet")
        tmp.rename(folder / names[-1])
        shard += 1

    for frame in frames:
        buffer.append(frame)
        buffered += frame.height
        while buffered >= shard_rows and shard < n_shards - 1:
            merged = pl.concat(buffer)
            flush(merged.head(shard_rows))
            rest = merged.slice(shard_rows)
            buffer, buffered = [rest], rest.height
    merged = pl.concat(buffer) if buffer else pl.DataFrame(schema=schema)
    flush(merged if merged.height else pl.DataFrame(schema=schema))
    if shard != n_shards:
        raise RuntimeError(f"wrote {shard} {prefix} shards, expected {n_shards}")
    return [f"{folder.name}/{n}" for n in names]


def _write_schema_only(frame: pl.DataFrame, path: Path) -> None:
    """A Parquet file with the schema and no row group. ``write_table`` of an empty table writes
    one row group of zero rows, which ``datasets`` reads with ``batch_size=0`` and fails on
    (``ArrowInvalid: BatchSize must be greater than 0``); with no row group it reads no batch."""
    pq.ParquetWriter(path, frame.to_arrow().schema, compression="zstd").close()


def write_recipe(out_dir: Path, recipe: dict) -> None:
    atomic_write_bytes(out_dir / "recipe.yaml", yaml.safe_dump(recipe, sort_keys=False).encode())


def write_report(out_dir: Path, report: dict) -> None:
    atomic_write_bytes(out_dir / "report.json", json.dumps(report, indent=2, default=str).encode())
