"""Verify stage: attach a verdict to every sample; keep the passed ones. ``format_and_verify``: the
format filters, then the verify stage over what they kept (what every part and round runs).

It is two steps, so that the CPU work can run where the executor puts it and the LLM judge where
the run keeps its log (the driver): ``grade`` (format filters and the verifier's verdicts, pure)
and ``settle`` (the judge for what the verifier could not decide, then keep or reject).

Which verifier grades a domain is its registry entry's (``curation.domains``). Samples the
verifier could not decide (``passed=None``) are kept only when the recipe says so
(``verify.keep_unverified``); otherwise they are rejected with the verdict's own reason
(``timeout``, ``unparseable_gold``, ...), never counted as wrong answers.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import polars as pl

from curation.config import CurateConfig, VerifyConfig
from curation.domains import get_domain
from curation.stages.contract import VERDICT_STRUCT, StageResult, split_by_reason, timed
from curation.stages.format_filters import LengthCounter, format_stage
from verifiers import Verdict

# Verdict reasons that mean the infrastructure failed: never kept, whatever keep_unverified says.
INFRASTRUCTURE_FAILURES = {"SE", "verifier_error"}


def verify_responses(domain: str, responses: list[str], references: list[str], cfg: VerifyConfig | None = None,
                     workers: int | None = None) -> list[Verdict]:
    """Verdicts for responses against serialized references, with the curation verifiers (code runs
    in the sandbox unless ``cfg.sandbox`` is False); ``evaluate`` grades with this too."""
    return get_domain(domain).verdicts(responses, references, cfg or VerifyConfig(sandbox=True), workers)


def verify_stage(samples: pl.DataFrame, domain: str, cfg: VerifyConfig, workers: int | None,
                 judge=None) -> StageResult:
    """Verdicts from the domain's verifier (and, for those it could not decide, the LLM ``judge``
    when the run has one: ``curation.stages.llm_judge``)."""
    verdicts = get_domain(domain).verdicts(samples["response"].to_list(), samples["reference"].to_list(), cfg,
                                           workers)
    return decide(samples, verdicts, domain, cfg, judge)


def decide(samples: pl.DataFrame, verdicts: list[Verdict], domain: str, cfg: VerifyConfig,
           judge=None) -> StageResult:
    """The verify stage from the verifier's ``verdicts`` of ``samples``: those it could not decide
    go to the LLM ``judge`` first, if the run has one; then each sample is kept or rejected. Its
    ``info`` counts the outcomes a pass rate may count (``verdict_outcome``), per problem too."""
    if judge is not None and samples.height:
        verdicts = judge.rejudge(samples["sample_id"].to_list(), samples["problem"].to_list(),
                                 samples["response"].to_list(), samples["reference"].to_list(), verdicts)
    frame = samples.with_columns(pl.Series("verdict", [v.to_dict() for v in verdicts], dtype=VERDICT_STRUCT))
    verifier = get_domain(domain).verify
    by_row: dict[int, Counter] = defaultdict(Counter)  # per problem: what a pass rate may count
    rows = samples["row_index"].to_list() if "row_index" in samples.columns else [0] * len(verdicts)
    for row, v in zip(rows, verdicts, strict=True):
        by_row[row][verdict_outcome(verifier, v)] += 1
    reasons: list[str | None] = []
    for v in verdicts:
        if v.passed is True or (v.passed is None and cfg.keep_unverified and v.reason not in INFRASTRUCTURE_FAILURES):
            reasons.append(None)
        else:
            reasons.append(v.reason)
    return split_by_reason(frame, "verify", reasons, [v.detail for v in verdicts],
                           info={"verdicts": sum(by_row.values(), Counter()), "by_row": dict(by_row)})


def verdict_outcome(verifier, verdict: Verdict) -> str:
    """``passed``, ``failed`` (checked by the verifier: ``Verifier.checked``) or ``unchecked:REASON``."""
    if verifier.checked(verdict):
        return "passed" if verdict.passed else "failed"
    return f"unchecked:{verdict.reason}"


@dataclass
class Graded:
    """The format filters' result and the verifier's verdicts over the samples they kept: the pure
    CPU work of a check (what a Ray worker returns), before the LLM judge."""
    fmt: StageResult
    verdicts: list[Verdict]
    seconds: float  # the verifier's wall time


def grade(samples: pl.DataFrame, cfg: CurateConfig, lengths: LengthCounter) -> Graded:
    """The format filters, then the domain's verifier over what they kept."""
    fmt = timed(format_stage, samples, cfg.filters, lengths)
    t0 = time.perf_counter()
    verdicts = get_domain(cfg.domain).verdicts(fmt.kept["response"].to_list(), fmt.kept["reference"].to_list(),
                                               cfg.verify, cfg.output.workers)
    return Graded(fmt, verdicts, time.perf_counter() - t0)


def settle(graded: Graded, cfg: CurateConfig, judge=None) -> list[StageResult]:
    """``[format, verify]`` from a ``grade``: the run's LLM ``judge`` (if any) for what the verifier
    could not decide, then keep or reject."""
    ver = timed(decide, graded.fmt.kept, graded.verdicts, cfg.domain, cfg.verify, judge)
    ver.seconds += graded.seconds
    return [graded.fmt, ver]


def format_and_verify(samples: pl.DataFrame, cfg: CurateConfig, lengths: LengthCounter,
                      judge=None) -> list[StageResult]:
    """The format filters, then the verifier (and the run's LLM judge, if any) over what they kept."""
    return settle(grade(samples, cfg, lengths), cfg, judge)
