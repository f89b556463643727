"""Evaluation: benchmark protocols (AIME, MATH-500, GPQA-Diamond, LiveCodeBench) generated with
the teacher backends and graded with the curation verifiers.

Public surface: ``BENCHMARKS`` (the protocol registry), ``evaluate``, ``grade``, ``pass_at_1``,
``markdown_table``, ``load_rows`` / ``select_rows`` / ``to_items``. LiveCodeBench as its own runner
judges it (window, private tests, functional tests through the call protocol, its prompts) is
``evaluation.livecodebench``; the paper's Table 1 that ``results.md`` puts beside a run is
``evaluation.paper``.
"""

from evaluation.benchmarks import BENCHMARKS, BenchmarkError, Item, Protocol, load_rows, to_items
from evaluation.metrics import pass_at_1
from evaluation.run import evaluate, grade, markdown_table

__all__ = ["BENCHMARKS", "BenchmarkError", "Item", "Protocol", "load_rows", "to_items", "pass_at_1", "evaluate",
           "grade", "markdown_table"]
