"""The domain registry: everything the toolkit knows about a domain, in one entry.

A ``Domain`` says how a source row becomes the problem's serialized reference, which verifier
grades a response, the default teacher prompt, the dataset card's tags, how ``evaluate`` finds a
benchmark row's fields, and the training preset of its branch. ``curate <domain>``, ``train
--branch``, ``merge``'s expert options, recipes, presets and evaluation all ask ``DOMAINS``;
nothing else in the tree lists the domains. A new domain is one ``register_domain`` call::

    register_domain(Domain("chemistry", reference=math_reference, verify=verify_math_answers,
                           prompt="{problem}\\nPut the final number in \\\\boxed{}.",
                           training_preset={"epochs": 3, "scheduler": "cosine"}))

``verify`` is an entry of the one verifier table, ``verifiers.VERIFIERS`` (or its name); a new kind of
check is registered there (``verifiers.register_verifier(Verifier(NAME, check))``), and
``register_domain`` enters the domain's name for its verifier, so the domain also serves as an RL
reward. ``gold_of`` reads the verifier's gold (and other columns) back from the serialized reference.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from curation.config import RECIPES_DIR, VerifyConfig
from curation.records import Malformed
from curation.settings import ConfigError
from verifiers import Verdict, Verifier, VerifyOptions, get_verifier, register_verifier

BOXED_PROMPT = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."


# -- references: a source row (our field names) -> the serialized reference ---------------------

def numeric_text(value: int | float) -> str:
    """The canonical text of a numeric gold (competition sets often store answers as numbers):
    integers as written, floats by their shortest exact repr (``2.0`` -> ``2``, ``4.5e+33`` ->
    ``4.5e33``)."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value).replace("e+", "e")


def math_reference(row: dict) -> str:
    """The gold answer as text (a numeric column in its canonical text form)."""
    answer = row.get("answer")
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        raise Malformed("malformed_answer", "missing answer")
    if isinstance(answer, float) and answer != answer or answer in (float("inf"), float("-inf")):
        raise Malformed("malformed_answer", f"answer is {answer!r}")
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        raise Malformed("malformed_answer", f"answer must be text or a number, got {type(answer).__name__}")
    return numeric_text(answer) if isinstance(answer, (int, float)) else answer.strip()


def code_reference(row: dict) -> str:
    """The tests, validated and stored as JSON (they stay in the judge; see verifiers.code)."""
    from verifiers.code import parse_tests

    tests = row.get("tests")
    if tests is None or (isinstance(tests, str) and not tests.strip()):
        raise Malformed("malformed_tests", "missing tests")
    try:
        parse_tests(tests)
    except (ValueError, TypeError) as exc:
        raise Malformed("malformed_tests", str(exc)[:200]) from None
    return tests if isinstance(tests, str) else json.dumps(tests)


def science_reference(row: dict) -> str:
    """``{"answer": letter-or-text, "choices": [...] | null}`` as JSON."""
    from verifiers.science import LETTERS

    answer, choices = row.get("answer"), row.get("choices")
    if choices is not None:
        if isinstance(choices, str):
            try:
                choices = json.loads(choices)
            except json.JSONDecodeError:
                raise Malformed("malformed_choices", "choices must be a list of option texts") from None
        if not isinstance(choices, list) or not choices or len(choices) > len(LETTERS):
            raise Malformed("malformed_choices", f"choices must be a list of 1 to {len(LETTERS)} option texts")
        choices = [str(c) for c in choices]
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(choices):
                raise Malformed("malformed_answer", f"answer index {answer} is out of range")
            answer = LETTERS[answer]
    if answer is None or isinstance(answer, bool) or not isinstance(answer, (str, int, float)) \
            or not str(answer).strip():
        raise Malformed("malformed_answer", "missing answer" if answer is None else "answer must be text")
    return json.dumps({"answer": str(answer).strip(), "choices": choices})


# -- the verifiers: entries of the one verifier table (``verifiers.VERIFIERS``) ----------------------

verify_math_answers = get_verifier("math")
verify_programs = get_verifier("code")
verify_choices = get_verifier("science")


def reference_as_gold(reference: str) -> tuple[str, dict]:
    """The serialized reference is the gold itself (an answer's text, the tests as JSON)."""
    return reference, {}


def choice_gold(reference: str) -> tuple[object, dict]:
    """A science reference: the gold answer, with the options in ``choices``."""
    ref = json.loads(reference)
    return ref["answer"], {"choices": ref.get("choices")}


# -- how the teacher sees a problem -------------------------------------------------------------

def plain_problem(problem: str, reference: str) -> str:
    return problem


def problem_with_options(problem: str, reference: str) -> str:
    """The problem followed by its lettered options (when the reference has choices)."""
    from verifiers.science import LETTERS

    try:
        choices = json.loads(reference).get("choices")
    except (json.JSONDecodeError, AttributeError):
        choices = None
    if not choices:
        return problem
    return problem.rstrip() + "\n\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


# -- the record and the registry -----------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    name: str
    reference: Callable[[dict], str]  # mapped source row -> serialized reference; raises Malformed
    verify: Verifier | str  # an entry of ``verifiers.VERIFIERS`` (or its name)
    prompt: str  # default teacher prompt, with {problem}
    render_problem: Callable[[str, str], str] = plain_problem  # (problem, reference) -> text in the prompt
    card_tags: tuple[str, ...] = ()
    # evaluate: for each of our reference fields, the names a benchmark row may give it under
    benchmark_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # train --branch NAME: a shipped preset (training/presets/<name>.yaml) or a mapping of settings
    training_preset: str | dict = field(default_factory=dict)
    executes_code: bool = False  # --sandbox applies: candidates are run, the isolation is recorded
    recipe: Path | None = None  # the shipped recipe `curate NAME` starts from
    # serialized reference -> (the gold the verifier reads, its other columns such as choices)
    gold_of: Callable[[str], tuple[object, dict]] = reference_as_gold

    def __post_init__(self):
        if not self.name.isidentifier() or not self.name.islower():
            raise ValueError(f"domain name must be a lowercase identifier, got {self.name!r}")
        if "{problem}" not in self.prompt:
            raise ValueError(f"domain {self.name}: prompt must contain {{problem}}")
        if isinstance(self.verify, str):
            object.__setattr__(self, "verify", get_verifier(self.verify))

    def verdicts(self, responses: list[str], references: list[str], cfg: VerifyConfig,
                 workers: int | None) -> list[Verdict]:
        """Responses graded against serialized references by the domain's verifier."""
        golds, extras = [], {c: [] for c in self.verify.extra_columns}
        for reference in references:
            gold, extra = self.gold_of(reference)
            golds.append(gold)
            for column, values in extras.items():
                values.append(extra.get(column))
        limits = None
        if self.verify.runs_programs:
            from verifiers.code import Limits

            limits = Limits(wall_s=cfg.code_wall_s, cpu_s=max(1, int(cfg.code_wall_s)), memory_mb=cfg.code_memory_mb,
                            per_test=cfg.code_limit_per_test)
        return self.verify(responses, golds, extras,
                           VerifyOptions(timeout_s=cfg.timeout_s, workers=workers, sandbox=cfg.sandbox, limits=limits))


DOMAINS: dict[str, Domain] = {}


def register_domain(domain: Domain, *, replace: bool = False) -> Domain:
    """Add a domain to the registry (every command sees it from then on). Its verifier is entered in
    the verifier table under the domain's name too, so a reward made for the domain
    (``verifiers.rewards.make_reward(NAME)``) grades as curation does."""
    if domain.name in DOMAINS and not replace:
        raise ValueError(f"domain {domain.name!r} is already registered")
    register_verifier(domain.verify, name=domain.name, replace=replace)
    DOMAINS[domain.name] = domain
    return domain


def get_domain(name: str) -> Domain:
    """The registered domain; an unknown name is a ``ConfigError`` naming the known ones."""
    try:
        return DOMAINS[name]
    except (KeyError, TypeError):
        raise ConfigError([f"domain: unknown domain {name!r} (known: {', '.join(DOMAINS)})"]) from None


def domain_names() -> str:
    """The known domains as prose: ``a, b or c``."""
    names = list(DOMAINS)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


register_domain(Domain(
    "math", math_reference, verify_math_answers, BOXED_PROMPT, card_tags=("math",),
    benchmark_fields={"answer": ("answer", "gt", "solution")}, training_preset="math",
    recipe=RECIPES_DIR / "math.yaml"))
register_domain(Domain(
    "code", code_reference, verify_programs,
    "{problem}\n\nSolve the problem in Python 3. Give the complete solution in a single ```python code block "
    "at the end of your answer.", card_tags=("code",),
    benchmark_fields={"tests": ("tests", "input_output")}, training_preset="code", executes_code=True,
    recipe=RECIPES_DIR / "code.yaml"))
register_domain(Domain(
    "science", science_reference, verify_choices, BOXED_PROMPT, problem_with_options, card_tags=("science",),
    benchmark_fields={"answer": ("answer",), "choices": ("choices", "options")}, training_preset="science",
    recipe=RECIPES_DIR / "science.yaml", gold_of=choice_gold))
