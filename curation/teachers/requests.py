"""What a live teacher is asked and what it answers: ``GenRequest`` in, ``Completion`` out.

Every request carries its own seed, derived from the run's base seed, the problem id and the
sample index, so a resumed run asks for exactly the samples an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

DEFAULT_PROMPTS = {
    "math": "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.",
    "code": "{problem}\n\nSolve the problem in Python 3. Give the complete solution in a single ```python code "
            "block at the end of your answer.",
    "science": "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.",
}
LETTERS = "ABCDEFGHIJKLMNOP"


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
    """The user message: the problem (science: with its lettered options) in the prompt template."""
    text = problem
    if domain == "science":
        try:
            choices = json.loads(reference).get("choices")
        except (json.JSONDecodeError, AttributeError):
            choices = None
        if choices:
            text = problem.rstrip() + "\n\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return (template or DEFAULT_PROMPTS[domain]).replace("{problem}", text)


def render_chat(tokenizer, prompt: str) -> str:
    """The prompt as one user turn in the model's chat template (plain text when it has none)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt
