"""Benchmark decontamination on real benchmark files."""

import json

from click.testing import CliRunner

from curation import find_contaminated
from curation.cli import main
from tests.conftest import read_jsonl


def _jsonl(path, key):
    return [row[key] for row in read_jsonl(path)]


def test_api_basics():
    bench = {"b": ["Find the sum of all positive integers n such that n squared plus one divides n cubed.",
                   "Simplify $\\sqrt{242}$."]}
    texts = ["Find the sum of all positive integers n such that n squared plus one divides n cubed.",
             "  simplify $\\sqrt{242}$ .",
             "What is the sum of all of the multiples of 7 between 100 and 200?",
             "Simplify $\\sqrt{242}$ and then add one."]
    assert find_contaminated(texts, bench) == [("b", 0), ("b", 1), None, None]


def test_math_test_contains_all_of_math500(shared_data, capsys):
    m500 = _jsonl(shared_data / "math/math500.jsonl", "problem")
    test = _jsonl(shared_data / "math/MATH_test.jsonl", "problem")
    found = find_contaminated(test, {"math500": m500})
    items = {f[1] for f in found if f}
    with capsys.disabled():
        print(f"\n[decontam] MATH_test: {sum(f is not None for f in found)} of {len(test)} flagged, covering "
              f"{len(items)} of the 500 MATH-500 items")
    assert items == set(range(500))


def test_math_train_is_mostly_clean(shared_data, capsys):
    m500 = _jsonl(shared_data / "math/math500.jsonl", "problem")
    train = [r["problem"] for r in json.loads((shared_data / "math/MATH_train.json").read_text())]
    found = find_contaminated(train, {"math500": m500})
    flagged = [(i, f) for i, f in enumerate(found) if f]
    with capsys.disabled():
        print(f"\n[decontam] MATH_train: {len(flagged)} of {len(train)} flagged against MATH-500; first five:")
        for i, (_, j) in flagged[:5]:
            print(f"   {train[i][:90]!r}\n   ~ {m500[j][:90]!r}")
    assert len(flagged) <= 0.01 * len(train)


def test_rephrased_items_are_the_known_hard_case(shared_data, capsys):
    rows = read_jsonl(shared_data / "dedup/rephrased_benchmark_pairs.jsonl")
    lines = []
    for kind in sorted({r["kind"] for r in rows}):
        sub = [r for r in rows if r["kind"] == kind]
        bench = {"b": [r["original"] for r in sub]}
        ngram = find_contaminated([r["rephrased"] for r in sub], bench)
        fuzzy = find_contaminated([r["rephrased"] for r in sub], bench, fuzzy_threshold=0.5)
        lines.append(f"{kind}: n-gram {sum(f is not None for f in ngram)}/{len(sub)}, "
                     f"fuzzy {sum(f is not None for f in fuzzy)}/{len(sub)}")
        if kind == "english_rephrase":
            assert sum(f is not None for f in fuzzy) > sum(f is not None for f in ngram)
    with capsys.disabled():
        print("\n[decontam, rephrased] " + "; ".join(lines))


def test_stage_in_the_funnel_names_the_item(tmp_path, shared_data):
    src = tmp_path / "src.jsonl"
    m500 = read_jsonl(shared_data / "math/math500.jsonl")
    rows = [{"problem": r["problem"], "answer": r["answer"],
             "responses": [f"<think>x</think> \\boxed{{{r['answer']}}}"]} for r in m500[:3]]
    rows.append({"problem": "A brand new problem about 17 apples and 4 baskets, none of which is empty.",
                 "answer": "5", "responses": ["<think>x</think> \\boxed{5}"]})
    src.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["math", "--source", str(src), "--recipe", "curation/recipes/math.yaml",
                                       "--no-dedup", "--out", str(out), "--quiet", "--benchmark",
                                       f"math500={shared_data / 'math/math500.jsonl'}", "--benchmark",
                                       f"aime24={shared_data / 'math/aime24.jsonl'}#prompt", "--benchmark",
                                       f"aime25={shared_data / 'math/aime25.jsonl'}#prompt", "--benchmark",
                                       f"gpqa_diamond={shared_data / 'math/amc23.jsonl'}", "--ngram", "8"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    stage = next(s for s in report["funnel"] if s["stage"] == "decontaminate")
    assert stage["rejected"] == {"contaminated": 3} and stage["kept"] == 1
    assert all(m["match"].startswith("math500#") for m in report["decontamination"]["matches"])
    card = (out / "README.md").read_text()
    assert "math500" in card and "8-grams" in card


def test_missing_benchmark_is_a_clear_error(tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps({"problem": "p q r", "answer": "1", "responses": ["<think>a</think> \\boxed{1}"]}))
    result = CliRunner().invoke(main, ["math", "--source", str(src), "--out", str(tmp_path / "o"), "--quiet",
                                       "--benchmark", f"mine={tmp_path / 'nope.jsonl'}"])
    assert result.exit_code == 2
    assert "benchmark mine: file not found" in result.output


def _curate_math_recipe(tmp_path, *args, env=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps({"problem": "A brand new problem about 17 apples and 4 baskets.", "answer": "5",
                               "responses": ["<think>a</think> \\boxed{5}"]}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(root), **(env or {})}
    return subprocess.run([sys.executable, "-m", "curation.cli", "math", "--recipe", "curation/recipes/math.yaml",
                           "--source", str(src), "--out", str(tmp_path / "o"), "--quiet", *args],
                          capture_output=True, text=True, cwd=root, env=env)


def test_a_gated_benchmark_offline_is_one_line_before_anything_runs(tmp_path):
    r = _curate_math_recipe(tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "curate: error: benchmark gpqa_diamond: Idavidrein/gpqa is gated on the Hub and this machine is offline "
        "(HF_HUB_OFFLINE); skip it with --no-benchmark gpqa_diamond, or give a local copy with --benchmark "
        "gpqa_diamond=FILE"]
    assert not (tmp_path / ".work").exists() and not (tmp_path / "o").exists()  # nothing started


def test_a_gated_benchmark_without_a_token_is_one_line(tmp_path):
    import os

    env = {"HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": ""}
    saved = {k: os.environ.pop(k) for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") if k in os.environ}
    try:
        r = _curate_math_recipe(tmp_path, env={k: v for k, v in env.items() if v})
    finally:
        os.environ.update(saved)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "curate: error: benchmark gpqa_diamond: Idavidrein/gpqa is gated on the Hub and no Hub token is set "
        "(HF_TOKEN or `hf auth login`, after accepting its terms on the Hub); skip it with --no-benchmark "
        "gpqa_diamond, or give a local copy with --benchmark gpqa_diamond=FILE"]


def test_no_benchmark_leaves_out_recipe_benchmarks_and_says_so(tmp_path, shared_data):
    r = _curate_math_recipe(tmp_path, "--no-benchmark", "gpqa_diamond,aime25", "--no-benchmark", "aime24",
                            "--benchmark", f"math500={shared_data / 'math/math500.jsonl'}",
                            env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "o/report.json").read_text())
    statuses = {name: b["status"] for name, b in report["decontamination"]["benchmarks"].items()}
    assert statuses == {"aime24": "skipped by --no-benchmark", "aime25": "skipped by --no-benchmark",
                        "gpqa_diamond": "skipped by --no-benchmark", "math500": "checked"}
    assert "gpqa_diamond (`Idavidrein/gpqa`, NOT CHECKED (skipped by --no-benchmark))" in (
        tmp_path / "o/README.md").read_text()
    r = _curate_math_recipe(tmp_path, "--no-benchmark", "gpqa", env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and r.stderr.splitlines()[0] == (  # a misspelt name does not skip anything
        "curate: error: decontaminate.skip: --no-benchmark gpqa: no such benchmark in this run (its benchmarks: "
        "aime24, aime25, gpqa_diamond, math500)")
    assert "benchmark gpqa_diamond: Idavidrein/gpqa is gated" in r.stderr.splitlines()[1]


def test_an_unreachable_hub_benchmark_says_how_to_skip_it(tmp_path):
    r = _curate_math_recipe(tmp_path, "--no-benchmark", "gpqa_diamond,aime25,math500", env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert line.startswith("curate: error: benchmark aime24: could not load Hub dataset 'HuggingFaceH4/aime_2024'")
    assert line.endswith("; skip it with --no-benchmark aime24, or give a local copy with --benchmark aime24=FILE")
