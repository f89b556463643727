"""The verdict: what every verifier returns, never raises."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking one response.

    ``passed`` is ``True``/``False`` when the verifier could decide and ``None`` when it could
    not (unparseable gold, timeout, infrastructure failure). ``reason`` is a short stable code
    such as ``correct``, ``wrong_answer``, ``no_answer``, ``timeout``, ``unparseable_gold``.
    Infrastructure failures are never reported as a wrong answer.
    """

    passed: bool | None
    reason: str
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)
