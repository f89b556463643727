"""Where rows come from: local files (JSONL, JSON, Parquet) and Hub datasets read in fixed parts,
the named presets with their field mappings (``rows``), and the benchmark sets that
decontamination and ``evaluate`` read (``benchmarks``)."""

from curation.sources.benchmarks import KNOWN_BENCHMARKS, benchmark_rows, check_local_benchmark, load_benchmark
from curation.sources.rows import DEMO_DIR, PRESETS, BadRow, ResolvedSource, iter_parts, iter_rows, resolve_source

__all__ = ["KNOWN_BENCHMARKS", "benchmark_rows", "check_local_benchmark", "load_benchmark", "DEMO_DIR", "PRESETS",
           "BadRow", "ResolvedSource", "iter_parts", "iter_rows", "resolve_source"]
