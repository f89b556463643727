"""What a live teacher was asked and answered for one part: typed, and the form its part marker
and the report read (``PartGeneration.to_dict`` / ``from_dict``); and what answers cost (``Prices``).

Every answer a part used is counted by where it came from (``ORIGINS``): received from the teacher
(``live``), read from a batch output file by this run (``batch``: ``--import-responses``, ``--batch``),
or served from the response store, paid for by an earlier run (``reused_live``, ``reused_batch``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from curation.config import CostConfig

ROUND_KEYS = ("problems", "requests", "sent", "answered", "verified")
ORIGINS = ("live", "batch", "reused_live", "reused_batch")


@dataclass(frozen=True)
class Prices:
    """USD per million prompt and completion tokens; batch answers cost ``batch_factor`` of that."""

    input: float = 0.0
    output: float = 0.0
    batch_factor: float = 1.0

    @classmethod
    def of(cls, cost: CostConfig) -> Prices | None:
        """The run's prices (``--price-input``, ``--price-output``), or None when it has none."""
        if not cost.priced:
            return None
        return cls(cost.price_input or 0.0, cost.price_output or 0.0, cost.batch_factor)

    def usd(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        cost = (prompt_tokens * self.input + completion_tokens * self.output) / 1e6
        return cost * self.batch_factor if batch else cost


@dataclass
class PartGeneration:
    requests: int = 0  # samples asked for (those answered from the response store included)
    sent: int = 0  # requests sent to the teacher
    answered: int = 0
    failed: Counter = field(default_factory=Counter)  # final failures by kind (http_429, timeout, ...)
    retried: Counter = field(default_factory=Counter)  # retries by kind
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_errors: dict[str, str] = field(default_factory=dict)  # the server's words, first of each kind
    duplicate_responses: int = 0  # answers that repeat another to the same problem word for word
    first_sent: float | None = None  # time of the first request sent, of the last answer
    last_answer: float | None = None
    rounds: dict[int, Counter] = field(default_factory=dict)  # round -> problems, requests, sent, answered, verified
    reused: int = 0  # answers served from the response store (paid for by an earlier run)
    imported: int = 0  # answers read from batch output files by this run
    tokens: dict[str, list[int]] = field(default_factory=dict)  # origin -> [answers, prompt, completion tokens]

    def count(self, origin: str, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """One answer used, by its origin (``ORIGINS``)."""
        t = self.tokens.setdefault(origin, [0, 0, 0])
        t[0] += 1
        t[1] += prompt_tokens or 0
        t[2] += completion_tokens or 0

    def round(self, r: int) -> Counter:
        return self.rounds.setdefault(r, Counter())

    @property
    def teacher_seconds(self) -> float:
        """From the first request sent to the last answer."""
        return (self.last_answer - self.first_sent) if self.first_sent and self.last_answer else 0.0

    def to_dict(self) -> dict:
        return {"requests": self.requests, "sent": self.sent, "answered": self.answered, "failed": dict(self.failed),
                "retried": dict(self.retried), "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "first_errors": self.first_errors,
                "duplicate_responses": self.duplicate_responses, "teacher_seconds": self.teacher_seconds,
                "reused": self.reused, "imported": self.imported, "tokens": self.tokens,
                "span": [self.first_sent, self.last_answer],
                "rounds": [{"round": r, **{k: c[k] for k in ROUND_KEYS}} for r, c in sorted(self.rounds.items())]}

    @classmethod
    def from_dict(cls, d: dict) -> PartGeneration:
        first_sent, last_answer = d.get("span") or (None, None)
        return cls(d["requests"], d["sent"], d["answered"], Counter(d["failed"]), Counter(d["retried"]),
                   d["prompt_tokens"], d["completion_tokens"], dict(d.get("first_errors") or {}),
                   d.get("duplicate_responses", 0), first_sent, last_answer,
                   {r["round"]: Counter({k: v for k, v in r.items() if k != "round"}) for r in d["rounds"]},
                   d.get("reused", 0), d.get("imported", 0),
                   # parts finished before the origins were counted: their tokens as received
                   d.get("tokens") or ({"live": [d["answered"], d["prompt_tokens"], d["completion_tokens"]]}
                                       if d["answered"] else {}))
