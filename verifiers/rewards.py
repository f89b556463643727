"""The verifiers as RL reward functions: TRL's ``GRPOTrainer`` convention and verl's reward hook.

``math_reward(completions, answer)``, ``science_reward(completions, answer, choices=None)``,
``code_reward(completions, tests)`` and ``think_format_reward(completions)`` take completions as
plain strings or as conversational message lists (TRL's two forms), dataset columns as keyword
arguments, and ignore every other keyword (``prompts``, ``completion_ids``, ``trainer_state``...).
Each returns one score per completion: 1.0 correct, 0.0 wrong, and ``None`` when the item cannot
be judged (unparseable gold, a verifier timeout, a sandbox error, ``AC_weak``). TRL skips a
``None``; an infrastructure failure never earns a reward and is never scored as a wrong answer.
``make_reward`` builds one over other column names, with a weight, and with partial credit for
programs (the fraction of tests passed). ``compute_score`` is verl's custom reward hook.

One call verifies its whole batch at once with the verifiers' hard deadlines (math and science
in the deadline worker pool, programs in parallel sandboxes), never raises for a bad
completion, and may be called from several threads at once: the math pool is shared by the
process and is not itself safe for concurrent callers, so calls take turns on it (each call
still uses every worker, and the pool is started and used from one long-lived thread).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from verifiers.reasoning import THINK_CLOSE, THINK_OPEN, THOUGHT_CLOSE, THOUGHT_OPEN, split_reasoning
from verifiers.registry import VERIFIERS, VerifyOptions
from verifiers.verdict import Verdict

__all__ = ["Reward", "make_reward", "math_reward", "science_reward", "code_reward", "think_format_reward",
           "completion_text", "compute_score", "reward_kinds"]


def reward_kinds() -> list[str]:
    """The verifier names ``make_reward`` accepts (``verifiers.VERIFIERS``: the built-in verifiers
    and every registered domain)."""
    return sorted(VERIFIERS)


# -- completions in TRL's two forms ------------------------------------------------------------

def _content_text(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


def completion_text(completion) -> str | None:
    """The text a verifier reads: a string as it is; for a message list, the last assistant
    message, with a reasoning field that a response parser split off (``reasoning_content``,
    ``thinking``) put back as a ``<think>`` block. None when there is no text."""
    if isinstance(completion, str):
        return completion
    messages = [completion] if isinstance(completion, dict) else completion
    if not isinstance(messages, (list, tuple)):
        return None
    message = next((m for m in reversed(messages) if isinstance(m, dict)
                    and m.get("role", "assistant") == "assistant"), None)
    if message is None:
        return None
    content = _content_text(message.get("content"))
    reasoning = message.get("reasoning_content") or message.get("thinking")
    if isinstance(reasoning, str) and reasoning.strip():
        return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{content or ''}"
    return content


# -- the reward objects ------------------------------------------------------------------------

class Reward:
    """A reward function in TRL's convention over one kind of verifier.

    A class rather than a closure so that it pickles (TRL may hand reward functions to a rollout
    process); ``__name__`` is what TRL logs the reward under.
    """

    def __init__(self, kind: str, *, column: str = "answer", weight: float = 1.0, partial_credit: bool = False,
                 name: str | None = None, timeout_s: float = 5.0, workers: int | None = None, limits=None,
                 extra_columns: dict[str, str] | None = None):
        verifier = VERIFIERS.get(kind)
        if verifier is None:
            raise ValueError(f"unknown reward kind {kind!r}; choose one of {', '.join(reward_kinds())}")
        if partial_credit and not verifier.runs_programs:
            raise ValueError("partial_credit applies to code rewards only (verifiers that run programs)")
        self.kind, self.column, self.weight, self.partial_credit = kind, column, float(weight), partial_credit
        self.timeout_s, self.workers, self.limits = timeout_s, workers, limits
        # the other columns a kind reads (science: choices), under the dataset's names
        self.extra_columns = {c: c for c in verifier.extra_columns} | dict(extra_columns or {})
        self.__name__ = name or f"{kind}_reward"

    def __repr__(self) -> str:
        return f"Reward({self.kind!r}, column={self.column!r}, weight={self.weight:g})"

    def verdicts(self, completions: Sequence, **columns) -> list[Verdict]:
        """The verdict behind each score (for logging and tests)."""
        if self.column not in columns:
            raise TypeError(f"{self.__name__} needs the dataset column {self.column!r} "
                            f"(got {', '.join(sorted(columns)) or 'none'})")
        golds = list(columns[self.column])
        if len(golds) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(golds)} values of {self.column!r}")
        extras = {ours: columns.get(theirs) for ours, theirs in self.extra_columns.items()}
        texts = [completion_text(c) for c in completions]
        return VERIFIERS[self.kind](texts, golds, extras, self.options())

    def options(self) -> VerifyOptions:
        # calls take turns on the math pool: a reward may be called from several threads at once
        return VerifyOptions(timeout_s=self.timeout_s, workers=self.workers, limits=self.limits,
                             partial_credit=self.partial_credit, pool_thread=True)

    def score(self, verdict: Verdict) -> float | None:
        if verdict.passed is None:
            return None
        if self.partial_credit and verdict.detail.startswith('{"tests_passed"'):
            counts = json.loads(verdict.detail)
            return self.weight * counts["tests_passed"] / counts["tests"]
        return self.weight * float(verdict.passed)

    def __call__(self, completions: Sequence, **kwargs) -> list[float | None]:
        verdicts = self.verdicts(completions, **kwargs)
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):  # TRL's completions table: why each completion got its score
            log_extra(f"{self.__name__}_reason", [v.reason for v in verdicts])
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and verdicts:
            log_metric(f"{self.__name__}/unjudged", sum(v.passed is None for v in verdicts) / len(verdicts))
        return [self.score(v) for v in verdicts]


def make_reward(domain: str, column: str = "answer", weight: float = 1.0, partial_credit: bool = False,
                **options) -> Reward:
    """A reward over the verifier ``domain`` (one of ``reward_kinds()``) reading the gold from
    ``column``. ``partial_credit`` (programs only): the fraction of tests passed instead of all or
    nothing. ``options``: ``name``, ``timeout_s`` (per answer sent to the math pool), ``workers``,
    ``limits`` (a ``verifiers.code.Limits``), ``extra_columns`` (e.g. ``{"choices": "options"}``)."""
    return Reward(domain, column=column, weight=weight, partial_credit=partial_credit, **options)


_MATH, _SCIENCE, _CODE = Reward("math"), Reward("science"), Reward("code", column="tests")


def math_reward(completions, answer, **kwargs) -> list[float | None]:
    """1.0 when the final answer equals ``answer`` (``verifiers.math``), 0.0 when not, None when
    it cannot be decided."""
    return _MATH(completions, answer=answer, **kwargs)


def science_reward(completions, answer, choices=None, **kwargs) -> list[float | None]:
    """A choice letter (or index into ``choices``) or a number as ``answer`` (``verifiers.science``)."""
    return _SCIENCE(completions, answer=answer, choices=choices, **kwargs)


def code_reward(completions, tests, **kwargs) -> list[float | None]:
    """1.0 when the last fenced program passes every test in the sandbox (AC), 0.0 for WA, TLE,
    MLE, OLE, RE, CE or no program, None for a sandbox error or a weak pass (``AC_weak``)."""
    return _CODE(completions, tests=tests, **kwargs)


_MARKERS = (THINK_OPEN, THINK_CLOSE, THOUGHT_OPEN, THOUGHT_CLOSE)


def think_format_reward(completions, **kwargs) -> list[float]:
    """1.0 for one closed, non-empty reasoning block followed by a non-empty answer, else 0.0.

    The opening ``<think>`` may be missing (R1-style chat templates put it in the prompt), and the
    ``<|begin_of_thought|>`` style counts too: the block is read by ``split_reasoning``, the
    same definition the format filters and verifiers use."""
    out = []
    for completion in completions:
        text = completion_text(completion)
        split = split_reasoning(text) if isinstance(text, str) else None
        ok = (split is not None and split.complete and split.reasoning is not None
              and bool(split.reasoning.strip()) and bool(split.final.strip())
              and not any(m in split.reasoning or m in split.final for m in _MARKERS))
        out.append(1.0 if ok else 0.0)
    return out


# -- verl --------------------------------------------------------------------------------------

_VERL: dict[str, Reward] = {}


def _verl_kind(data_source, ground_truth, extra_info) -> str:
    """``extra_info["domain"]``, else a ``data_source`` naming a kind, else from the gold's shape:
    tests -> code, a lone letter -> a choice, anything else -> a math answer."""
    info = extra_info if isinstance(extra_info, dict) else {}
    for name in (info.get("domain"), data_source):
        if isinstance(name, str) and name in VERIFIERS:
            return name
    from verifiers.code import parse_tests

    try:
        parse_tests(ground_truth)
        return "code"
    except (ValueError, TypeError, RecursionError):
        pass
    gold = ground_truth.strip().strip("()") if isinstance(ground_truth, str) else ""
    return "science" if len(gold) == 1 and gold.isalpha() and gold.isupper() else "math"


def compute_score(data_source=None, solution_str=None, ground_truth=None, extra_info=None, *,
                  data_sources=None, solution_strs=None, ground_truths=None, extra_infos=None, **kwargs):
    """verl's custom reward function (``custom_reward_function.path`` = this file,
    ``name=compute_score``). Per item (naive reward manager): returns ``{"score", "judged",
    "reason"}``. Batched (``reward_model.reward_manager=batch``: the plural keywords): a list of
    those, verified in one parallel call.

    verl has no way to skip an item, so one that cannot be judged scores 0.0 (never 1.0) with
    ``judged=0.0``; verl logs the extra keys, so such items can be counted and masked."""
    if solution_strs is not None:
        n = len(solution_strs)
        sources = list(data_sources) if data_sources is not None else [None] * n
        infos = list(extra_infos) if extra_infos is not None else [None] * n
        return _verl_batch(sources, list(solution_strs), list(ground_truths), infos)
    return _verl_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]


def _verl_batch(sources: list, texts: list, golds: list, infos: list) -> list[dict]:
    kinds = [_verl_kind(s, g, i) for s, g, i in zip(sources, golds, infos, strict=True)]
    out: list[dict | None] = [None] * len(texts)
    for kind in sorted(set(kinds)):
        reward = _VERL.setdefault(kind, Reward(kind))
        idx = [i for i, k in enumerate(kinds) if k == kind]
        extras = {"choices": [(infos[i] or {}).get("choices") if isinstance(infos[i], dict) else None for i in idx]}
        verdicts = VERIFIERS[kind]([texts[i] for i in idx], [golds[i] for i in idx], extras, reward.options())
        for i, v in zip(idx, verdicts, strict=True):
            out[i] = {"score": float(bool(v.passed)), "judged": float(v.passed is not None), "reason": v.reason}
    return out  # type: ignore[return-value]
