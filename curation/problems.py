"""Load stage: raw source rows -> Problem rows, or rejected rows with a ``malformed_*`` reason."""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from curation.records import Problem, problem_id
from curation.sources import BadRow

PROBLEM_SCHEMA = {
    "problem_id": pl.String, "domain": pl.String, "source": pl.String, "problem": pl.String,
    "reference": pl.String, "metadata": pl.String, "row_index": pl.Int64,
    "responses": pl.List(pl.String), "finish_reasons": pl.List(pl.String),
}
REJECTED_LOAD_SCHEMA = {"row_index": pl.Int64, "raw": pl.String, "stage": pl.String, "reason": pl.String,
                        "detail": pl.String}


class Malformed(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def math_reference(row: dict) -> str:
    answer = row.get("answer")
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        raise Malformed("malformed_answer", "missing answer")
    if isinstance(answer, bool) or not isinstance(answer, (str, int)):
        raise Malformed("malformed_answer", f"answer must be text, got {type(answer).__name__}")
    return str(answer).strip()


def code_reference(row: dict) -> str:
    """The tests, validated and stored as JSON (they stay in the judge; see verifiers.code)."""
    from verifiers.code.test_formats import parse_tests

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
    answer, choices = row.get("answer"), row.get("choices")
    if choices is not None:
        if isinstance(choices, str):
            try:
                choices = json.loads(choices)
            except json.JSONDecodeError:
                raise Malformed("malformed_choices", "choices must be a list of option texts") from None
        if not isinstance(choices, list) or not choices or len(choices) > 16:
            raise Malformed("malformed_choices", "choices must be a list of 1 to 16 option texts")
        choices = [str(c) for c in choices]
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(choices):
                raise Malformed("malformed_answer", f"answer index {answer} is out of range")
            answer = "ABCDEFGHIJKLMNOP"[answer]
    if answer is None or isinstance(answer, bool) or not isinstance(answer, (str, int, float)) \
            or not str(answer).strip():
        raise Malformed("malformed_answer", "missing answer" if answer is None else "answer must be text")
    return json.dumps({"answer": str(answer).strip(), "choices": choices})


# How each domain turns a row into its serialized reference. Later domains add theirs here.
REFERENCE_BUILDERS: dict[str, Callable[[dict], str]] = {"math": math_reference, "code": code_reference,
                                                       "science": science_reference}


def _string_list(value, name: str) -> list[str | None] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise Malformed(f"malformed_{name}", f"{name} must be a list of strings, got {type(value).__name__}")
    out = []
    for item in value:
        if item is not None and not isinstance(item, str):
            raise Malformed(f"malformed_{name}", f"{name} must be a list of strings, found {type(item).__name__}")
        out.append(item)
    return out


def to_problem(row: dict, mapping: dict[str, str], domain: str, source_name: str) -> tuple[Problem, dict]:
    """Map one raw row; returns the Problem and its replay extras (responses, finish reasons)."""
    def get(ours: str):
        return row.get(mapping.get(ours, ours))

    text = get("problem")
    if not isinstance(text, str) or not text.strip():
        what = "missing" if text is None else ("empty" if isinstance(text, str) else type(text).__name__)
        raise Malformed("malformed_problem", f"problem is {what}")
    mapped = {ours: get(ours) for ours in ("answer", "tests", "choices")}
    reference = REFERENCE_BUILDERS[domain](mapped)
    responses = _string_list(get("responses"), "responses")
    reasoning, final = get("reasoning"), get("final")
    if responses is None and isinstance(reasoning, str) and isinstance(final, str):
        # Sources that store the trace in two fields (OpenThoughts): rebuild the R1 response.
        responses = [f"<think>\n{reasoning.strip()}\n</think>\n\n{final.strip()}"]
    finish = _string_list(get("finish_reasons"), "finish_reasons")
    if responses is not None and finish is not None and len(finish) != len(responses):
        raise Malformed("malformed_finish_reasons",
                        f"{len(finish)} finish reasons for {len(responses)} responses")
    sub_source = get("source")
    metadata = {}
    if get("id") is not None:
        metadata["source_id"] = str(get("id"))
    problem = Problem(problem_id(domain, text), domain,
                      str(sub_source) if isinstance(sub_source, (str, int)) and sub_source != "" else source_name,
                      text, reference, metadata)
    return problem, {"responses": responses, "finish_reasons": finish}


def load_part(rows: list, first_index: int, mapping: dict[str, str], domain: str,
              source_name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Load stage over one part: ``(problems, rejected)``."""
    kept, rejected = [], []
    for offset, row in enumerate(rows):
        index = first_index + offset
        if isinstance(row, BadRow):
            rejected.append({"row_index": index, "raw": row.raw, "stage": "load", "reason": "malformed_json",
                             "detail": f"{row.where}: {row.error}"})
            continue
        try:
            problem, extras = to_problem(row, mapping, domain, source_name)
        except Malformed as exc:
            rejected.append({"row_index": index, "raw": json.dumps(row, default=str)[:100_000], "stage": "load",
                             "reason": exc.reason, "detail": exc.detail})
            continue
        kept.append({**problem.to_row(), "row_index": index, **extras})
    return (pl.DataFrame(kept, schema=PROBLEM_SCHEMA, orient="row") if kept else pl.DataFrame(schema=PROBLEM_SCHEMA),
            pl.DataFrame(rejected, schema=REJECTED_LOAD_SCHEMA) if rejected
            else pl.DataFrame(schema=REJECTED_LOAD_SCHEMA))
