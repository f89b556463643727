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


# Domain -> batch verifier. Later domains add theirs.
DOMAIN_VERIFIERS: dict[str, Callable[..., list[Verdict]]] = {"math": _verify_math}


def verify_stage(samples: pl.DataFrame, domain: str, cfg: VerifyConfig, workers: int | None) -> StageResult:
    verdicts = DOMAIN_VERIFIERS[domain](samples["response"].to_list(), samples["reference"].to_list(), cfg, workers)
    frame = samples.with_columns(pl.Series("verdict", [v.to_dict() for v in verdicts], dtype=VERDICT_STRUCT))
    reasons: list[str | None] = []
    for v in verdicts:
        if v.passed is True or (v.passed is None and cfg.keep_unverified):
            reasons.append(None)
        else:
            reasons.append(v.reason)
    return split_by_reason(frame, "verify", reasons, [v.detail for v in verdicts])
