"""Benchmark protocols: how each benchmark's rows map to a prompt and a gold reference, which
verifier grades it, and how many samples pass@1 averages over. Where each benchmark lives
(Hub id, subset, split) is ``curation.KNOWN_BENCHMARKS``, the list decontamination uses too.

The defaults follow the paper: temperature 0.6, top_p 0.95, up to 32768 new tokens; 16 samples
for AIME, 4 for GPQA-Diamond and LiveCodeBench (1 for MATH-500).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import evaluation.livecodebench as lcb
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


def livecodebench_item(proto: Protocol, row: dict, rid: str, options: dict) -> Item:
    """A LiveCodeBench row as lcb_runner judges it: public + private tests, functional ones through
    the call protocol, its own prompt (``evaluation.livecodebench``)."""

    judged = row["_lcb_tests"] if "_lcb_tests" in row else lcb.lcb_tests(row)[0]
    style = options.get("lcb_prompt", "deepseek_r1")
    prompt = lcb.PROMPTS[style](str(row.get("question_content") or ""), str(row.get("starter_code") or ""))
    # per test: each stdin run, and each call of a functional problem's session (``grade``)
    return Item(rid, str(row.get("question_content")), get_domain(proto.domain).reference({"tests": judged}),
                prompt=prompt, wall_s=float(lcb.TIME_LIMIT_S))


def livecodebench_select(proto: Protocol, rows: list[dict], options: dict) -> tuple[list[dict], dict]:
    """The rows inside the release window, their tests decoded; a row that cannot be read is an
    error naming it (a refused pickle included)."""

    try:
        window = lcb.parse_window(options.get("lcb_window") or lcb.PAPER_WINDOW)
    except lcb.LcbError as exc:
        raise BenchmarkError(str(exc)) from None
    kept, dropped = [], 0
    for i, row in enumerate(rows):
        name = row.get("question_id") or row.get("question_title") or i
        try:
            if not window.holds(lcb.contest_date(row)):
                dropped += 1
                continue
            judged, counts = lcb.lcb_tests(row)
        except lcb.LcbError as exc:
            raise BenchmarkError(f"{proto.name}: row {i} ({name}): {exc}") from None
        kept.append({**row, "_lcb": counts, "_lcb_tests": judged})
    return kept, lcb.summarize(kept, dropped, window, options.get("lcb_prompt", "deepseek_r1"))


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    domain: str  # the registry entry (curation.DOMAINS) whose reference builder and verifier grade it
    samples: int
    fields: dict = field(default_factory=dict)  # ours -> theirs: problem, answer, choices / correct, tests
    # benchmark-specific shaping of the row's fields before the domain builds the reference
    prepare: Callable[[Protocol, dict, dict, dict, str], dict] | None = None
    # rows -> (the rows evaluated, what the results say about them), before items are built
    select: Callable[[Protocol, list[dict], dict], tuple[list[dict], dict]] | None = None
    # the whole row -> item, for benchmarks with their own prompt and limits (LiveCodeBench)
    make_item: Callable[[Protocol, dict, str, dict], Item] | None = None


BENCHMARKS = {
    "aime24": Protocol("aime24", "AIME 2024", "math", 16),
    "aime25": Protocol("aime25", "AIME 2025", "math", 16),
    "math500": Protocol("math500", "MATH-500", "math", 1),
    "gpqa_diamond": Protocol("gpqa_diamond", "GPQA-Diamond", "science", 4,
                             {"problem": "Question", "correct": "Correct Answer",
                              "incorrect": "Incorrect Answer 1|Incorrect Answer 2|Incorrect Answer 3"}, gpqa_options),
    "livecodebench": Protocol("livecodebench", "LiveCodeBench", "code", 4, {"problem": "question_content"},
                              select=livecodebench_select, make_item=livecodebench_item),
}


def local_protocol(name: str, domain: str) -> Protocol:
    """A benchmark given only as a file (``evaluate --benchmark-file NAME=PATH --domain NAME=DOMAIN``):
    its rows are read with the domain's benchmark fields and graded by the domain's verifier, one
    sample per problem unless ``--samples`` says otherwise."""
    try:
        get_domain(domain)
    except ConfigError as exc:
        raise BenchmarkError(f"benchmark {name}: {exc.problems[0]}") from None
    return Protocol(name, name, domain, 1)


def find_protocol(name: str, domains: dict[str, str] | None = None) -> Protocol:
    """A registered benchmark, or a local one whose domain ``domains`` gives."""
    if name in BENCHMARKS:
        return BENCHMARKS[name]
    if name in (domains or {}):
        return local_protocol(name, domains[name])
    raise BenchmarkError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)}; a file of your own: "
                         f"--benchmark-file {name}=PATH --domain {name}=DOMAIN)")


@dataclass
class Item:
    id: str
    problem: str
    reference: str  # serialized the way curation.verify_responses reads it for the domain
    prompt: str | None = None  # the benchmark's own user message (else the domain's prompt is used)
    wall_s: float | None = None  # the code judge's wall limit per test for this item (else the default)


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


def select_rows(proto: Protocol, rows: list[dict], options: dict | None = None) -> tuple[list[dict], dict | None]:
    """The rows the protocol evaluates (LiveCodeBench: its release window) and their summary."""
    if proto.select is None:
        return rows, None
    return proto.select(proto, rows, options or {})


def to_items(proto: Protocol, rows: list[dict], fields: dict | None = None, limit: int | None = None,
             options: dict | None = None) -> list[Item]:
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
        if proto.make_item is not None:
            items.append(proto.make_item(proto, row, rid, options or {}))
            continue
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
