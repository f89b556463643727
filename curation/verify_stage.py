"""Verify stage: attach a verdict to every sample; keep the passed ones.

Samples the verifier could not decide (``passed=None``) are kept only when the recipe says so
(``verify.keep_unverified``); otherwise they are rejected with the verdict's own reason
(``timeout``, ``unparseable_gold``, ...), never counted as wrong answers.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from curation.config import VerifyConfig
from curation.stages import StageResult, split_by_reason
from verifiers import Verdict

VERDICT_STRUCT = pl.Struct({"passed": pl.Boolean, "reason": pl.String, "detail": pl.String,
                            "seconds": pl.Float64})


def _verify_math(responses: list[str], references: list[str], cfg: VerifyConfig, workers: int | None) -> list[Verdict]:
    from verifiers.math import verify_many

    return verify_many(zip(responses, references, strict=True), workers=workers, timeout_s=cfg.timeout_s)


def _static_code_check(code: str) -> Verdict:
    import ast

    if len(code) > 200_000:
        return Verdict(None, "not_executed", "too long for the static check")
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return Verdict(False, "CE", f"{type(exc).__name__}: {exc}"[:300])
    return Verdict(None, "not_executed", "code parses; run with --sandbox to execute it")


def _verify_code(responses: list[str], references: list[str], cfg: VerifyConfig, workers: int | None) -> list[Verdict]:
    from verifiers.code import Limits, extract_code_block, judge_many

    verdicts: list[Verdict | None] = [None] * len(responses)
    jobs, where = [], []
    limits = Limits(wall_s=cfg.code_wall_s, cpu_s=max(1, int(cfg.code_wall_s)), memory_mb=cfg.code_memory_mb)
    for i, (response, tests) in enumerate(zip(responses, references, strict=True)):
        found = extract_code_block(response)
        if found is None:
            verdicts[i] = Verdict(False, "no_code", "no fenced code block after </think>")
            continue
        code, language = found
        language = language or "python"
        if language not in ("python", "cpp"):
            verdicts[i] = Verdict(None, "unsupported_language", language)
        elif not cfg.sandbox:
            verdicts[i] = _static_code_check(code) if language == "python" else Verdict(None, "not_executed", "")
        else:
            jobs.append({"code": code, "tests": tests, "language": language, "limits": limits})
            where.append(i)
    for i, verdict in zip(where, judge_many(jobs, workers=workers), strict=True):
        verdicts[i] = verdict
    return verdicts  # type: ignore[return-value]


def _verify_science(responses: list[str], references: list[str], cfg: VerifyConfig,
                    workers: int | None) -> list[Verdict]:
    import json

    from verifiers.science import verify_many

    refs = [json.loads(r) for r in references]
    return verify_many([(resp, ref["answer"], ref.get("choices")) for resp, ref in zip(responses, refs, strict=True)],
                       workers=workers, timeout_s=cfg.timeout_s)


# Domain -> batch verifier. Later domains add theirs.
DOMAIN_VERIFIERS: dict[str, Callable[..., list[Verdict]]] = {"math": _verify_math, "code": _verify_code,
                                                             "science": _verify_science}
# Verdict reasons that mean the infrastructure failed: never kept, whatever keep_unverified says.
INFRASTRUCTURE_FAILURES = {"SE", "verifier_error"}


def verify_responses(domain: str, responses: list[str], references: list[str], cfg: VerifyConfig | None = None,
                     workers: int | None = None) -> list[Verdict]:
    """Verdicts for responses against serialized references, with the curation verifiers (code runs
    in the sandbox unless ``cfg.sandbox`` is False); ``evaluate`` grades with this too."""
    return DOMAIN_VERIFIERS[domain](responses, references, cfg or VerifyConfig(sandbox=True), workers)


def verify_stage(samples: pl.DataFrame, domain: str, cfg: VerifyConfig, workers: int | None) -> StageResult:
    verdicts = DOMAIN_VERIFIERS[domain](samples["response"].to_list(), samples["reference"].to_list(), cfg, workers)
    frame = samples.with_columns(pl.Series("verdict", [v.to_dict() for v in verdicts], dtype=VERDICT_STRUCT))
    reasons: list[str | None] = []
    for v in verdicts:
        if v.passed is True or (v.passed is None and cfg.keep_unverified and v.reason not in INFRASTRUCTURE_FAILURES):
            reasons.append(None)
        else:
            reasons.append(v.reason)
    return split_by_reason(frame, "verify", reasons, [v.detail for v in verdicts])
