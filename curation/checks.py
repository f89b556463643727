"""Checks of a curation config against the world outside it: the domain, preset and teacher
registries, model folders, the source files and local benchmark files.

``prepare`` is the one place a recipe becomes a runnable config: types and ranges
(``curation.config``), then these checks, with every problem reported together, and the
source resolved once (the run uses that resolution instead of resolving it again).
"""

from __future__ import annotations

from typing import Any

from curation.config import CurateConfig, parse_config
from curation.domains import DOMAINS, domain_names
from curation.settings import ConfigError, ref_problem
from curation.sources.benchmarks import access_problem, check_local_benchmark
from curation.sources.rows import PRESETS, ResolvedSource, resolve_source
from curation.teachers.registry import TEACHERS, live_teachers


def registry_problems(cfg: CurateConfig) -> list[str]:
    """Names that must be registry keys, and model references that must exist or be Hub ids."""
    p: list[str] = []
    if cfg.domain not in DOMAINS:
        p.append(f"domain: must be {domain_names()}, got {cfg.domain!r}")
    if cfg.source.preset is not None and cfg.source.preset not in PRESETS:
        p.append(f"source.preset: unknown preset {cfg.source.preset!r} (known: {', '.join(sorted(PRESETS))})")
    t = cfg.teacher
    if t.backend not in TEACHERS:
        p.append(f"teacher.backend: unknown teacher {t.backend!r} (known: {', '.join(sorted(TEACHERS))})")
    if t.backend in ("hf", "vllm") and isinstance(t.model, str) and (problem := ref_problem(t.model, "teacher.model")):
        p.append(problem)
    from curation.stages.decontam_judge import RETRIEVERS

    if cfg.decontaminate.retrieval not in RETRIEVERS:
        p.append(f"decontaminate.retrieval: must be one of {', '.join(RETRIEVERS)}, got "
                 f"{cfg.decontaminate.retrieval!r}")
    j = cfg.judge
    if j.backend != "none" and j.backend not in live_teachers():
        live = ", ".join(sorted(live_teachers()))
        p.append(f"judge.backend: must be none or a live teacher ({live}), got {j.backend!r}")
    return p


def prepare(recipe: dict, overrides: dict[str, Any] | None = None, *, origin: str = "recipe",
            check_source: bool = True) -> tuple[CurateConfig, ResolvedSource | None]:
    """Recipe + overrides -> ``(config, resolved source)``; raises ``ConfigError`` listing every
    problem, including a source file that is not there (``check_source``; Hub ids are only
    checked when the run loads them)."""
    cfg, problems = parse_config(recipe, overrides, origin=origin)
    problems += registry_problems(cfg)
    source = None
    if check_source and not any(p.startswith(("source", f"{origin}: source", "domain")) for p in problems):
        try:
            source = resolve_source(cfg.source, cfg.domain)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if check_source and cfg.decontaminate.enabled:
        for name, spec in sorted(cfg.decontaminate.benchmarks.items()):
            if name not in cfg.decontaminate.skip:
                problems.extend(check_local_benchmark(name, spec))
                problems.extend(filter(None, [access_problem(name, spec)]))
    if problems:
        raise ConfigError(problems)
    return cfg, source


def build_config(recipe: dict, overrides: dict[str, Any] | None = None, *, origin: str = "recipe",
                 check_source: bool = True) -> CurateConfig:
    """Recipe mapping + ``{"section.name": value}`` overrides -> validated ``CurateConfig``."""
    return prepare(recipe, overrides, origin=origin, check_source=check_source)[0]
