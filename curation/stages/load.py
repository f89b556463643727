"""Load stage: raw source rows -> Problem rows, or rejected rows with a ``malformed_*`` reason.

How a row's answer, tests or choices become the problem's reference is the domain's business
(``curation.domains``); this stage maps the fields and keeps the replay extras.
"""

from __future__ import annotations

import json

import polars as pl

from curation.domains import get_domain
from curation.records import Malformed, Problem, problem_id
from curation.sources.rows import BadRow
from curation.stages.contract import StageResult, rejected_frame

PROBLEM_SCHEMA = {
    "problem_id": pl.String, "domain": pl.String, "source": pl.String, "problem": pl.String,
    "reference": pl.String, "metadata": pl.String, "row_index": pl.Int64,
    "responses": pl.List(pl.String), "finish_reasons": pl.List(pl.String),
}
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
    reference = get_domain(domain).reference(mapped)
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


def load_stage(rows: list, first_index: int, mapping: dict[str, str], domain: str, source_name: str) -> StageResult:
    """Load stage over one part's raw rows: kept problems, rejected ``malformed_*`` rows."""
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
    problems = pl.DataFrame(kept, schema=PROBLEM_SCHEMA, orient="row") if kept else pl.DataFrame(schema=PROBLEM_SCHEMA)
    return StageResult("load", problems, rejected_frame(rejected), len(rows))
