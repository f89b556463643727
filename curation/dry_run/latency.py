"""A scripted request's delay: fixed, or heavy-tailed (lognormal, capped) and drawn from a hash of
the request, so every run of a test or benchmark sees the same delays."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist

LATENCY_FORMS = "fixed:MS or lognormal:MEDIAN_MS,SIGMA,CAP_MS"


@dataclass(frozen=True)
class Latency:
    """A request's delay: fixed (sigma 0), or lognormal with this median, capped."""

    median_s: float = 0.0
    sigma: float = 0.0
    cap_s: float = math.inf

    @classmethod
    def parse(cls, text: str) -> Latency:
        kind, _, params = text.partition(":")
        try:
            v = [float(x) for x in params.split(",")]
        except ValueError:
            v = []
        if kind == "fixed" and len(v) == 1 and v[0] >= 0:
            return cls(v[0] / 1000)
        if kind == "lognormal" and len(v) == 3 and v[0] > 0 and v[1] >= 0 and v[2] > 0:
            return cls(v[0] / 1000, v[1], v[2] / 1000)
        raise ValueError(f"latency {text!r}: expected {LATENCY_FORMS}")

    def draw(self, seed: int, prompt: str, attempt: int) -> float:
        """Seconds to wait; a hash of the request, not a global RNG, so every run sees the same delays."""
        if not self.sigma:
            return min(self.median_s, self.cap_s)
        digest = hashlib.sha256(f"latency\0{seed}\0{prompt}\0{attempt}".encode()).digest()
        u = (int.from_bytes(digest[:8], "little") + 0.5) / 2**64
        return min(self.median_s * math.exp(self.sigma * NormalDist().inv_cdf(u)), self.cap_s)
