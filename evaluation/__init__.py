"""Evaluation: benchmark protocols (AIME, MATH-500, GPQA-Diamond, LiveCodeBench) generated with
the teacher backends and graded with the curation verifiers.

Public surface: ``BENCHMARKS`` (the protocol registry), ``local_protocol`` / ``find_protocol`` (a
file of one's own as a benchmark of a domain), ``evaluate``, ``resolve_backend`` (``auto``: vllm
where installed with a GPU, else hf), ``grade``, ``pass_at_1``, ``markdown_table``, ``load_rows`` /
``select_rows`` / ``to_items``. LiveCodeBench as its own runner
judges it (window, private tests, functional tests through the call protocol, its prompts) is
``evaluation.livecodebench``; the paper's Table 1 that ``results.md`` puts beside a run is
``evaluation.paper``.
"""

from evaluation.benchmarks import (
    BENCHMARKS,
    BenchmarkError,
    Item,
    Protocol,
    find_protocol,
    load_rows,
    local_protocol,
    to_items,
)
from evaluation.metrics import pass_at_1
from evaluation.run import evaluate, grade, markdown_table, resolve_backend

__all__ = ["BENCHMARKS", "BenchmarkError", "Item", "Protocol", "find_protocol", "local_protocol", "load_rows",
           "to_items", "pass_at_1", "evaluate", "grade", "markdown_table", "resolve_backend"]
