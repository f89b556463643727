"""Curation: problems -> teacher samples -> verified, deduplicated SFT shards with a card.

Public surface, by role (each name is imported from its module on first use, PEP 562, so
``from curation import setting`` loads the settings kernel alone: no polars, pyarrow, rich, pipeline
or teacher clients):

- settings kernel, shared by every command: ``setting``, ``Flags``, ``registry_choice``,
  ``set_fields``, ``coerce_setting``, ``leaf_type``, ``load_mapping``, ``load_yaml``, ``parse_pairs``,
  ``ConfigError``, ``fail``, ``ref_problem``, ``looks_like_hub_id``, ``require``, ``MissingExtra``;
- domains: ``DOMAINS``, ``Domain``, ``register_domain``, ``get_domain``, the reference builders
  (``math_reference``, ...) and the verifier entries a new domain may reuse (``verify_math_answers``,
  ...); records: ``Problem``, ``Malformed``, ``problem_id``, ``exact_dedup_key``;
- the curate config: ``CurateConfig``, ``TeacherConfig``, ``VerifyConfig``, ``parse_config``,
  ``build_config``, ``prepare``, ``read_recipe_yaml``, ``with_demo``, ``RECIPES_DIR``, ``PRESETS``;
- running and its parts, for use without the CLI: ``run_curation``, ``TeacherFailed``, ``AnswersPending``,
  ``run_part``, ``PartResult``, ``RunReport``, ``StageResult``, ``split_by_reason``, ``Funnel``, ``SAMPLE_SCHEMA``,
  ``verify_responses``, ``ResponseLog``, ``exact_duplicates``, ``find_near_duplicates``,
  ``find_contaminated``, ``KNOWN_BENCHMARKS``, ``benchmark_rows``; ``RunProgress`` (progress bars on a
  terminal, plain lines in a log file, for every long command).

The subpackages hold the rest, by role: ``sources``, ``stages``, ``dedup``, ``teachers``, ``run``,
``output``, ``dry_run`` (see docs/architecture.md).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "curation.settings": ("ConfigError", "Flags", "coerce_setting", "fail", "leaf_type", "load_mapping", "load_yaml",
                          "looks_like_hub_id", "parse_pairs", "ref_problem", "registry_choice", "set_fields",
                          "setting"),
    "curation.optional": ("MissingExtra", "require"),
    "curation.domains": ("DOMAINS", "Domain", "code_reference", "get_domain", "math_reference", "register_domain",
                         "science_reference", "verify_choices", "verify_math_answers", "verify_programs"),
    "curation.records": ("Malformed", "Problem", "exact_dedup_key", "problem_id"),
    "curation.config": ("RECIPES_DIR", "CurateConfig", "TeacherConfig", "VerifyConfig", "parse_config",
                        "read_recipe_yaml", "with_demo"),
    "curation.checks": ("build_config", "prepare"),
    "curation.sources": ("KNOWN_BENCHMARKS", "PRESETS", "benchmark_rows"),
    "curation.run": ("AnswersPending", "PartResult", "TeacherFailed", "run_curation", "run_part"),
    "curation.output": ("RunReport",),
    "curation.stages": ("Funnel", "StageResult", "split_by_reason", "verify_responses"),
    "curation.teachers": ("SAMPLE_SCHEMA", "ResponseLog"),
    "curation.dedup": ("exact_duplicates", "find_contaminated", "find_near_duplicates"),
    "curation.progress": ("RunProgress",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'curation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
