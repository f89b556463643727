"""Curation: problems -> teacher samples -> verified, deduplicated SFT shards with a card.

Public surface:
- the domain registry (``Domain``, ``DOMAINS``, ``register_domain``, ``get_domain`` and the
  built-in reference builders and batch verifiers a new domain may reuse);
- the config (``CurateConfig`` and its sections, ``build_config``, ``prepare``, ``load_recipe``)
  and the typed-settings kernel every command shares (``setting``, ``Flags``, ``set_fields``,
  ``load_mapping``, ``parse_pairs``, ``ConfigError``, ``fail``, ``ref_problem``, ``require``);
- the record contracts (``Problem``, ``SAMPLE_SCHEMA``, ``Malformed``) and the stage contract
  (``StageResult``, ``split_by_reason``, ``Funnel``);
- the run (``run_curation``, ``run_part``) and ``find_near_duplicates`` / ``find_contaminated`` /
  ``verify_responses`` for use without the CLI.
"""

from curation.checks import build_config, prepare
from curation.config import (
    RECIPES_DIR,
    CurateConfig,
    TeacherConfig,
    VerifyConfig,
    load_recipe,
    parse_config,
    with_demo,
)
from curation.dedup.decontaminate import find_contaminated
from curation.dedup.exact import exact_duplicates
from curation.dedup.minhash import find_near_duplicates
from curation.domains import (
    DOMAINS,
    Domain,
    code_reference,
    get_domain,
    math_reference,
    register_domain,
    science_reference,
    verify_choices,
    verify_math_answers,
    verify_programs,
)
from curation.optional import MissingExtra, require
from curation.output.report import RunReport
from curation.records import Malformed, Problem, exact_dedup_key, problem_id
from curation.run.part_work import PartResult, run_part
from curation.run.pipeline import TeacherFailed, run_curation
from curation.settings import (
    ConfigError,
    Flags,
    coerce_setting,
    fail,
    leaf_type,
    load_mapping,
    load_yaml,
    looks_like_hub_id,
    parse_pairs,
    ref_problem,
    registry_choice,
    set_fields,
    setting,
)
from curation.sources.benchmarks import KNOWN_BENCHMARKS, benchmark_rows
from curation.sources.rows import PRESETS
from curation.stages.contract import Funnel, StageResult, split_by_reason
from curation.stages.verify import verify_responses
from curation.teachers import SAMPLE_SCHEMA
from curation.teachers.response_log import ResponseLog

__all__ = [
    "DOMAINS", "Domain", "register_domain", "get_domain", "math_reference", "code_reference", "science_reference",
    "verify_math_answers", "verify_programs", "verify_choices",
    "ConfigError", "CurateConfig", "TeacherConfig", "VerifyConfig", "build_config", "prepare", "parse_config",
    "load_recipe", "with_demo", "RECIPES_DIR",
    "setting", "Flags", "registry_choice", "set_fields", "coerce_setting", "leaf_type", "load_mapping", "load_yaml",
    "parse_pairs", "fail", "ref_problem", "looks_like_hub_id", "require", "MissingExtra",
    "run_curation", "TeacherFailed", "RunReport", "run_part", "PartResult", "Problem", "Malformed", "SAMPLE_SCHEMA",
    "problem_id",
    "exact_dedup_key", "exact_duplicates", "PRESETS", "Funnel", "StageResult", "split_by_reason",
    "find_near_duplicates", "find_contaminated", "verify_responses", "ResponseLog", "KNOWN_BENCHMARKS",
    "benchmark_rows",
]
