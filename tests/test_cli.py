import json

from click.testing import CliRunner

from curation.cli import main
from tests.conftest import read_jsonl, write_jsonl


def invoke(args, cwd):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=cwd):
        result = runner.invoke(main, args, catch_exceptions=False)
        out = None
        try:
            out = json.loads(open(args[args.index("--out") + 1] + "/report.json").read()) if "--out" in args \
                else json.loads(open("out/math/report.json").read())
        except (FileNotFoundError, ValueError):
            pass
    return result, out


def test_help():
    runner = CliRunner()
    assert runner.invoke(main, ["--help"]).exit_code == 0
    result = runner.invoke(main, ["math", "--help"])
    assert result.exit_code == 0 and "--keep" in result.output and "--field" in result.output


def test_curate_math_with_no_arguments_curates_the_demo(tmp_path):
    result, report = invoke(["math", "--quiet"], tmp_path)
    assert result.exit_code == 0, result.output
    assert report["conservation"] is True
    assert report["source"]["name"] == "demo/math_demo.jsonl"
    assert report["rows"]["source_rows"] >= 40
    reasons = {r for s in report["funnel"] for r in s["rejected"]}
    for expected in ("wrong_answer", "no_answer", "truncated", "degenerate_repetition", "duplicate_problem",
                     "unparseable_gold", "malformed_problem", "malformed_answer", "contaminated", "near_duplicate"):
        assert expected in reasons


def test_missing_file_exits_2_with_one_line(tmp_path):
    # (offline, the recipe's gated GPQA would be a second line: tests/test_decontaminate.py)
    result = CliRunner().invoke(main, ["math", "--source", str(tmp_path / "nope.jsonl"), "--no-decontaminate"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"curate: error: source: file not found: {tmp_path / 'nope.jsonl'}"]


def test_config_problems_reported_together(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("domain: math\nsource: {path: demo}\nselect: {keep: lots}\noutput: {shard_rows: -1}\n")
    result = CliRunner().invoke(main, ["math", "--recipe", str(recipe), "--field", "broken"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("curate: error:")]
    assert len(lines) == 3, result.output


def test_malformed_rows_are_rejected_with_reasons(tmp_path):
    good = {"problem": "What is 1+1?", "answer": "2", "responses": ["<think>1+1</think> \\boxed{2}"]}
    src = write_jsonl(tmp_path / "src.jsonl", [
        good,
        '{"problem": "broken json",',
        {"answer": "3", "responses": ["</think> \\boxed{3}"]},
        {"problem": "What is 2+3?", "answer": {"value": 5}, "responses": ["</think> \\boxed{5}"]},
        {"problem": "What is 2+4?", "answer": "6", "responses": "not a list but text </think> \\boxed{6}"},
        {"problem": "What is 2+5?", "answer": "7", "responses": [7]},
        [1, 2, 3],
        {"problem": "What is 3+3?", "answer": 6, "responses": ["<think>3+3</think> \\boxed{6}"]},
    ])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["math", "--source", str(src), "--out", str(out), "--quiet",
                                       "--no-decontaminate"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    load = report["funnel"][0]
    assert load["rejected"] == {"malformed_answer": 1, "malformed_json": 2, "malformed_problem": 1,
                                "malformed_responses": 1}
    assert report["rows"]["train"] == 3  # the good row, the text response, and the integer answer
    assert report["conservation"]
    import polars as pl

    rejected = pl.read_parquet(out / "rejected")
    assert rejected.height == report["rows"]["rejected"]
    assert set(rejected["reason"].to_list()) >= {"malformed_json", "malformed_problem"}
    assert all(rejected["raw"].drop_nulls().str.len_chars() > 0)


def test_field_mapping_and_keep(tmp_path, shared_data):
    src = shared_data / "traces/math_cot_100x8.jsonl"
    out = tmp_path / "cot"
    args = ["math", "--source", str(src), "--field", "problem=question", "--field", "answer=gt", "--field",
            "responses=code", "--allow-no-think", "--keep", "first", "--out", str(out), "--quiet",
            "--no-decontaminate"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["rows"]["samples_generated"] == 800
    sel = report["funnel"][-1]
    assert sel["kept"] == len({r for r in read_jsonl(src)}) if False else sel["kept"] <= 100
    assert report["conservation"]
