"""`curate code [--sandbox]` end to end on the embedded demo set and on OpenThoughts-shaped rows."""

import json

import polars as pl
import pytest
from click.testing import CliRunner

from curation.cli import main
from tests.conftest import sandbox_unavailable

needs_bwrap = pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))


def _run(tmp_path, *args):
    out = tmp_path / "code"
    result = CliRunner().invoke(main, ["code", *args, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "report.json").read_text())


@needs_bwrap
def test_demo_with_the_sandbox_keeps_exactly_the_correct_programs(tmp_path):
    out, report = _run(tmp_path, "--sandbox")
    assert report["conservation"]
    verify = next(s for s in report["funnel"] if s["stage"] == "verify")
    assert verify["rejected"] == {"WA": 9, "TLE": 5, "RE": 4, "no_code": 1}
    train = pl.read_parquet(out / "data")
    assert train.height == verify["kept"] == 34
    assert all(v["passed"] is True and v["reason"] == "AC" for v in train["verdict"].to_list())
    responses = [m[1]["content"] for m in train["messages"].to_list()]
    assert not any("Always" in r or "sleep(60)" in r or "1 // 0" in r for r in responses)
    assert report["isolation"]["unprivileged_uid"] is True
    assert "unprivileged uid" in (out / "README.md").read_text()


def test_demo_without_the_sandbox_only_checks_statically(tmp_path):
    out, report = _run(tmp_path)
    verify = next(s for s in report["funnel"] if s["stage"] == "verify")
    assert verify["rejected"] == {"no_code": 1}
    train = pl.read_parquet(out / "data")
    assert {v["reason"] for v in train["verdict"].to_list()} == {"not_executed"}
    assert all(v["passed"] is None for v in train["verdict"].to_list())
    assert report["isolation"] is None


@needs_bwrap
def test_openthoughts_shaped_rows(tmp_path):
    rows = [
        {"problem": "Print the sum of two integers read from one line.", "domain": "code", "source": "demo",
         "deepseek_reasoning": "Read, add, print.",
         "deepseek_solution": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
         "test_cases": json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]})},
        {"problem": "Print the product of two integers read from one line.", "domain": "code", "source": "demo",
         "deepseek_reasoning": "Multiply.", "deepseek_solution": "```python\nprint(0)\n```",
         "test_cases": json.dumps({"inputs": ["2 3\n"], "outputs": ["6\n"]})},
        {"problem": "What is 2 + 2?", "domain": "math", "deepseek_reasoning": "4", "deepseek_solution": "4"},
    ]
    src = tmp_path / "ot.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["--source", str(src), "--where", "domain=code", "--field", "reasoning=deepseek_reasoning",
            "--field", "final=deepseek_solution", "--field", "tests=test_cases", "--sandbox", "--no-decontaminate"]
    out, report = _run(tmp_path, *args)
    assert report["source"]["rows_skipped_by_where"] == 1
    assert report["rows"]["source_rows"] == 2 and report["rows"]["train"] == 1
    content = pl.read_parquet(out / "data")["messages"].to_list()[0][1]["content"]
    assert content.startswith("<think>\nRead, add, print.\n</think>")
