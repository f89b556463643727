"""Benchmark protocols: how each benchmark's rows map to a prompt and a gold reference, which
verifier grades it, and how many samples pass@1 averages over. Where each benchmark lives
(Hub id, subset, split) is ``curation.KNOWN_BENCHMARKS``, the list decontamination uses too.

The defaults follow the paper: temperature 0.6, top_p 0.95, up to 32768 new tokens; 16 samples
for AIME, 4 for GPQA-Diamond and LiveCodeBench (1 for MATH-500).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from curation import ConfigError, Malformed, benchmark_rows, get_domain


def gpqa_options(proto: Protocol, row: dict, f: dict, mapped: dict, rid: str) -> dict:
    """GPQA stores the correct answer and three wrong ones: shuffle them into lettered options,
    in a fixed order per question."""
    from verifiers.science import LETTERS

    if mapped.get("choices") is not None:
        return mapped
    correct = row.get(f["correct"]) if "correct" in f else None
    wrong = [row.get(name) for name in f.get("incorrect", "").split("|") if row.get(name)]
    if correct is None or not wrong:
        raise Malformed("malformed_choices", "has neither choices+answer nor correct/incorrect answers")
    options = [str(correct).strip(), *(str(w).strip() for w in wrong)]
    random.Random(f"{proto.name}:{rid}").shuffle(options)
    return {"answer": LETTERS[options.index(str(correct).strip())], "choices": options}


def livecodebench_tests(proto: Protocol, row: dict, f: dict, mapped: dict, rid: str) -> dict:
    """LiveCodeBench's ``[{input, output, testtype}]`` -> stdin/stdout tests; other formats as given."""
    tests = mapped.get("tests")
    if tests is None:
        return mapped
    data = json.loads(tests) if isinstance(tests, str) else tests
    if isinstance(data, list) and data and isinstance(data[0], dict) and "input" in data[0]:
        return {**mapped, "tests": json.dumps({"inputs": [t["input"] for t in data],
                                               "outputs": [t["output"] for t in data]})}
    return {**mapped, "tests": json.dumps(data)}


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    domain: str  # the registry entry (curation.DOMAINS) whose reference builder and verifier grade it
    samples: int
    fields: dict = field(default_factory=dict)  # ours -> theirs: problem, answer, choices / correct, tests
    # benchmark-specific shaping of the row's fields before the domain builds the reference
    prepare: Callable[[Protocol, dict, dict, dict, str], dict] | None = None


BENCHMARKS = {
    "aime24": Protocol("aime24", "AIME 2024", "math", 16),
    "aime25": Protocol("aime25", "AIME 2025", "math", 16),
    "math500": Protocol("math500", "MATH-500", "math", 1),
    "gpqa_diamond": Protocol("gpqa_diamond", "GPQA-Diamond", "science", 4,
                             {"problem": "Question", "correct": "Correct Answer",
                              "incorrect": "Incorrect Answer 1|Incorrect Answer 2|Incorrect Answer 3"}, gpqa_options),
    "livecodebench": Protocol("livecodebench", "LiveCodeBench", "code", 4,
                              {"problem": "question_content", "tests": "public_test_cases"}, livecodebench_tests),
}


@dataclass
class Item:
    id: str
    problem: str
    reference: str  # serialized the way curation.verify_responses reads it for the domain


class BenchmarkError(ValueError):
    pass


def load_rows(proto: Protocol, path: str | None) -> list[dict]:
    """The protocol's rows: a local file when given, else its Hub dataset."""
    try:
        return benchmark_rows(proto.name, path or "default", proto.domain)
    except ConfigError as exc:
        if path is None:
            raise BenchmarkError(f"{exc.problems[0]}; give a local copy with --benchmark-file "
                                 f"{proto.name}=PATH") from None
        raise BenchmarkError(exc.problems[0]) from None


def _get(row: dict, fields: dict, ours: str, default_names: tuple[str, ...]):
    names = [fields[ours]] if ours in fields else list(default_names)
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    return None


# What to tell the user when a row lacks the field a reference is built from.
_MISSING = {"malformed_answer": "has no answer (map it with --field answer=NAME)",
            "malformed_tests": "has no tests (map them with --field tests=NAME)"}


def to_items(proto: Protocol, rows: list[dict], fields: dict | None = None, limit: int | None = None) -> list[Item]:
    """Rows -> items; a row missing what the protocol needs is an error naming the row. The
    reference is built by the protocol's domain, exactly as curation builds it."""
    f = {**proto.fields, **(fields or {})}
    domain = get_domain(proto.domain)
    items = []
    for i, row in enumerate(rows[:limit] if limit else rows):
        problem = _get(row, f, "problem", ("problem", "prompt", "question", "Question"))
        if not isinstance(problem, str) or not problem.strip():
            raise BenchmarkError(f"{proto.name}: row {i} has no problem text (map it with --field problem=NAME)")
        rid = str(_get(row, f, "id", ("id", "unique_id", "ID", "question_id")) or i)
        mapped = {ours: _get(row, f, ours, names) for ours, names in domain.benchmark_fields.items()}
        try:
            if proto.prepare is not None:
                mapped = proto.prepare(proto, row, f, mapped, rid)
            reference = domain.reference(mapped)
        except Malformed as exc:
            missing = all(v is None for v in mapped.values())
            why = _MISSING.get(exc.reason, exc.detail) if missing else exc.detail
            raise BenchmarkError(f"{proto.name}: row {i} {why}") from None
        items.append(Item(rid, problem, reference))
    return items
