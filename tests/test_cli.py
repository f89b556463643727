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


def test_inspect_prints_rows_to_read(tmp_path):
    out = tmp_path / "m"
    assert CliRunner().invoke(main, ["math", "--out", str(out), "--quiet"]).exit_code == 0
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    kept = runner.invoke(main, ["inspect", str(out)])
    assert kept.exit_code == 0, kept.output
    blocks = kept.stdout.split("\n\n")
    assert [b.split("  (")[0] for b in blocks[:5]] == [f"[{i}/5] kept" for i in range(1, 6)]
    assert all("\n  problem:\n    " in b and "\n  response:\n" in b and "\n  verdict: passed, correct" in b
               for b in blocks[:5])
    assert blocks[-1].strip().endswith("kept row(s) shown") and blocks[-1].startswith("5 of ")

    wrong = runner.invoke(main, ["inspect", str(out), "--rejected", "--reason", "wrong_answer", "-n", "2",
                                 "--chars", "60"])
    blocks = wrong.stdout.split("\n\n")
    assert [b.split("  (")[0] for b in blocks[:2]] == ["[1/2] rejected at verify: wrong_answer",
                                                        "[2/2] rejected at verify: wrong_answer"]
    assert all("the last 60 of" in b and "\\boxed" in b.split("response")[1] and "verdict: failed, wrong_answer"
               in b for b in blocks[:2])  # the end of the response, where the answer is

    stage = runner.invoke(main, ["inspect", str(out), "--stage", "exact_dedup", "-n", "1"])  # implies --rejected
    assert stage.stdout.startswith("[1/1] rejected at exact_dedup: duplicate_problem")
    assert "rejected before generation" in stage.stdout

    none = runner.invoke(main, ["inspect", str(out), "--rejected", "--reason", "nope"])
    assert none.exit_code == 2
    assert none.stderr.startswith(f"curate: error: {out}: no rejected row with reason nope (rejected rows by "
                                  "stage/reason: verify/wrong_answer ")
