"""Record contracts: Problem (a sample is a row of ``curation.teachers.SAMPLE_SCHEMA``), their
ids and the text normalisations behind them, and ``Malformed`` (why a source row cannot become a
problem). Plain Python: the domain registry imports it, and commands that only read the registry
must not load the data frame libraries (the frame schemas are ``curation.stages.contract``'s)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

_WS = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    return _WS.sub(" ", text).strip()


def problem_id(domain: str, problem: str) -> str:
    """Stable id: hash of the domain and the whitespace-normalised problem text."""
    key = f"{domain}\n{normalize_whitespace(problem)}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


_DEDUP_STRIP = re.compile(r"[\s.,;:!?'\"`]+")


def exact_dedup_key(problem: str) -> str:
    """Normalisation for exact deduplication: unicode NFKC, case-folded, punctuation-blind."""
    text = unicodedata.normalize("NFKC", problem).casefold()
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("$", "")
    return hashlib.sha256(_DEDUP_STRIP.sub(" ", text).strip().encode()).hexdigest()


def sample_id(pid: str, index: int) -> str:
    return f"{pid}-{index}"


@dataclass
class Problem:
    problem_id: str
    domain: str
    source: str
    problem: str
    reference: str  # gold answer (math), JSON of tests (code) or of choices+answer (science)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict:
        row = asdict(self)
        row["metadata"] = json.dumps(self.metadata, sort_keys=True, default=str)
        return row


class Malformed(ValueError):
    """A source row that cannot become a problem: ``reason`` is the rejected row's reason code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
