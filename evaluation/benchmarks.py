"""Benchmark protocols: how each benchmark's rows map to a prompt and a gold reference, which
verifier grades it, and how many samples pass@1 averages over. Where each benchmark lives
(Hub id, subset, split) is ``curation.KNOWN_BENCHMARKS``, the list decontamination uses too.

The defaults follow the paper: temperature 0.6, top_p 0.95, up to 32768 new tokens; 16 samples
for AIME, 4 for GPQA-Diamond and LiveCodeBench (1 for MATH-500).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from curation import ConfigError, benchmark_rows


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    domain: str  # which verifier grades it: math, science, code
    samples: int
    fields: dict = field(default_factory=dict)  # ours -> theirs: problem, answer, choices / correct, tests


BENCHMARKS = {
    "aime24": Protocol("aime24", "AIME 2024", "math", 16),
    "aime25": Protocol("aime25", "AIME 2025", "math", 16),
    "math500": Protocol("math500", "MATH-500", "math", 1),
    "gpqa_diamond": Protocol("gpqa_diamond", "GPQA-Diamond", "science", 4,
                             {"problem": "Question", "correct": "Correct Answer",
                              "incorrect": "Incorrect Answer 1|Incorrect Answer 2|Incorrect Answer 3"}),
    "livecodebench": Protocol("livecodebench", "LiveCodeBench", "code", 4,
                              {"problem": "question_content", "tests": "public_test_cases"}),
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


def to_items(proto: Protocol, rows: list[dict], fields: dict | None = None, limit: int | None = None) -> list[Item]:
    """Rows -> items; a row missing what the protocol needs is an error naming the row."""
    f = {**proto.fields, **(fields or {})}
    items = []
    for i, row in enumerate(rows[:limit] if limit else rows):
        problem = _get(row, f, "problem", ("problem", "prompt", "question", "Question"))
        if not isinstance(problem, str) or not problem.strip():
            raise BenchmarkError(f"{proto.name}: row {i} has no problem text (map it with --field problem=NAME)")
        rid = str(_get(row, f, "id", ("id", "unique_id", "ID", "question_id")) or i)
        if proto.domain == "math":
            answer = _get(row, f, "answer", ("answer", "gt", "solution"))
            if answer is None:
                raise BenchmarkError(f"{proto.name}: row {i} has no answer (map it with --field answer=NAME)")
            reference = str(answer)
        elif proto.domain == "science":
            reference = _science_reference(proto, row, f, i, rid)
        else:
            tests = _get(row, f, "tests", ("tests", "input_output"))
            if tests is None:
                raise BenchmarkError(f"{proto.name}: row {i} has no tests (map them with --field tests=NAME)")
            reference = _code_tests(tests)
        items.append(Item(rid, problem, reference))
    return items


def _science_reference(proto: Protocol, row: dict, f: dict, i: int, rid: str) -> str:
    choices = _get(row, f, "choices", ("choices", "options"))
    if choices is not None:
        answer = _get(row, f, "answer", ("answer",))
        if isinstance(answer, int) and not isinstance(answer, bool):
            answer = "ABCDEFGHIJKLMNOP"[answer]
        return json.dumps({"answer": str(answer), "choices": list(choices)})
    correct = _get(row, f, "correct", ())
    wrong = [row.get(name) for name in f.get("incorrect", "").split("|") if row.get(name)]
    if correct is None or not wrong:
        raise BenchmarkError(f"{proto.name}: row {i} has neither choices+answer nor correct/incorrect answers")
    options = [str(correct).strip(), *(str(w).strip() for w in wrong)]
    random.Random(f"{proto.name}:{rid}").shuffle(options)  # a fixed, per-question order of the options
    return json.dumps({"answer": "ABCD"[options.index(str(correct).strip())], "choices": options})


def _code_tests(tests) -> str:
    """LiveCodeBench's ``[{input, output, testtype}]`` -> stdin/stdout tests; other formats as given."""
    data = json.loads(tests) if isinstance(tests, str) else tests
    if isinstance(data, list) and data and isinstance(data[0], dict) and "input" in data[0]:
        return json.dumps({"inputs": [t["input"] for t in data], "outputs": [t["output"] for t in data]})
    return json.dumps(data)
