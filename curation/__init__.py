"""Curation: problems -> teacher samples -> verified, deduplicated SFT shards with a card.

Public surface: the config (``CurateConfig``, ``build_config``, ``load_recipe``), the record
contracts (``Problem``, ``SAMPLE_SCHEMA``), the run (``run_curation``), the stage helpers, and
``find_near_duplicates`` / ``find_contaminated`` for use without the CLI.
"""

from curation.benchmarks import KNOWN_BENCHMARKS, benchmark_rows
from curation.config import ConfigError, CurateConfig, build_config, load_recipe, recipe_path
from curation.decontaminate import find_contaminated
from curation.exact_dedup import exact_duplicates
from curation.minhash import find_near_duplicates
from curation.pipeline import run_curation
from curation.records import Problem, exact_dedup_key, problem_id
from curation.rounds import ResponseLog
from curation.sources import PRESETS
from curation.stages import Funnel, StageResult, split_by_reason
from curation.teachers import SAMPLE_SCHEMA
from curation.verify_stage import verify_responses

__all__ = [
    "ConfigError", "CurateConfig", "build_config", "load_recipe", "recipe_path", "run_curation", "Problem",
    "SAMPLE_SCHEMA", "problem_id", "exact_dedup_key", "exact_duplicates", "PRESETS", "Funnel", "StageResult",
    "split_by_reason", "find_near_duplicates", "find_contaminated", "verify_responses", "ResponseLog",
    "KNOWN_BENCHMARKS", "benchmark_rows",
]
