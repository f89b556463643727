"""`curate science` end to end on the embedded demo set."""

import json

import polars as pl
from click.testing import CliRunner

from curation.cli import main


def test_demo_keeps_right_letters_and_unverifiable_prose(tmp_path):
    out = tmp_path / "science"
    result = CliRunner().invoke(main, ["science", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["conservation"]
    verify = next(s for s in report["funnel"] if s["stage"] == "verify")
    assert verify["rejected"] == {"ambiguous_answer": 4, "no_answer": 8, "wrong_answer": 11}
    verdicts = pl.read_parquet(out / "data")["verdict"].to_list()
    assert len(verdicts) == 35
    assert [v["reason"] for v in verdicts if v["passed"] is None] == ["free_form_gold"]
    assert "unverifiable samples kept" in (out / "README.md").read_text()


def test_malformed_choices_are_rejected(tmp_path):
    src = tmp_path / "s.jsonl"
    rows = [{"problem": "Pick one of these two options.", "choices": "not a list", "answer": "A",
             "responses": ["<think>x</think> A"]},
            {"problem": "Pick one of the three options.", "choices": ["x", "y", "z"], "answer": 7,
             "responses": ["<think>x</think> A"]}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(main, ["science", "--source", str(src), "--out", str(tmp_path / "o"), "--quiet",
                                       "--no-decontaminate"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o/report.json").read_text())
    assert report["funnel"][0]["rejected"] == {"malformed_choices": 1, "malformed_answer": 1}
