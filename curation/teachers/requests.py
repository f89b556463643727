"""What a live teacher is asked and what it answers: ``GenRequest`` in, ``Completion`` out.

Every request carries its own seed, derived from the run's base seed, the problem id and the
sample index, so a resumed run asks for exactly the samples an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from curation.domains import get_domain


@dataclass(frozen=True)
class GenRequest:
    problem_id: str
    sample_index: int
    prompt: str
    seed: int
    round: int = 1

    @property
    def key(self) -> tuple[str, int]:
        return self.problem_id, self.sample_index


@dataclass
class Completion:
    """One request's outcome. ``error`` is None for an answer, else a stable kind (``http_429``,
    ``http_500``, ``timeout``, ``connection_error``, ``bad_response``, ...) after retries ran out."""

    problem_id: str
    sample_index: int
    round: int
    seed: int
    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    detail: str = ""
    attempts: int = 1
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def sample_seed(base: int | None, problem_id: str, index: int) -> int:
    """A 31-bit seed, stable across runs and machines."""
    digest = hashlib.sha256(f"{base or 0}:{problem_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def build_prompt(domain: str, problem: str, reference: str, template: str | None = None) -> str:
    """The user message: the problem as the domain shows it (science: with its lettered options)
    in the prompt template (default: the domain's)."""
    d = get_domain(domain)
    return (template or d.prompt).replace("{problem}", d.render_problem(problem, reference))


def render_chat(tokenizer, prompt: str) -> str:
    """The prompt as one user turn in the model's chat template (plain text when it has none)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt
